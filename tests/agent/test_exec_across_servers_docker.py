"""ECS Exec and `portside logs` through any of several servers on one
PostgreSQL database: an agent started with `--server A,B` keeps its exec
channel open to each, so a session asked for on either reaches its
containers (on real Docker)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_container_output_docker import portside_logs
from test_exec_docker import portside_exec

from conftest import TEST_IMAGE, AgentProcess, remove_containers_of, wait_for_task
from helpers import wait_for
from pg_servers import start_servers, stop_servers
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))

SCRIPT = "echo ready-$((6*7)); trap 'exit 0' TERM; while true; do sleep 0.1; done"


def test_exec_and_output_sessions_through_either_server(tmp_path: Path, test_image, docker_client) -> None:
    servers = start_servers(postgres.fresh_database(), tmp_path, 2)
    agent = None
    try:
        a, b = servers
        ecs = a.client()
        ecs.create_cluster()
        both = SimpleNamespace(endpoint=f"{a.endpoint},{b.endpoint}")  # --server A,B
        agent = AgentProcess(both, tmp_path / "agent", "--runtime", "docker",  # type: ignore[arg-type]
                             "--stop-timeout", "2").start()
        agent.wait_registered()
        ecs.register_task_definition(family="shell", containerDefinitions=[
            {"name": "main", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", SCRIPT]}])
        arn = ecs.run_task(taskDefinition="shell", enableExecuteCommand=True)["tasks"][0]["taskArn"]
        wait_for_task(ecs, arn, "RUNNING", timeout=60)
        (container,) = docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={arn}"})
        hostname = container.attrs["Config"]["Hostname"]
        for server in servers:  # the agent polls A; B must reach it all the same
            out = wait_for(lambda s=server: (o := portside_exec(s, arn, "--", "cat", "/etc/hostname")).returncode == 0
                           and o, timeout=20, what=f"exec through {server.endpoint}")
            assert out.stdout.decode().strip() == hostname
            shown = portside_logs(server, arn)
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.decode().splitlines() == ["ready-42"]
    finally:
        if agent is not None:
            agent.stop(signal.SIGKILL)
            remove_containers_of(docker_client, agent.instance_arn)
        stop_servers(servers)
