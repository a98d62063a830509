"""Two agents on one Docker host do not both claim the whole host: the second
is refused unless each has its own --cpu-units and --memory-mib share."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import AgentProcess


def refused(server, tmp_path, name: str, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "portside", "agent", "--server", server.endpoint,
                          "--runtime", "docker", "--data-dir", str(tmp_path / name), *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr


def test_a_second_agent_on_one_docker_host_needs_its_own_share(server, tmp_path, docker_client):
    ecs = server.client()
    ecs.create_cluster()
    whole = AgentProcess(server, tmp_path / "whole", "--runtime", "docker").start()
    whole.wait_registered()
    message = refused(server, tmp_path, "second")
    assert f"another portside agent (pid {whole.proc.pid}) claims this whole Docker host" in message
    assert "--cpu-units" in message and "--memory-mib" in message
    assert "claims this whole Docker host" in refused(server, tmp_path, "third", "--cpu-units", "512",
                                                      "--memory-mib", "512")
    whole.stop(signal.SIGKILL)  # the kernel drops its claim

    shares = [AgentProcess(server, tmp_path / f"share{i}", "--runtime", "docker", "--cpu-units", "512",
                           "--memory-mib", "256").start() for i in range(2)]
    try:
        for agent in shares:
            agent.wait_registered()
        assert "other portside agents share this Docker host" in refused(server, tmp_path, "greedy")
        assert len(ecs.list_container_instances()["containerInstanceArns"]) == 3
    finally:
        for agent in shares:
            agent.stop()
