"""Fargate task definitions: what RegisterTaskDefinition checks when a
definition requires FARGATE, with AWS's codes and messages, and the
`compatibilities` DescribeTaskDefinition reports."""

import pytest
from botocore.exceptions import ClientError

from portside.domain.fargate import FARGATE_SIZES


def container(name="app", **kw):
    return {"name": name, "image": "busybox", "essential": True, **kw}


def fargate(**kw):
    return {"family": "f", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512", "containerDefinitions": [container()], **kw}


def refused(ecs, **kw):
    with pytest.raises(ClientError) as err:
        ecs.register_task_definition(**kw)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


@pytest.mark.parametrize("kw, message", [
    ({"networkMode": "bridge"}, "Fargate only supports network mode \u2018awsvpc\u2019."),
    ({"cpu": None}, "Fargate requires that 'cpu' be defined at the task level."),
    ({"memory": None}, "Fargate requires that 'memory' be defined at the task level."),
    ({"cpu": "256", "memory": "4096"},
     "No Fargate configuration exists for given values: 256 CPU, 4096 memory. "
     "See the Amazon ECS documentation for the valid values."),
    ({"cpu": "8192", "memory": "18432"},
     "No Fargate configuration exists for given values: 8192 CPU, 18432 memory. "
     "See the Amazon ECS documentation for the valid values."),
    ({"pidMode": "host"}, "Tasks using the Fargate launch type do not support pidMode 'host'. "
                          "The supported value for pidMode is 'task'."),
    ({"ipcMode": "host"}, "Tasks using the Fargate launch type do not support ipcMode."),
    ({"containerDefinitions": [container(logConfiguration={"logDriver": "awslogs", "options": {}})]},
     "Fargate requires task definition to have execution role ARN to support log driver awslogs."),
    ({"containerDefinitions": [container(portMappings=[{"containerPort": 80, "hostPort": 8080}])]},
     "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
    ({"ephemeralStorage": {"sizeInGiB": 20}},
     "Invalid 'ephemeralStorage' setting for task. The ephemeral storage size must be between 21 and 200 GiB."),
    ({"ephemeralStorage": {"sizeInGiB": 201}},
     "Invalid 'ephemeralStorage' setting for task. The ephemeral storage size must be between 21 and 200 GiB."),
])
def test_fargate_rules(ecs, kw, message):
    params = {k: v for k, v in fargate(**kw).items() if v is not None}
    assert refused(ecs, **params) == ("ClientException", message)


def test_every_size_in_the_table_registers(ecs):
    for cpu, memories in FARGATE_SIZES.items():
        for memory in (min(memories), max(memories)):
            td = ecs.register_task_definition(**fargate(cpu=str(cpu), memory=str(memory)))["taskDefinition"]
            assert td["cpu"] == str(cpu) and td["memory"] == str(memory)
            assert "FARGATE" in td["compatibilities"]


def test_vcpu_and_gb_units_and_what_is_reported(ecs):
    td = ecs.register_task_definition(**fargate(
        cpu="0.5 vCPU", memory="1 GB", ephemeralStorage={"sizeInGiB": 30},
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[container(portMappings=[{"containerPort": 80}])],
    ))["taskDefinition"]
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["compatibilities"] == ["EXTERNAL", "EC2", "FARGATE"]
    assert td["ephemeralStorage"] == {"sizeInGiB": 30}
    assert td["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert td["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
    assert {"name": "ecs.capability.task-eni"} in td["requiresAttributes"]
    described = ecs.describe_task_definition(taskDefinition="f")["taskDefinition"]
    assert described["compatibilities"] == td["compatibilities"]


def test_compatibilities_say_what_a_definition_fits(ecs):
    bridge = ecs.register_task_definition(
        family="b", containerDefinitions=[container(memory=64)])["taskDefinition"]
    assert bridge["compatibilities"] == ["EXTERNAL", "EC2"]
    # awsvpc and a Fargate size, without requiring FARGATE: it fits Fargate too
    fits = ecs.register_task_definition(
        family="v", networkMode="awsvpc", cpu="1024", memory="2048",
        containerDefinitions=[container()])["taskDefinition"]
    assert fits["compatibilities"] == ["EXTERNAL", "EC2", "FARGATE"]
    odd = ecs.register_task_definition(
        family="v", networkMode="awsvpc", cpu="1000", memory="2048",
        containerDefinitions=[container()])["taskDefinition"]
    assert odd["compatibilities"] == ["EXTERNAL", "EC2"]
    host_pid = ecs.register_task_definition(
        family="v", networkMode="awsvpc", cpu="1024", memory="2048", pidMode="host",
        containerDefinitions=[container()])["taskDefinition"]
    assert "FARGATE" not in host_pid["compatibilities"]
