"""Container instances, as the ECS API reference describes them."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition, resource, resources


@pytest.fixture
def cluster(ecs):
    ecs.create_cluster()
    return ecs


def test_register_and_describe(cluster):
    ecs = cluster
    arn = register_instance(ecs, cpu=1024, memory=2048)
    assert arn.startswith("arn:aws:ecs:us-east-1:123456789012:container-instance/default/")
    out = ecs.describe_container_instances(containerInstances=[arn, "0" * 32])
    ci = out["containerInstances"][0]
    assert ci["status"] == "ACTIVE" and ci["agentConnected"] is True
    assert resource(ci, "registeredResources", "CPU") == 1024
    assert resource(ci, "remainingResources", "MEMORY") == 2048
    assert "22" in resource(ci, "remainingResources", "PORTS")
    assert (ci["runningTasksCount"], ci["pendingTasksCount"]) == (0, 0)
    assert ci["ec2InstanceId"].startswith("i-")
    assert {"name": "ecs.availability-zone", "value": "local-1a"} in ci["attributes"]
    assert out["failures"][0]["reason"] == "MISSING"
    short_id = arn.rsplit("/", 1)[1]
    assert ecs.describe_container_instances(containerInstances=[short_id])["containerInstances"][0][
        "containerInstanceArn"
    ] == arn
    cluster_view = ecs.describe_clusters()["clusters"][0]
    assert cluster_view["registeredContainerInstancesCount"] == 1


def test_reregistration_keeps_arn(cluster):
    ecs = cluster
    arn = register_instance(ecs, cpu=1024)
    again = ecs.register_container_instance(
        containerInstanceArn=arn, totalResources=resources(cpu=4096)
    )["containerInstance"]
    assert again["containerInstanceArn"] == arn
    assert resource(again, "registeredResources", "CPU") == 4096
    assert len(ecs.list_container_instances()["containerInstanceArns"]) == 1


def test_instance_identity_document(cluster):
    out = cluster.register_container_instance(
        instanceIdentityDocument='{"instanceId": "i-0123456789abcdef0"}',
        totalResources=resources(),
    )
    assert out["containerInstance"]["ec2InstanceId"] == "i-0123456789abcdef0"


def test_list_filter_by_status_and_paginate(cluster):
    ecs = cluster
    arns = [register_instance(ecs) for _ in range(5)]
    out = ecs.update_container_instances_state(containerInstances=arns[:2], status="DRAINING")
    assert {c["status"] for c in out["containerInstances"]} == {"DRAINING"}
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == arns[:2]
    assert ecs.list_container_instances(status="ACTIVE")["containerInstanceArns"] == arns[2:]
    pages = ecs.get_paginator("list_container_instances").paginate(PaginationConfig={"PageSize": 2})
    assert [a for p in pages for a in p["containerInstanceArns"]] == arns


def test_update_state_failures_and_bad_status(cluster):
    ecs = cluster
    arn = register_instance(ecs)
    out = ecs.update_container_instances_state(containerInstances=[arn, "f" * 32], status="DRAINING")
    assert len(out["containerInstances"]) == 1 and out["failures"][0]["reason"] == "MISSING"
    with pytest.raises(ClientError) as e:
        ecs.update_container_instances_state(containerInstances=[arn], status="REGISTERING")
    assert error_code(e) == "InvalidParameterException"


def test_deregister_refuses_with_tasks_unless_forced(cluster):
    ecs = cluster
    arn = register_instance(ecs)
    register_task_definition(ecs)
    ecs.run_task(taskDefinition="web")
    with pytest.raises(ClientError) as e:
        ecs.deregister_container_instance(containerInstance=arn)
    assert error_code(e) == "InvalidParameterException"
    out = ecs.deregister_container_instance(containerInstance=arn, force=True)["containerInstance"]
    assert out["status"] == "INACTIVE"
    assert ecs.list_container_instances()["containerInstanceArns"] == []
    assert ecs.describe_clusters()["clusters"][0]["registeredContainerInstancesCount"] == 0


def test_delete_cluster_refused_while_instances(cluster):
    ecs = cluster
    arn = register_instance(ecs)
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="default")
    assert error_code(e) == "ClusterContainsContainerInstancesException"
    ecs.deregister_container_instance(containerInstance=arn)
    assert ecs.delete_cluster(cluster="default")["cluster"]["status"] == "INACTIVE"


def test_register_in_missing_cluster(ecs):
    with pytest.raises(ClientError) as e:
        ecs.register_container_instance(cluster="nope", totalResources=resources())
    assert error_code(e) == "ClientException"  # what the ECS agent sees from AWS
    assert e.value.response["Error"]["Message"] == "Cluster not found."
