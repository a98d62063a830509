"""UpdateContainerAgent, SubmitAttachmentStateChanges and
ListServicesByNamespace through boto3, with AWS's errors."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_task_definition, resources
from portside import __version__


def register(ecs, version="0.0.1", arn=None, cluster="default"):
    kw = {"containerInstanceArn": arn} if arn else {}
    if version is not None:
        kw["versionInfo"] = {"agentVersion": version, "agentHash": "portside", "dockerVersion": "28"}
    return ecs.register_container_instance(cluster=cluster, totalResources=resources(), **kw)[
        "containerInstance"]["containerInstanceArn"]


def test_update_container_agent(ecs):
    ecs.create_cluster()
    old = register(ecs, "0.0.1")
    current = register(ecs, __version__)
    unknown = register(ecs, None)
    with pytest.raises(ClientError) as err:
        ecs.update_container_agent(containerInstance=current)
    assert error_code(err) == "NoUpdateAvailableException"
    with pytest.raises(ClientError) as err:
        ecs.update_container_agent(containerInstance=unknown)
    assert error_code(err) == "MissingVersionException"
    out = ecs.update_container_agent(containerInstance=old)["containerInstance"]
    assert out["containerInstanceArn"] == old and out["agentUpdateStatus"] == "PENDING"
    with pytest.raises(ClientError) as err:
        ecs.update_container_agent(containerInstance=old)
    assert error_code(err) == "UpdateInProgressException"
    # the operator installs the new agent: it registers again with the latest version
    register(ecs, __version__, arn=old)
    described = ecs.describe_container_instances(containerInstances=[old])["containerInstances"][0]
    assert described["agentUpdateStatus"] == "UPDATED"
    assert described["versionInfo"]["agentVersion"] == __version__
    with pytest.raises(ClientError) as err:
        ecs.update_container_agent(containerInstance="0123456789abcdef0123456789abcdef")
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.update_container_agent(cluster="nope", containerInstance=old)
    assert error_code(err) == "ClusterNotFoundException"


def test_submit_attachment_state_changes_refusals(ecs):
    ecs.create_cluster()
    arn = "arn:aws:ecs:us-east-1:123456789012:attachment/6b3d2f4e-0000-4000-8000-000000000000"
    with pytest.raises(ClientError) as err:
        ecs.submit_attachment_state_changes(attachments=[{"attachmentArn": arn, "status": "ATTACHED"}])
    assert error_code(err) == "InvalidParameterException"  # no task has it
    with pytest.raises(ClientError) as err:
        ecs.submit_attachment_state_changes(attachments=[{"attachmentArn": arn, "status": "GLUED"}])
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.submit_attachment_state_changes(cluster="nope", attachments=[{"attachmentArn": arn,
                                                                          "status": "ATTACHED"}])
    assert error_code(err) == "ClientException"


def test_list_services_by_namespace(ecs):
    ecs.create_cluster(serviceConnectDefaults={"namespace": "shop"})
    ecs.create_cluster(clusterName="other")
    assert ecs.list_services_by_namespace(namespace="shop")["serviceArns"] == []
    with pytest.raises(ClientError) as err:
        ecs.list_services_by_namespace(namespace="nowhere")
    assert error_code(err) == "NamespaceNotFoundException"
    register_task_definition(ecs)
    connect = {"enabled": False, "namespace": "shop"}
    a = ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0,
                           serviceConnectConfiguration=connect)["service"]["serviceArn"]
    b = ecs.create_service(cluster="other", serviceName="b", taskDefinition="web", desiredCount=0,
                           serviceConnectConfiguration=connect)["service"]["serviceArn"]
    ecs.create_service(serviceName="c", taskDefinition="web", desiredCount=0)
    assert sorted(ecs.list_services_by_namespace(namespace="shop")["serviceArns"]) == sorted([a, b])
    page = ecs.list_services_by_namespace(namespace="shop", maxResults=1)
    rest = ecs.list_services_by_namespace(namespace="shop", maxResults=1, nextToken=page["nextToken"])
    assert sorted(page["serviceArns"] + rest["serviceArns"]) == sorted([a, b]) and "nextToken" not in rest
    ecs.update_service(service="a", serviceConnectConfiguration={"enabled": False, "namespace": "other-ns"})
    assert ecs.list_services_by_namespace(namespace="shop")["serviceArns"] == [b]
    assert ecs.list_services_by_namespace(namespace="other-ns")["serviceArns"] == [a]
    ecs.delete_service(cluster="other", service="b")
    assert ecs.list_services_by_namespace(namespace="shop")["serviceArns"] == []  # ACTIVE services only
    with pytest.raises(ClientError) as err:  # Service Connect proxying itself does not run here
        ecs.create_service(serviceName="d", taskDefinition="web", desiredCount=0,
                           serviceConnectConfiguration={"enabled": True, "namespace": "shop"})
    assert error_code(err) == "UnsupportedFeatureException"


def test_submit_attachment_state_changes_moves_a_task_attachment_forward(ecs):
    from helpers import register_instance

    ecs.create_cluster()
    register_instance(ecs)
    ecs.register_task_definition(family="vpc", networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 32}])
    task = ecs.run_task(taskDefinition="vpc", networkConfiguration={
        "awsvpcConfiguration": {"subnets": ["subnet-1"]}})["tasks"][0]
    (eni,) = task["attachments"]
    assert eni["status"] == "PRECREATED"
    arn = f"arn:aws:ecs:us-east-1:123456789012:attachment/{eni['id']}"
    out = ecs.submit_attachment_state_changes(attachments=[{"attachmentArn": arn, "status": "ATTACHING"}])
    assert out["acknowledgment"] == "ACK"

    def status():
        return ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["attachments"][0]["status"]

    assert status() == "ATTACHING"
    ecs.submit_attachment_state_changes(attachments=[{"attachmentArn": arn, "status": "PRECREATED"}])
    assert status() == "ATTACHING"  # never backwards (reports are retried)
    ecs.submit_attachment_state_changes(attachments=[{"attachmentArn": arn, "status": "ATTACHED"}])
    assert status() == "ATTACHED"
