"""Secrets injected at task start on real Docker: Secrets Manager (whole value,
a JSON key, a stage) and SSM parameters (name, ARN, SecureString) become the
container's environment, and nowhere else; a missing one stops the task with
ECS's ResourceInitializationError."""

from __future__ import annotations

import sqlite3

from test_agent_docker import register, run
from test_awslogs_docker import awslogs, stream_messages

from conftest import ACCOUNT, REGION, wait_for_task
from helpers import wait_for

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "


def test_secrets_reach_the_environment_and_nothing_else(server, docker_agent):
    ecs, logs = server.client(), server.client("logs")
    sm, ssm = server.client("secretsmanager"), server.client("ssm")
    logs.create_log_group(logGroupName="/ecs/sec")
    db = sm.create_secret(Name="prod/db", SecretString='{"user":"app","password":"pw-7f3a9c"}')
    sm.put_secret_value(SecretId="prod/db", SecretString='{"user":"app","password":"pw-new-81b2"}')
    ssm.put_parameter(Name="/app/token", Value="tok-5d21e0", Type="SecureString")
    ssm.put_parameter(Name="plainparam", Value="plain-3c4d", Type="String")
    arn = db["ARN"]
    register(ecs, "withsecrets", {
        "name": "app",
        # reversed, so that the shipped line does not put the values themselves in the database
        "command": ["sh", "-c", 'echo "$WHOLE|$PASS|$OLD|$TOKEN|$PLAIN" | rev; sleep 0.5'],
        "logConfiguration": awslogs("/ecs/sec"),
        "secrets": [
            {"name": "WHOLE", "valueFrom": arn},
            {"name": "PASS", "valueFrom": f"{arn}:password::"},
            {"name": "OLD", "valueFrom": f"{arn}:password:AWSPREVIOUS:"},
            {"name": "TOKEN", "valueFrom": "/app/token"},
            {"name": "PLAIN", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/plainparam"},
        ],
    })
    task_arn = run(ecs, "withsecrets")
    task = wait_for_task(ecs, task_arn, "STOPPED", timeout=60)
    assert task["containers"][0]["exitCode"] == 0
    stream = f"web/app/{task_arn.rsplit('/', 1)[1]}"
    expected = '{"user":"app","password":"pw-new-81b2"}|pw-new-81b2|pw-7f3a9c|tok-5d21e0|plain-3c4d'
    wait_for(lambda: stream_messages(logs, "/ecs/sec", stream) == [expected[::-1]],
             what="the echoed environment")
    described = str(ecs.describe_tasks(tasks=[task_arn]))
    described += str(ecs.describe_task_definition(taskDefinition="withsecrets"))
    for value in ("pw-new-81b2", "pw-7f3a9c", "tok-5d21e0"):
        assert value not in described
    with sqlite3.connect(server.data_dir / "portside.db") as conn:
        dump = "\n".join(conn.iterdump())
    for value in ("pw-new-81b2", "pw-7f3a9c", "tok-5d21e0"):
        assert value not in dump
    server_log = (server.data_dir / "server.log").read_text(errors="replace")
    for value in ("pw-new-81b2", "pw-7f3a9c", "tok-5d21e0"):
        assert value not in server_log
    agent_files = "".join(p.read_text(errors="replace") for p in docker_agent.data_dir.rglob("*") if p.is_file())
    for value in ("pw-new-81b2", "pw-7f3a9c", "tok-5d21e0"):
        assert value not in agent_files


def test_missing_secret_stops_the_task_with_ecs_reason(server, docker_agent):
    ecs = server.client()
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="nokey", SecretString='{"a":"1"}')["ARN"]
    cases = {
        "nosecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:absent-AbCdEf",
        "nojsonkey": f"{arn}:missing::",
        "noparam": "/does/not/exist",
    }
    for family, value_from in cases.items():
        register(ecs, family, {"name": "app", "command": ["sh", "-c", "sleep 30"],
                               "secrets": [{"name": "X", "valueFrom": value_from}]})
        task = wait_for_task(ecs, run(ecs, family), "STOPPED", timeout=60)
        assert task["stopCode"] == "TaskFailedToStart", task
        assert task["stoppedReason"].startswith(PREFIX), task["stoppedReason"]


def test_environment_files_of_type_s3_are_refused(server):
    ecs = server.client()
    import pytest
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        ecs.register_task_definition(family="envfiles", containerDefinitions=[{
            "name": "app", "image": "busybox", "memory": 64,
            "environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]}])
    assert exc.value.response["Error"]["Code"] == "ClientException"
    assert "environmentFiles" in exc.value.response["Error"]["Message"]


def test_repository_credentials_are_resolved_at_start(server, docker_agent):
    """repositoryCredentials.credentialsParameter names a Secrets Manager
    secret of {"username", "password"}: resolved when the task starts (no
    registry is reachable here, so what Docker does with them is not
    observed), and a missing or malformed one stops the task with ECS's
    ResourceInitializationError."""
    ecs = server.client()
    sm = server.client("secretsmanager")
    good = sm.create_secret(Name="registry/good", SecretString='{"username":"u","password":"p-9d8c"}')["ARN"]
    bad = sm.create_secret(Name="registry/bad", SecretString="not json")["ARN"]
    absent = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:registry/absent-AbCdEf"
    for family, secret in (("regok", good), ("regbad", bad), ("regabsent", absent)):
        register(ecs, family, {"name": "app", "command": ["sh", "-c", "sleep 30"],
                               "repositoryCredentials": {"credentialsParameter": secret}})
    running = wait_for_task(ecs, run(ecs, "regok"), "RUNNING", timeout=60)
    assert "p-9d8c" not in str(running)
    ecs.stop_task(task=running["taskArn"])
    for family in ("regbad", "regabsent"):
        task = wait_for_task(ecs, run(ecs, family), "STOPPED", timeout=60)
        assert task["stopCode"] == "TaskFailedToStart", task
        assert task["stoppedReason"].startswith(PREFIX), task["stoppedReason"]
