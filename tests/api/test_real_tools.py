"""What real tools (ecs-deploy, Ansible community.aws, the AWS CLI, the ECS
agent) tripped on, each as AWS answers it."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition

pytestmark = pytest.mark.usefixtures("default_cluster")


def test_started_by_takes_what_aws_takes(ecs):
    register_instance(ecs)
    register_task_definition(ecs)
    task = ecs.run_task(taskDefinition="web", startedBy="ECS Deploy")["tasks"][0]
    assert task["startedBy"] == "ECS Deploy"
    assert ecs.list_tasks(startedBy="ECS Deploy")["taskArns"] == [task["taskArn"]]
    with pytest.raises(ClientError) as err:
        ecs.run_task(taskDefinition="web", startedBy="x" * 129)
    assert error_code(err) == "InvalidParameterException"


def test_describe_calls_refuse_empty_lists(ecs):
    for call, member, message in (
        (ecs.describe_tasks, "tasks", "Tasks cannot be empty."),
        (ecs.describe_services, "services", "Services cannot be empty."),
        (ecs.describe_container_instances, "containerInstances", "Container instance cannot be empty."),
    ):
        with pytest.raises(ClientError) as err:
            call(**{member: []})
        assert error_code(err) == "InvalidParameterException"
        assert err.value.response["Error"]["Message"] == message
        # the cluster is checked first
        with pytest.raises(ClientError) as err:
            call(cluster="nope", **{member: []})
        assert error_code(err) == "ClusterNotFoundException"


def test_register_container_instance_on_missing_cluster(ecs):
    with pytest.raises(ClientError) as err:
        ecs.register_container_instance(cluster="nope", totalResources=[])
    assert error_code(err) == "ClientException"
    assert err.value.response["Error"]["Message"] == "Cluster not found."


def test_built_in_attributes_from_the_identity_document(ecs):
    identity = {"instanceId": "i-0123456789abcdef0", "imageId": "ami-0abc", "instanceType": "m5.large",
                "availabilityZone": "us-east-1b", "architecture": "x86_64", "region": "us-east-1"}
    out = ecs.register_container_instance(
        instanceIdentityDocument=json.dumps(identity),
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}],
    )["containerInstance"]
    attributes = {a["name"]: a.get("value") for a in out["attributes"]}
    assert out["ec2InstanceId"] == "i-0123456789abcdef0"
    assert attributes["ecs.ami-id"] == "ami-0abc"
    assert attributes["ecs.instance-type"] == "m5.large"
    assert attributes["ecs.availability-zone"] == "us-east-1b"
    assert attributes["ecs.cpu-architecture"] == "x86_64"
    assert attributes["ecs.os-type"] == "linux" and attributes["ecs.os-family"] == "LINUX"
    # the cluster query language sees them
    listed = ecs.list_container_instances(filter="attribute:ecs.instance-type == m5.large")
    assert listed["containerInstanceArns"] == [out["containerInstanceArn"]]


def test_efs_volume_root_directory_defaults_to_slash(ecs):
    td = ecs.register_task_definition(
        family="efs",
        containerDefinitions=[{"name": "a", "image": "busybox", "memory": 64}],
        volumes=[{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}],
    )["taskDefinition"]
    assert td["volumes"][0]["efsVolumeConfiguration"] == {"fileSystemId": "fs-1234", "rootDirectory": "/"}


def test_service_lists_are_present_when_empty(ecs):
    register_instance(ecs)
    register_task_definition(ecs)
    created = ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=0)["service"]
    described = ecs.describe_services(services=["s"])["services"][0]
    for shown in (created, described):
        for member in ("loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy"):
            assert shown[member] == [], member


def test_service_role_without_load_balancers_is_refused(ecs):
    register_task_definition(ecs)
    with pytest.raises(ClientError) as err:
        ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=0, role="ecsServiceRole")
    assert error_code(err) == "InvalidParameterException"
    assert err.value.response["Error"]["Message"] == (
        "IAM roles are only valid for services configured to use load balancers."
    )
