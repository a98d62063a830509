"""Issue 18's "done when", as a user does it: `portside up`, AWS_ENDPOINT_URL
set once, and the AWS CLI (v2) for every service on the one port: a secret
and a SecureString parameter made and read back, a task on the local Docker
with the awslogs driver and both as `secrets`, its output followed with
`aws logs tail --follow`, read with get-log-events and filtered with
filter-log-events; missing resources answer AWS's error codes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import TEST_IMAGE, free_port

AWSCLI2 = os.environ.get("PORTSIDE_AWSCLI2") or str(Path(sys.executable).parent.parent / "awscli2" / "aws")


@pytest.fixture
def up(tmp_path: Path, test_image: str, docker_client):
    """`portside up` on a free port with the local Docker; yields the AWS CLI's
    environment (AWS_ENDPOINT_URL and a key, nothing else AWS-specific)."""
    if not os.path.exists(AWSCLI2):
        pytest.fail("AWS CLI v2 missing: run scripts/awscli2-up (scripts/test does)")
    port = free_port()
    log = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "portside", "up", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), "--stop-timeout", "2"], stdout=log, stderr=subprocess.STDOUT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="AKIDUSER",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               HOME=str(tmp_path))
    try:
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run([AWSCLI2, "ecs", "list-container-instances", "--output", "json"], env=env,
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0 and json.loads(out.stdout)["containerInstanceArns"]:
                break
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (out.stderr, (tmp_path / "up.log").read_text())
            time.sleep(0.5)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def aws(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([AWSCLI2, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (args, out.stderr)
    return json.loads(out.stdout) if out.stdout.strip() else {}


def refused(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([AWSCLI2, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    return out.stderr


def test_logs_secrets_and_parameters_through_the_aws_cli_against_portside_up(up, tmp_path):
    env = up
    # Secrets Manager and SSM Parameter Store
    secret = aws(env, "secretsmanager", "create-secret", "--name", "prod/db",
                 "--secret-string", '{"password":"s3cr3t-pw"}')
    assert secret["ARN"].startswith("arn:aws:secretsmanager:us-east-1:") and secret["Name"] == "prod/db"
    value = aws(env, "secretsmanager", "get-secret-value", "--secret-id", "prod/db")
    assert json.loads(value["SecretString"]) == {"password": "s3cr3t-pw"}
    assert value["VersionStages"] == ["AWSCURRENT"]
    assert aws(env, "ssm", "put-parameter", "--name", "/app/token", "--value", "tok-123",
               "--type", "SecureString")["Version"] == 1
    plain = aws(env, "ssm", "get-parameter", "--name", "/app/token", "--with-decryption")["Parameter"]
    assert (plain["Type"], plain["Value"]) == ("SecureString", "tok-123")
    assert aws(env, "ssm", "get-parameter", "--name", "/app/token")["Parameter"]["Value"] != "tok-123"
    assert "ResourceNotFoundException" in refused(env, "secretsmanager", "get-secret-value", "--secret-id", "nope")
    assert "ParameterNotFound" in refused(env, "ssm", "get-parameter", "--name", "/nope")

    # a task with awslogs and both as secrets, followed with `aws logs tail --follow`
    aws(env, "logs", "create-log-group", "--log-group-name", "/ecs/app")
    tail = subprocess.Popen([AWSCLI2, "logs", "tail", "/ecs/app", "--follow", "--format", "short"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [seen.put(line.rstrip("\n")) for line in tail.stdout], daemon=True).start()
        script = ('echo "starting"; echo "password has ${#DB_PASSWORD} characters, token ${#TOKEN}"; '
                  'echo "ERROR cannot connect to db"; sleep 1')
        definition = {"family": "app", "containerDefinitions": [{
            "name": "app", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", script],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"{secret['ARN']}:password::"},
                        {"name": "TOKEN", "valueFrom": "/app/token"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/app", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}}]}
        (tmp_path / "app.json").write_text(json.dumps(definition))
        aws(env, "ecs", "register-task-definition", "--cli-input-json", f"file://{tmp_path / 'app.json'}")
        arn = aws(env, "ecs", "run-task", "--task-definition", "app")["tasks"][0]["taskArn"]
        expected = ["starting", "password has 9 characters, token 7", "ERROR cannot connect to db"]
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while len(lines) < 3 and time.monotonic() < deadline:
            try:
                lines.append(seen.get(timeout=0.5).split(" ", 1)[1])
            except queue.Empty:
                assert tail.poll() is None, tail.stderr.read()
        assert lines == expected
    finally:
        tail.kill()
        tail.wait()

    stream = f"web/app/{arn.rsplit('/', 1)[1]}"
    got = aws(env, "logs", "get-log-events", "--log-group-name", "/ecs/app", "--log-stream-name", stream,
              "--start-from-head")
    assert [e["message"] for e in got["events"]] == expected
    found = aws(env, "logs", "filter-log-events", "--log-group-name", "/ecs/app", "--filter-pattern", "ERROR")
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [(stream, "ERROR cannot connect to db")]
    assert "ResourceNotFoundException" in refused(env, "logs", "get-log-events", "--log-group-name", "/ecs/app",
                                                  "--log-stream-name", "nope")
    # the values reached the container and no answer or stored document of the task
    described = json.dumps(aws(env, "ecs", "describe-tasks", "--tasks", arn))
    assert "s3cr3t-pw" not in described and "tok-123" not in described
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert b"s3cr3t-pw" not in data and b"tok-123" not in data
