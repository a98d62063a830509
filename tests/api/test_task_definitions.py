"""Task definitions, as the ECS API reference describes them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_code

ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"
DOCKER_API_1_18 = {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}


def container(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "memory": 64, **extra}


def register(ecs, family: str = "web", containers: list[dict[str, Any]] | None = None, **kw):
    out = ecs.register_task_definition(
        family=family, containerDefinitions=containers or [container()], **kw
    )
    return out["taskDefinition"]


def client_error(ecs, call: str, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        getattr(ecs, call)(**kw)
    return error_code(e), e.value.response["Error"]["Message"]


# RegisterTaskDefinition --------------------------------------------------------


def test_register_fills_the_defaults_aws_returns(ecs):
    before = time.time()
    td = register(ecs, containers=[{"name": "app", "image": "busybox", "memory": 128,
                                    "command": ["sleep", "60"]}])
    assert td["taskDefinitionArn"] == ARN + "web:1"
    assert (td["family"], td["revision"], td["status"]) == ("web", 1, "ACTIVE")
    assert td["volumes"] == [] and td["placementConstraints"] == []
    assert td["compatibilities"] == ["EXTERNAL", "EC2"]
    assert "requiresCompatibilities" not in td and "networkMode" not in td
    assert td["registeredBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert before - 1 <= td["registeredAt"].timestamp() <= time.time() + 1
    assert isinstance(td["requiresAttributes"], list)
    (c,) = td["containerDefinitions"]
    assert c["essential"] is True and c["cpu"] == 0
    assert c["command"] == ["sleep", "60"] and c["memory"] == 128
    for member in ("portMappings", "environment", "mountPoints", "volumesFrom"):
        assert c[member] == []


def test_revisions_count_per_family(ecs):
    assert [register(ecs)["revision"] for _ in range(3)] == [1, 2, 3]
    assert register(ecs, family="other")["revision"] == 1
    assert register(ecs)["taskDefinitionArn"] == ARN + "web:4"


def test_task_level_fields_are_kept(ecs):
    td = register(
        ecs,
        networkMode="host",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/app",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec",
        pidMode="host",
        ipcMode="host",
        requiresCompatibilities=["EC2"],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
        volumes=[{"name": "data", "host": {"sourcePath": "/srv/data"}}],
        containers=[container(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}],
                              environment=[{"name": "A", "value": "1"}])],
    )
    assert td["networkMode"] == "host" and td["pidMode"] == "host" and td["ipcMode"] == "host"
    assert td["taskRoleArn"].endswith(":role/app") and td["executionRoleArn"].endswith(":role/exec")
    assert td["requiresCompatibilities"] == ["EC2"]
    assert td["placementConstraints"][0]["type"] == "memberOf"
    assert td["volumes"] == [{"name": "data", "host": {"sourcePath": "/srv/data"}}]
    c = td["containerDefinitions"][0]
    assert c["mountPoints"] == [{"sourceVolume": "data", "containerPath": "/data"}]
    assert c["environment"] == [{"name": "A", "value": "1"}]
    names = [a["name"] for a in td["requiresAttributes"]]
    assert DOCKER_API_1_18["name"] in names
    assert "com.amazonaws.ecs.capability.task-iam-role" in names


def test_requires_attributes_follow_features(ecs):
    td = register(ecs, networkMode="bridge",
                  containers=[container(memoryReservation=32, privileged=True,
                                        logConfiguration={"logDriver": "json-file"})])
    names = {a["name"] for a in td["requiresAttributes"]}
    assert {
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "com.amazonaws.ecs.capability.docker-remote-api.1.21",
        "com.amazonaws.ecs.capability.privileged-container",
        "com.amazonaws.ecs.capability.logging-driver.json-file",
    } <= names


@pytest.mark.parametrize(
    "cpu, memory, want_cpu, want_memory",
    [
        ("1024", "512", "1024", "512"),
        ("1 vCPU", "0.5 GB", "1024", "512"),
        ("0.25 vcpu", "2GB", "256", "2048"),
        ("2 VCPU", "1gb", "2048", "1024"),
    ],
)
def test_task_sizes_are_stored_as_integers(ecs, cpu, memory, want_cpu, want_memory):
    td = register(ecs, cpu=cpu, memory=memory, containers=[{"name": "a", "image": "busybox"}])
    assert (td["cpu"], td["memory"]) == (want_cpu, want_memory)
    described = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert (described["cpu"], described["memory"]) == (want_cpu, want_memory)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"cpu": "lots"}, "Invalid 'cpu' setting for task."),
        ({"cpu": "64"}, "Invalid 'cpu' setting for task."),
        ({"cpu": "1.5"}, "Invalid 'cpu' setting for task."),
        ({"cpu": "0.1 vCPU"}, "Invalid 'cpu' setting for task."),
        ({"cpu": "1024 GB"}, "Invalid 'cpu' setting for task."),
        ({"memory": "0"}, "Invalid 'memory' setting for task."),
        ({"memory": "big"}, "Invalid 'memory' setting for task."),
        ({"memory": "1 vCPU"}, "Invalid 'memory' setting for task."),
    ],
)
def test_invalid_task_sizes(ecs, kw, message):
    assert client_error(ecs, "register_task_definition", family="web",
                        containerDefinitions=[container()], **kw) == ("ClientException", message)


def test_task_memory_satisfies_the_ec2_memory_rule(ecs):
    td = register(ecs, memory="256", containers=[{"name": "a", "image": "busybox"}])
    assert "memory" not in td["containerDefinitions"][0]
    assert td["memory"] == "256"


def test_memory_reservation_alone_is_enough(ecs):
    td = register(ecs, containers=[{"name": "a", "image": "busybox", "memoryReservation": 32}])
    assert td["containerDefinitions"][0]["memoryReservation"] == 32


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"containerDefinitions": [{"image": "busybox", "memory": 64}]},
         "Container.name should not be null or empty."),
        ({"containerDefinitions": [{"name": "", "image": "busybox", "memory": 64}]},
         "Container.name should not be null or empty."),
        ({"containerDefinitions": [{"name": "a", "memory": 64}]},
         "Container.image should not be null or empty."),
        ({"containerDefinitions": [{"name": "a", "image": "", "memory": 64}]},
         "Container.image should not be null or empty."),
        ({"containerDefinitions": [{"name": "a", "image": "busybox"}]},
         "Invalid setting for container 'a'. "
         "At least one of 'memory' or 'memoryReservation' must be specified."),
        ({"containerDefinitions": [container(memory=128, memoryReservation=256)]},
         "Invalid 'memoryReservation' setting for container 'app'. "
         "memoryReservation must be less than or equal to memory."),
        ({"containerDefinitions": [container(memory=4)]},
         "Invalid 'memory' setting for container 'app'. The minimum is 6 MiB."),
        ({"containerDefinitions": [container(memory=1024)], "memory": "512"},
         "The 'memory' setting for container 'app' is greater than for the task."),
        ({"networkMode": "host",
          "containerDefinitions": [container(portMappings=[{"containerPort": 80, "hostPort": 8080}])]},
         "When networkMode=host, the host ports and container ports in port mappings must match."),
        ({"networkMode": "awsvpc",
          "containerDefinitions": [container(portMappings=[{"containerPort": 80, "hostPort": 81}])]},
         "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
        ({"networkMode": "none",
          "containerDefinitions": [container(portMappings=[{"containerPort": 80}])]},
         "Port mappings are not supported when networkMode=none."),
        ({"requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
          "containerDefinitions": [container()]},
         "Fargate only supports network mode \u2018awsvpc\u2019."),
    ],
)
def test_content_errors_are_client_exceptions(ecs, kw, message):
    kw = {"family": "web", **kw}
    assert client_error(ecs, "register_task_definition", **kw) == ("ClientException", message)


@pytest.mark.parametrize(
    "kw, fragment",
    [
        ({"containerDefinitions": [container("a"), container("a")]}, "Duplicate container name 'a'"),
        ({"containerDefinitions": [container("bad name")]}, "Invalid container name 'bad name'"),
        ({"containerDefinitions": [
            container("a", portMappings=[{"containerPort": 80, "hostPort": 8080}]),
            container("b", portMappings=[{"containerPort": 81, "hostPort": 8080}])]},
         "Host port 8080/tcp is already used by container 'a'"),
        ({"networkMode": "host", "containerDefinitions": [
            container("a", portMappings=[{"containerPort": 80}]),
            container("b", portMappings=[{"containerPort": 80}])]},
         "Host port 80/tcp is already used"),
        ({"containerDefinitions": [container(essential=False)]}, "must be essential"),
        ({"containerDefinitions": [container(mountPoints=[{"sourceVolume": "nope",
                                                            "containerPath": "/x"}])]},
         "Unknown volume 'nope'"),
        ({"containerDefinitions": [container(volumesFrom=[{"sourceContainer": "ghost"}])]},
         "Unknown container 'ghost'"),
        ({"containerDefinitions": [container(portMappings=[{"containerPort": 70000}])]},
         "Invalid 'containerPort' setting"),
        ({"containerDefinitions": [container(cpu=-1)]}, "Invalid 'cpu' setting for container"),
        ({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
          "containerDefinitions": [container()]}, "Fargate requires that 'cpu'"),
        ({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256",
          "memory": "4096", "containerDefinitions": [container()]},
         "No Fargate configuration exists for given values"),
    ],
)
def test_more_content_errors(ecs, kw, fragment):
    code, message = client_error(ecs, "register_task_definition", **{"family": "web", **kw})
    assert code == "ClientException"
    assert fragment in message


@pytest.mark.parametrize(
    "kw",
    [
        {"family": "bad family"},
        {"family": "x" * 256},
        {"containerDefinitions": []},
        {"containerDefinitions": [container(f"c{i}") for i in range(11)]},
        {"tags": [{"key": "aws:reserved", "value": "x"}]},
    ],
)
def test_request_errors_are_invalid_parameter(ecs, kw):
    kw = {"family": "web", "containerDefinitions": [container()], **kw}
    assert client_error(ecs, "register_task_definition", **kw)[0] == "InvalidParameterException"
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []


def test_port_mapping_defaults(ecs):
    bridge = register(ecs, containers=[container(portMappings=[
        {"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "udp"},
        {"containerPort": 8443}])])
    assert bridge["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "hostPort": 8080, "protocol": "tcp"},
        {"containerPort": 53, "protocol": "udp"},
        {"containerPort": 8443, "protocol": "tcp"},
    ]
    for mode in ("host", "awsvpc"):
        td = register(ecs, family=mode, networkMode=mode, containers=[container(portMappings=[
            {"containerPort": 53, "protocol": "udp"}, {"containerPort": 53}])])
        assert td["containerDefinitions"][0]["portMappings"] == [
            {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
            {"containerPort": 53, "hostPort": 53, "protocol": "tcp"},
        ]


def test_fargate_compatible_definition(ecs):
    td = register(ecs, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                  cpu=".5 vCPU", memory="1 GB", containers=[{"name": "a", "image": "busybox"}])
    assert "FARGATE" in td["compatibilities"]
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert {"name": "ecs.capability.task-eni"} in td["requiresAttributes"]


def test_register_tags(ecs):
    out = ecs.register_task_definition(
        family="tagged", containerDefinitions=[container()],
        tags=[{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}],
    )
    assert out["tags"] == [{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}]
    arn = out["taskDefinition"]["taskDefinitionArn"]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == out["tags"]
    described = ecs.describe_task_definition(taskDefinition="tagged", include=["TAGS"])
    assert described["tags"] == out["tags"]
    assert "tags" not in ecs.describe_task_definition(taskDefinition="tagged")
    untagged = ecs.describe_task_definition(taskDefinition=register(ecs)["taskDefinitionArn"],
                                            include=["TAGS"])
    assert untagged["tags"] == []


# DescribeTaskDefinition --------------------------------------------------------


def test_describe_by_family_revision_and_arn(ecs):
    register(ecs, containers=[container(memory=100)])
    register(ecs, containers=[container(memory=200)])
    latest = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert latest["revision"] == 2 and latest["containerDefinitions"][0]["memory"] == 200
    first = ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]
    assert first["containerDefinitions"][0]["memory"] == 100
    by_arn = ecs.describe_task_definition(taskDefinition=ARN + "web:2")["taskDefinition"]
    assert by_arn == latest
    assert ecs.describe_task_definition(taskDefinition=ARN + "web")["taskDefinition"] == latest


@pytest.mark.parametrize(
    "identifier",
    ["ghost", "web:9", "web:0", "web:x", ARN + "ghost:1",
     f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/web:1",
     f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/web"],
)
def test_describe_missing(ecs, identifier):
    register(ecs)
    assert client_error(ecs, "describe_task_definition", taskDefinition=identifier) == (
        "ClientException", "Unable to describe task definition.")


def test_describe_family_skips_inactive_revisions(ecs):
    register(ecs)
    register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:2")
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
    inactive = ecs.describe_task_definition(taskDefinition="web:2")["taskDefinition"]
    assert inactive["status"] == "INACTIVE"
    ecs.deregister_task_definition(taskDefinition=ARN + "web:1")
    assert client_error(ecs, "describe_task_definition", taskDefinition="web")[0] == "ClientException"
    # a new registration continues the numbering and is the family's latest again
    assert register(ecs)["revision"] == 3
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 3


# DeregisterTaskDefinition ------------------------------------------------------


def test_deregister(ecs):
    register(ecs)
    before = time.time()
    td = ecs.deregister_task_definition(taskDefinition="web:1")["taskDefinition"]
    assert td["status"] == "INACTIVE" and td["taskDefinitionArn"] == ARN + "web:1"
    assert before - 1 <= td["deregisteredAt"].timestamp() <= time.time() + 1
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [ARN + "web:1"]
    again = ecs.deregister_task_definition(taskDefinition=ARN + "web:1")["taskDefinition"]
    assert again["status"] == "INACTIVE" and again["deregisteredAt"] == td["deregisteredAt"]


@pytest.mark.parametrize("identifier", ["web", ARN + "web", "web:7", "ghost:1", "web:x"])
def test_deregister_needs_an_existing_revision(ecs, identifier):
    register(ecs)
    assert client_error(ecs, "deregister_task_definition", taskDefinition=identifier)[0] == (
        "ClientException")
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]["status"] == (
        "ACTIVE")


# DeleteTaskDefinitions ---------------------------------------------------------


def test_delete_only_inactive_revisions(ecs):
    for _ in range(3):
        register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:1")
    ecs.deregister_task_definition(taskDefinition="web:2")
    out = ecs.delete_task_definitions(taskDefinitions=["web:1", ARN + "web:2", "web:3", "web:9"])
    assert [t["taskDefinitionArn"] for t in out["taskDefinitions"]] == [ARN + "web:1", ARN + "web:2"]
    assert {t["status"] for t in out["taskDefinitions"]} == {"DELETE_IN_PROGRESS"}
    assert all("deleteRequestedAt" in t for t in out["taskDefinitions"])
    failures = {f["arn"]: f["reason"] for f in out["failures"]}
    assert failures[ARN + "web:3"] == (
        "The specified task definition is still in ACTIVE status. "
        "Please deregister the target and try again."
    )
    assert failures[ARN + "web:9"] == (
        "The specified task definition does not exist. Specify a valid account, family, revision and try again."
    )
    assert ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"] == [
        ARN + "web:1", ARN + "web:2"]
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == []
    shown = ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]
    assert shown["status"] == "DELETE_IN_PROGRESS"
    # deleting again answers the same; deregistering a deleted one is refused
    again = ecs.delete_task_definitions(taskDefinitions=["web:1"])
    assert again["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS" and not again["failures"]
    assert client_error(ecs, "deregister_task_definition", taskDefinition="web:1")[0] == (
        "ClientException")


def test_delete_refuses_a_bare_family_and_more_than_ten(ecs):
    register(ecs)
    out = ecs.delete_task_definitions(taskDefinitions=["web"])
    assert out["taskDefinitions"] == [] and out["failures"][0]["arn"] == "web"
    code, _ = client_error(ecs, "delete_task_definitions",
                           taskDefinitions=[f"web:{i}" for i in range(1, 12)])
    assert code == "InvalidParameterException"


# ListTaskDefinitions -----------------------------------------------------------


def _all_pages(call, key: str, **kw) -> list[str]:
    seen, token = [], None
    while True:
        out = call(**kw, **({"nextToken": token} if token else {}))
        seen += out[key]
        token = out.get("nextToken")
        if not token:
            return seen


def test_list_task_definitions_filters_sorts_and_pages(ecs):
    for family in ("web", "webapp", "api"):
        for _ in range(3):
            register(ecs, family=family)
    everything = ecs.list_task_definitions()["taskDefinitionArns"]
    assert everything == [ARN + f"{f}:{r}" for f in ("api", "web", "webapp") for r in (1, 2, 3)]
    assert ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"] == everything[::-1]
    only_web = ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    assert only_web == [ARN + f"web:{r}" for r in (1, 2, 3)]  # exact family, not a prefix
    paged = _all_pages(ecs.list_task_definitions, "taskDefinitionArns", maxResults=2)
    assert paged == everything
    desc = _all_pages(ecs.list_task_definitions, "taskDefinitionArns", maxResults=4,
                      familyPrefix="webapp", sort="DESC")
    assert desc == [ARN + f"webapp:{r}" for r in (3, 2, 1)]
    pages = ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 4})
    assert [len(p["taskDefinitionArns"]) for p in pages] == [4, 4, 1]


def test_list_errors(ecs):
    assert client_error(ecs, "list_task_definitions", maxResults=101)[0] == (
        "InvalidParameterException")
    assert client_error(ecs, "list_task_definitions", nextToken="garbage")[0] == (
        "InvalidParameterException")
    assert client_error(ecs, "list_task_definition_families", nextToken="garbage")[0] == (
        "InvalidParameterException")
    assert client_error(ecs, "list_task_definitions", status="GONE")[0] == (
        "InvalidParameterException")


# ListTaskDefinitionFamilies ----------------------------------------------------


def test_list_families(ecs):
    for family in ("web", "webapp", "api", "worker", "old"):
        register(ecs, family=family)
    register(ecs, family="web")
    ecs.deregister_task_definition(taskDefinition="old:1")
    ecs.deregister_task_definition(taskDefinition="web:1")  # web:2 keeps it active
    assert ecs.list_task_definition_families()["families"] == ["api", "web", "webapp", "worker"]
    assert ecs.list_task_definition_families(familyPrefix="w")["families"] == [
        "web", "webapp", "worker"]
    assert ecs.list_task_definition_families(familyPrefix="web")["families"] == ["web", "webapp"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["old"]
    assert ecs.list_task_definition_families(status="ALL")["families"] == [
        "api", "old", "web", "webapp", "worker"]
    paged = _all_pages(ecs.list_task_definition_families, "families", maxResults=2, status="ALL")
    assert paged == ["api", "old", "web", "webapp", "worker"]
    first = ecs.list_task_definition_families(maxResults=2)
    assert first["families"] == ["api", "web"] and first["nextToken"]


# Durability and the AWS CLI ----------------------------------------------------


def test_definitions_survive_a_restart(server):
    ecs = server.client()
    register(ecs, tags=[{"key": "k", "value": "v"}])
    register(ecs)
    ecs.deregister_task_definition(taskDefinition="web:1")
    server.restart()
    ecs = server.client()
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 2
    old = ecs.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    assert old["taskDefinition"]["status"] == "INACTIVE"
    assert old["tags"] == [{"key": "k", "value": "v"}]
    assert register(ecs)["revision"] == 3


def test_register_through_the_aws_cli(server):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDPORTSIDETEST",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": REGION,
    }
    env.pop("AWS_PROFILE", None)
    definitions = [{"name": "web", "image": "nginx", "memoryReservation": 64,
                    "portMappings": [{"containerPort": 80}]}]
    proc = subprocess.run(
        ["aws", "ecs", "register-task-definition", "--endpoint-url", server.endpoint,
         "--family", "cli", "--cpu", "1 vCPU", "--network-mode", "host",
         "--container-definitions", json.dumps(definitions),
         "--tags", "key=made-by,value=cli", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    td = out["taskDefinition"]
    assert td["taskDefinitionArn"] == ARN + "cli:1" and td["cpu"] == "1024"
    assert td["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
    assert out["tags"] == [{"key": "made-by", "value": "cli"}]
    fail = subprocess.run(
        ["aws", "ecs", "describe-task-definition", "--endpoint-url", server.endpoint,
         "--task-definition", "nope"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert fail.returncode != 0
    assert "ClientException" in fail.stderr and "Unable to describe task definition." in fail.stderr
