"""`portside logs TASK [--cluster C] [--container NAME] [--follow]`: what a
task's container printed.

A container with the `awslogs` driver is read from its CloudWatch Logs stream
(GetLogEvents, the stream ECS names); any other is read from its agent, which
has it in Docker's log while the container exists and keeps its last 1 MiB
after the container is removed (agent/output_keeper.py), relayed by the
server (control/container_output.py).  Endpoint, key and region are found the
standard AWS ways, as for `portside exec`.  `--follow` keeps printing new
output until the container stops (awslogs: until the task has stopped and its
stream has nothing more)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from typing import Any

from ..domain import execute_command as frames
from .frame_stream import copy_output

OUTPUT_PATH = "/portside/exec/logs"
OUTPUT_TARGET = "PortsideV1.ContainerOutput"
POLL_S = 1.0


def add_parser(commands: Any) -> None:
    what = ("show what a task's container printed (its awslogs stream, or the output its agent keeps, "
            "also after the container is removed)")
    cmd = commands.add_parser("logs", help=what, description=what[0].upper() + what[1:] + ".")
    cmd.add_argument("--endpoint-url", default=None,
                     help="the Portside server (default: AWS_ENDPOINT_URL_ECS, then AWS_ENDPOINT_URL)")
    cmd.add_argument("--cluster", default=None, help="the task's cluster (default: default)")
    cmd.add_argument("--region", default=None, help="the region to sign for (default: the AWS configuration's)")
    cmd.add_argument("--profile", default=None, help="the AWS profile with the admin key (default: the usual chain)")
    cmd.add_argument("--container", default=None, help="the container (needed when the task has several)")
    cmd.add_argument("--follow", "-f", action="store_true", help="keep printing new output until it ends")
    cmd.add_argument("task")


class _Refused(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(profile_name=args.profile, region_name=args.region or None)
    region = args.region or session.region_name or "us-east-1"
    ecs = session.client("ecs", endpoint_url=args.endpoint_url, region_name=region)
    try:
        task, definition = _task_and_definition(ecs, args.cluster, args.task)
        name = _container_name(task, args.container)
        container: dict[str, Any] = next(
            (c for c in definition.get("containerDefinitions", []) if c["name"] == name), {})
        log_configuration = container.get("logConfiguration") or {}
        if log_configuration.get("logDriver") == "awslogs":
            logs = session.client("logs", endpoint_url=args.endpoint_url, region_name=region)
            return _from_cloudwatch(ecs, logs, task, name, log_configuration.get("options") or {}, args.follow)
        return _from_agent(session, ecs.meta.endpoint_url, region, args, task["taskArn"], name)
    except _Refused as exc:
        print(f"portside logs: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"portside logs: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"portside logs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _task_and_definition(ecs: Any, cluster: str | None, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
    request: dict[str, Any] = {"tasks": [task]}
    if cluster:
        request["cluster"] = cluster
    found = ecs.describe_tasks(**request)
    if not found["tasks"]:
        raise _Refused(f"the task {task} was not found in the cluster {cluster or 'default'}")
    described = found["tasks"][0]
    definition = ecs.describe_task_definition(taskDefinition=described["taskDefinitionArn"])["taskDefinition"]
    return described, definition


def _container_name(task: dict[str, Any], wanted: str | None) -> str:
    names = [c["name"] for c in task.get("containers", [])]
    if wanted is not None:
        if wanted not in names:
            raise _Refused(f"the task has no container {wanted} (it has {', '.join(names)})")
        return wanted
    if len(names) != 1:
        raise _Refused(f"the task has {len(names)} containers ({', '.join(names)}): name one with --container")
    return names[0]


def _from_cloudwatch(ecs: Any, logs: Any, task: dict[str, Any], name: str, options: dict[str, str],
                     follow: bool) -> int:
    """The container's awslogs stream, from the start; with `follow`, polled
    until the task has stopped and a last read finds nothing new."""
    prefix = options.get("awslogs-stream-prefix")
    if not prefix:
        raise _Refused("the container's awslogs stream is named after its container id (no "
                       "awslogs-stream-prefix): read it with `aws logs tail`")
    group, stream = options["awslogs-group"], f"{prefix}/{name}/{task['taskArn'].rsplit('/', 1)[-1]}"
    request: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    out = sys.stdout
    while True:
        try:
            page = logs.get_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            page = {"events": [], "nextForwardToken": request.get("nextToken")}
        for event in page["events"]:
            out.write(event["message"] + "\n")
        out.flush()
        if page.get("nextForwardToken"):
            request["nextToken"] = page["nextForwardToken"]
        if page["events"]:
            continue  # more may wait behind this page
        if not follow:
            return 0
        described = ecs.describe_tasks(cluster=task["clusterArn"], tasks=[task["taskArn"]])["tasks"]
        if not described or described[0]["lastStatus"] == "STOPPED":
            time.sleep(POLL_S)  # what the agent shipped last may land just after the stop
            last = logs.get_log_events(**request)
            for event in last["events"]:
                out.write(event["message"] + "\n")
            out.flush()
            if not last["events"]:
                return 0
            request["nextToken"] = last["nextForwardToken"]
            continue
        time.sleep(POLL_S)


def _from_agent(session: Any, endpoint: str, region: str, args: argparse.Namespace, task_arn: str,
                name: str) -> int:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from websockets.sync.client import connect

    query = {"task": task_arn, "container": name, "follow": "1" if args.follow else "0"}
    if args.cluster:
        query["cluster"] = args.cluster
    path = OUTPUT_PATH + "?" + urllib.parse.urlencode(query)
    credentials = session.get_credentials()
    if credentials is None:
        raise _Refused("no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)")
    request = AWSRequest(method="GET", url=endpoint.rstrip("/") + path, headers={"X-Amz-Target": OUTPUT_TARGET})
    SigV4Auth(credentials, "ecs", region).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    base = endpoint.rstrip("/")
    url = ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base.split("://", 1)[-1]) + path
    with connect(url, additional_headers=headers, max_size=None, open_timeout=10) as stream:
        ended = copy_output(stream)
    if ended is not None:
        kind, payload = ended
        if kind == frames.EXIT:
            return int(json.loads(payload).get("exitCode", 0))
        raise _Refused(payload.decode(errors="replace"))
    raise _Refused("the server closed the stream before the output ended")
