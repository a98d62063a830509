"""`portside up`: the server and a local agent in one process tree."""

import os
import signal
import subprocess
import sys
import time

import boto3
import pytest

from conftest import TEST_IMAGE, free_port, wait_for_task

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker


def test_up_without_docker_says_so_in_one_line(tmp_path):
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    out = subprocess.run([sys.executable, "-m", "portside", "up", "--port", str(free_port()),
                          "--data-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Docker is not reachable" in lines[0] and "--runtime fake" in lines[0]
    assert "Traceback" not in out.stderr


def test_up_runs_a_task_on_local_docker(tmp_path, test_image, docker_client):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "portside", "up", "--port", str(port),
                             "--data-dir", str(tmp_path), "--stop-timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="a", aws_secret_access_key="b")
        deadline = time.time() + 30
        instances = []
        while time.time() < deadline and not instances:
            try:
                instances = ecs.list_container_instances()["containerInstanceArns"]
            except Exception:
                pass
            time.sleep(0.2)
        assert len(instances) == 1
        ecs.register_task_definition(family="hello", containerDefinitions=[
            {"name": "main", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", "exit 0"]}])
        arn = ecs.run_task(taskDefinition="hello")["tasks"][0]["taskArn"]
        assert wait_for_task(ecs, arn, "STOPPED")["containers"][0]["exitCode"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
