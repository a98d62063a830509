"""The awslogs log driver on real Docker: a task's output reaches the stream ECS
names, in order, survives the container's removal, an agent kill -9 and a
server restart, without duplicates; a missing group stops the task with ECS's
reason."""

from __future__ import annotations

import signal
import time

from conftest import wait_for_task
from helpers import wait_for
from test_agent_docker import containers_of, register, run

MISSING_GROUP = (
    "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: "
    "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist."
)


def awslogs(group: str, **extra: str) -> dict:
    return {"logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-region": "us-east-1",
                                                "awslogs-stream-prefix": "web", **extra}}


def stream_messages(logs, group: str, stream: str) -> list[str]:
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kw)
        if page["nextForwardToken"] == token:
            return out
        out += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]


def test_output_arrives_in_order_and_outlives_the_container(server, docker_agent, docker_client):
    ecs, logs = server.client(), server.client("logs")
    logs.create_log_group(logGroupName="/ecs/app")
    script = 'i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done; echo "ERROR boom" >&2; sleep 0.5'
    register(ecs, "talker", {"name": "app", "command": ["sh", "-c", script], "logConfiguration": awslogs("/ecs/app")})
    arn = run(ecs, "talker")
    task = wait_for_task(ecs, arn, "STOPPED", timeout=60)
    assert task["containers"][0]["exitCode"] == 0
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    stream = f"web/app/{arn.rsplit('/', 1)[1]}"
    shipped = stream_messages(logs, "/ecs/app", stream)
    # stdout in order; stderr's line once (Docker stamps each pipe's lines as it reads them, so
    # where it falls among stdout's is Docker's call, as with ECS's awslogs driver)
    assert [m for m in shipped if m != "ERROR boom"] == [f"line {i}" for i in range(300)]
    assert shipped.count("ERROR boom") == 1
    found = logs.filter_log_events(logGroupName="/ecs/app", filterPattern="ERROR")["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [(stream, "ERROR boom")]
    events = logs.get_log_events(logGroupName="/ecs/app", logStreamName=stream, startFromHead=True)["events"]
    assert events[0]["timestamp"] <= events[-1]["timestamp"] <= time.time() * 1000


def test_missing_group_stops_the_task_unless_create_group(server, docker_agent):
    ecs, logs = server.client(), server.client("logs")
    register(ecs, "nogroup", {"name": "app", "command": ["sh", "-c", "echo hi; sleep 30"],
                              "logConfiguration": awslogs("/missing")})
    task = wait_for_task(ecs, run(ecs, "nogroup"), "STOPPED", timeout=60)
    assert task["containers"][0]["reason"] == MISSING_GROUP
    assert task["stopCode"] == "TaskFailedToStart"

    register(ecs, "mkgroup", {"name": "app", "command": ["sh", "-c", "echo made; sleep 0.5"],
                              "logConfiguration": awslogs("/created", **{"awslogs-create-group": "true"})})
    arn = run(ecs, "mkgroup")
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
    stream = f"web/app/{arn.rsplit('/', 1)[1]}"
    assert wait_for(lambda: stream_messages(logs, "/created", stream) == ["made"], what="the shipped line")


def test_agent_kill_and_server_restart_lose_and_repeat_nothing(server, docker_agent, docker_client):
    ecs, logs = server.client(), server.client("logs")
    logs.create_log_group(logGroupName="/ecs/steady")
    script = 'i=0; while [ $i -lt 150 ]; do echo "n $i"; i=$((i+1)); sleep 0.04; done'
    register(ecs, "steady", {"name": "app", "command": ["sh", "-c", script],
                             "logConfiguration": awslogs("/ecs/steady")})
    arn = run(ecs, "steady")
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    stream = f"web/app/{arn.rsplit('/', 1)[1]}"
    wait_for(lambda: len(stream_messages(logs, "/ecs/steady", stream)) >= 20, what="the first lines")
    docker_agent.stop(signal.SIGKILL)  # killed mid-stream: the output waits in Docker's log
    time.sleep(1.0)
    docker_agent.start()
    wait_for(lambda: len(stream_messages(logs, "/ecs/steady", stream)) >= 60, what="shipping to resume")
    server.restart(signal.SIGKILL)  # the server away for a moment: the agent retries
    logs = server.client("logs")
    ecs = server.client()
    wait_for_task(ecs, arn, "STOPPED", timeout=90)
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    assert stream_messages(logs, "/ecs/steady", stream) == [f"n {i}" for i in range(150)]
