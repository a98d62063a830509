"""Builders and callers shared by the integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def resources(cpu: int = 2048, memory: int = 4096, ports: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports or ["22", "2375", "2376", "51678", "51679"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]


def register_instance(ecs, cluster: str = "default", **kw) -> str:
    out = ecs.register_container_instance(
        cluster=cluster,
        totalResources=resources(**kw),
        versionInfo={"agentVersion": "1.0.0", "agentHash": "portside", "dockerVersion": "28"},
        attributes=[{"name": "ecs.availability-zone", "value": "local-1a"}],
    )
    return out["containerInstance"]["containerInstanceArn"]


def register_task_definition(ecs, family: str = "web", cpu: int = 256, memory: int = 512,
                             host_port: int | None = None, containers: int = 1) -> str:
    defs = []
    for i in range(containers):
        c: dict[str, Any] = {"name": f"c{i}", "image": "busybox", "cpu": cpu, "memory": memory,
                             "essential": True, "command": ["sleep", "60"]}
        if host_port and i == 0:
            c["portMappings"] = [{"containerPort": 80, "hostPort": host_port}]
        defs.append(c)
    out = ecs.register_task_definition(family=family, containerDefinitions=defs)
    return out["taskDefinition"]["taskDefinitionArn"]


def resource(instance: dict[str, Any], kind: str, name: str) -> Any:
    for r in instance[kind]:
        if r["name"] == name:
            return r.get("integerValue") if r["type"] == "INTEGER" else r.get("stringSetValue")
    raise KeyError(name)


def wait_for(fn: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    """Call fn until it returns something true; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def refused(call: Callable[..., Any], **kw: Any) -> tuple[str, str]:
    """(error code, message) of a boto3 call that must fail."""
    with pytest.raises(ClientError) as err:
        call(**kw)
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


def aws_ecs(server: Any, *args: str, region: str = "us-east-1") -> Any:
    """`aws ecs ARGS --output json` against the server (the AWS CLI of the
    test extra, with the test key), its answer parsed; a failure fails the test."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDPORTSIDETEST", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_DEFAULT_REGION": region}
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([sys.executable, "-m", "awscli", "ecs", *args, "--endpoint-url", server.endpoint,
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
