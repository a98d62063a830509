"""Two agents on one Docker host do not both claim the whole host: the second
is refused unless each has its own --cpu-units and --memory-mib share and its
own --host-port-range, from which it publishes dynamic ports and outside
which the server places none of its static ones."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import AgentProcess, wait_for_task


def refused(server, tmp_path, name: str, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "portside", "agent", "--server", server.endpoint,
                          "--runtime", "docker", "--data-dir", str(tmp_path / name), *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr


def test_a_second_agent_on_one_docker_host_needs_its_own_share(server, tmp_path, docker_client, test_image):
    ecs = server.client()
    ecs.create_cluster()
    whole = AgentProcess(server, tmp_path / "whole", "--runtime", "docker").start()
    whole.wait_registered()
    message = refused(server, tmp_path, "second")
    assert f"another portside agent (pid {whole.proc.pid}) claims this whole Docker host" in message
    assert "--cpu-units" in message and "--memory-mib" in message
    assert "claims this whole Docker host" in refused(server, tmp_path, "third", "--cpu-units", "512",
                                                      "--memory-mib", "512", "--host-port-range", "41000-41009")
    assert "--host-port-range" in message
    whole.stop(signal.SIGKILL)  # the kernel drops its claim
    ecs.deregister_container_instance(containerInstance=whole.instance_arn, force=True)

    # a share alone on its host needs no range; a second share then needs both to have one
    alone = AgentProcess(server, tmp_path / "alone", "--runtime", "docker", "--cpu-units", "512",
                         "--memory-mib", "256").start()
    alone_arn = alone.wait_registered()
    message = refused(server, tmp_path, "ranged", "--cpu-units", "512", "--memory-mib", "256",
                      "--host-port-range", "41000-41009")
    assert f"pid {alone.proc.pid} has none" in message and "--host-port-range" in message
    alone.stop()
    ecs.deregister_container_instance(containerInstance=alone_arn, force=True)
    ranges = [(41000, 41009), (41010, 41019)]
    shares = [AgentProcess(server, tmp_path / f"share{i}", "--runtime", "docker", "--cpu-units", "512",
                           "--memory-mib", "256", "--host-port-range", f"{low}-{high}").start()
              for i, (low, high) in enumerate(ranges)]
    try:
        arns = [agent.wait_registered() for agent in shares]
        assert "other portside agents share this Docker host" in refused(server, tmp_path, "greedy")
        assert "overlaps the range 41010-41019" in refused(server, tmp_path, "overlap", "--cpu-units", "512",
                                                            "--memory-mib", "256", "--host-port-range", "41015-41030")
        assert "shares this Docker host" in refused(server, tmp_path, "rangeless", "--cpu-units", "512",
                                                    "--memory-mib", "256")
        assert sorted(ecs.list_container_instances()["containerInstanceArns"]) == sorted(arns)
        check_ports(ecs, test_image, arns, ranges)
    finally:
        for agent in shares:
            agent.stop()


def register(ecs, image, family, host_port):
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "web", "image": image, "essential": True, "memory": 16,
        "entryPoint": ["sh", "-c"], "command": ["exec httpd -f -p 80 -h /www"],
        "portMappings": [{"containerPort": 80, "hostPort": host_port}]}])


def check_ports(ecs, image, arns, ranges):
    """Dynamic ports come from the agent's range; a static port goes only to
    the agent whose range holds it, and nowhere when no range does."""
    register(ecs, image, "dynamic", 0)
    for arn, (low, high) in zip(arns, ranges, strict=False):
        task = ecs.start_task(taskDefinition="dynamic", containerInstances=[arn])["tasks"][0]
        running = wait_for_task(ecs, task["taskArn"], "RUNNING", timeout=60)
        [binding] = running["containers"][0]["networkBindings"]
        assert low <= binding["hostPort"] <= high
        ecs.stop_task(task=task["taskArn"])
    register(ecs, image, "static", ranges[1][0] + 5)
    placed = ecs.run_task(taskDefinition="static")["tasks"][0]
    assert placed["containerInstanceArn"] == arns[1]
    ecs.stop_task(task=placed["taskArn"])
    register(ecs, image, "nowhere", 42000)
    out = ecs.run_task(taskDefinition="nowhere")
    assert out["tasks"] == [] and {f["reason"] for f in out["failures"]} == {"RESOURCE:PORTS"}
