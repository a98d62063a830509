"""`portside logs` on real Docker: a container's output outlives the
container (its agent keeps the last 1 MiB), `--follow` prints a running
container's output until it stops, an awslogs container is read from its
stream, and what cannot be shown is said in one line."""

from __future__ import annotations

import os
import subprocess
import sys

from test_agent_docker import containers_of, register, run
from test_awslogs_docker import awslogs

from conftest import wait_for_task
from helpers import wait_for

KEEP_BYTES = 1 << 20


def portside_logs(server, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID="AKIDPORTSIDETEST",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run([sys.executable, "-m", "portside", "logs", *args], env=env, capture_output=True,
                          timeout=timeout)


def test_a_failed_tasks_output_outlives_its_container(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "fails", {"name": "app", "command": ["sh", "-c",
                                                        'echo "connecting"; echo "FATAL: cannot connect to db" >&2; '
                                                        "exit 3"]})
    arn = run(ecs, "fails")
    assert wait_for_task(ecs, arn, "STOPPED", timeout=60)["containers"][0]["exitCode"] == 3
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    shown = portside_logs(server, arn.rsplit("/", 1)[1])
    assert shown.returncode == 0, shown.stderr
    assert sorted(shown.stdout.decode().splitlines()) == ["FATAL: cannot connect to db", "connecting"]


def test_only_the_last_mebibyte_is_kept_from_a_line_start(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "chatty", {"name": "app", "command": ["sh", "-c", "seq 1 200000"]})  # ~1.3 MB
    arn = run(ecs, "chatty")
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    shown = portside_logs(server, arn, "--container", "app")
    assert shown.returncode == 0, shown.stderr
    assert KEEP_BYTES - 8 <= len(shown.stdout) <= KEEP_BYTES
    numbers = [int(n) for n in shown.stdout.decode().splitlines()]
    assert numbers == list(range(numbers[0], 200001))  # whole lines, the last ones, in order


def test_follow_prints_a_running_containers_output_until_it_stops(server, docker_agent):
    ecs = server.client()
    script = 'i=0; while [ $i -lt 10 ]; do echo "tick $i"; i=$((i+1)); sleep 0.3; done'
    register(ecs, "ticks", {"name": "app", "command": ["sh", "-c", script]})
    arn = run(ecs, "ticks")
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    shown = portside_logs(server, arn, "--follow", timeout=60)  # returns by itself once the container stops
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.decode().splitlines() == [f"tick {i}" for i in range(10)]


def test_an_awslogs_container_is_read_from_its_stream(server, docker_agent, docker_client):
    ecs, logs = server.client(), server.client("logs")
    logs.create_log_group(logGroupName="/ecs/shown")
    register(ecs, "shipped", {"name": "app", "command": ["sh", "-c", "echo one; echo two; sleep 1; echo three"],
                              "logConfiguration": awslogs("/ecs/shown")})
    arn = run(ecs, "shipped")
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    followed = portside_logs(server, arn, "--follow", timeout=60)  # until the task stopped and all is shown
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.decode().splitlines() == ["one", "two", "three"]
    wait_for(lambda: not containers_of(docker_client, arn), what="the container's removal")
    assert portside_logs(server, arn).stdout.decode().splitlines() == ["one", "two", "three"]


def test_what_cannot_be_shown_is_said_in_one_line(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "pair", {"name": "a", "command": ["sh", "-c", "sleep 0.2"]},
             {"name": "b", "command": ["sh", "-c", "sleep 0.2"]})
    arn = run(ecs, "pair")
    several = portside_logs(server, arn)
    assert several.returncode == 1
    assert several.stderr.decode().strip().splitlines() == [
        "portside logs: the task has 2 containers (a, b): name one with --container"]
    missing = portside_logs(server, "0123456789abcdef0123456789abcdef")
    assert missing.returncode == 1 and b"was not found" in missing.stderr and b"Traceback" not in missing.stderr
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
    wait_for(lambda: not containers_of(docker_client, arn), what="the containers' removal")
    quiet = portside_logs(server, arn, "--container", "b")  # it printed nothing: nothing is kept
    assert quiet.returncode == 1 and b"Traceback" not in quiet.stderr, quiet.stderr
