"""The awslogs log driver on real Docker: a task's output reaches the stream ECS
names, in order, survives the container's removal, an agent kill -9 and a
server restart, without duplicates; a missing group stops the task with ECS's
reason."""

from __future__ import annotations

import signal
import time

from test_agent_docker import containers_of, register, run

from conftest import wait_for_task
from helpers import wait_for

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


def test_a_task_with_awslogs_and_secrets_survives_removal_agent_kill_and_server_restart(
        server, docker_agent, docker_client):
    """Issue 18's real-Docker case in one task: its secrets are in its environment (the first line
    it prints, reversed, is made of them) and nowhere else; its output arrives in ECS's stream, in
    order, through an agent kill -9, a server restart and the container's removal, once each."""
    ecs, logs = server.client(), server.client("logs")
    sm, ssm = server.client("secretsmanager"), server.client("ssm")
    logs.create_log_group(logGroupName="/ecs/both")
    secret = sm.create_secret(Name="both/db", SecretString='{"password":"pw-e4c1d2"}')
    ssm.put_parameter(Name="/both/token", Value="tok-9a7b3f", Type="SecureString")
    script = ('echo "$PASS$TOKEN" | rev; i=0; while [ $i -lt 150 ]; do echo "n $i"; i=$((i+1)); sleep 0.04; done')
    register(ecs, "both", {"name": "app", "command": ["sh", "-c", script], "logConfiguration": awslogs("/ecs/both"),
                           "secrets": [{"name": "PASS", "valueFrom": f"{secret['ARN']}:password::"},
                                       {"name": "TOKEN", "valueFrom": "/both/token"}]})
    arn = run(ecs, "both")
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    stream = f"web/app/{arn.rsplit('/', 1)[1]}"
    wait_for(lambda: len(stream_messages(logs, "/ecs/both", stream)) >= 20, what="the first lines")
    docker_agent.stop(signal.SIGKILL)
    time.sleep(1.0)
    docker_agent.start()
    wait_for(lambda: len(stream_messages(logs, "/ecs/both", stream)) >= 60, what="shipping to resume")
    server.restart(signal.SIGKILL)
    ecs, logs = server.client(), server.client("logs")
    wait_for_task(ecs, arn, "STOPPED", timeout=90)
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    assert stream_messages(logs, "/ecs/both", stream) == ["pw-e4c1d2tok-9a7b3f"[::-1]] + [f"n {i}" for i in range(150)]
    values = ("pw-e4c1d2", "tok-9a7b3f")
    seen = str(ecs.describe_tasks(tasks=[arn])) + str(ecs.describe_task_definition(taskDefinition="both"))
    seen += "".join(p.read_text(errors="replace") for d in (server.data_dir, docker_agent.data_dir)
                    for p in d.rglob("*") if p.is_file())  # the databases (sealed), logs, the agent's files
    assert not [v for v in values if v in seen]


def test_multiline_options_and_modes_as_dockers_driver(server, docker_agent):
    """awslogs-datetime-format and awslogs-multiline-pattern join a line that does
    not start an event to the one before; `mode` non-blocking with max-buffer-size
    ships the same; both multi-line options at once, or an unknown option, stop the
    container with Docker's wording."""
    ecs, logs = server.client(), server.client("logs")
    logs.create_log_group(logGroupName="/ecs/multi")
    printed = ("printf '2026-01-01 10:00:00 first\\n  at one\\n  at two\\n2026-01-01 10:00:01 second\\n'; "
               "printf 'INFO a\\ncontinued\\nERROR b\\n' >&2; sleep 0.3")
    cases = {
        "dated": ({"awslogs-datetime-format": "%Y-%m-%d %H:%M:%S"},
                  ["2026-01-01 10:00:00 first\n  at one\n  at two",
                   "2026-01-01 10:00:01 second\nINFO a\ncontinued\nERROR b"]),
        "pattern": ({"awslogs-multiline-pattern": "^(INFO|ERROR|2026)"},
                    ["2026-01-01 10:00:00 first\n  at one\n  at two", "2026-01-01 10:00:01 second",
                     "INFO a\ncontinued", "ERROR b"]),
        "nonblocking": ({"mode": "non-blocking", "max-buffer-size": "4m"},
                        ["2026-01-01 10:00:00 first", "  at one", "  at two", "2026-01-01 10:00:01 second",
                         "INFO a", "continued", "ERROR b"]),
    }
    for family, (options, expected) in cases.items():
        # stderr after stdout, a moment later, so the two pipes' order is fixed
        script = printed.replace("; printf 'INFO", "; sleep 0.2; printf 'INFO")
        register(ecs, family, {"name": "app", "command": ["sh", "-c", script],
                               "logConfiguration": awslogs("/ecs/multi", **options)})
        arn = run(ecs, family)
        wait_for_task(ecs, arn, "STOPPED", timeout=60)
        stream = f"web/app/{arn.rsplit('/', 1)[1]}"
        assert wait_for(lambda: stream_messages(logs, "/ecs/multi", stream) == expected, what=family)
    for family, options, reason in (
            ("both", {"awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"},
             "you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same "
             "time"),
            ("unknown", {"awslogs-colour": "blue"}, "unknown log opt 'awslogs-colour' for awslogs log driver")):
        register(ecs, family, {"name": "app", "command": ["sh", "-c", "echo never"],
                               "logConfiguration": awslogs("/ecs/multi", **options)})
        task = wait_for_task(ecs, run(ecs, family), "STOPPED", timeout=60)
        assert reason in task["containers"][0]["reason"], task["containers"][0]
