"""Services through the ECS API (no agents: the scheduler places tasks that
stay PENDING): CreateService, DescribeServices, ListServices, UpdateService,
DeleteService, errors, tags, and what services change elsewhere (ListTasks
serviceName, DeleteCluster, activeServicesCount)."""

import time

import pytest

from helpers import register_instance, register_task_definition, wait_for

pytestmark = [pytest.mark.usefixtures("default_cluster"), pytest.mark.server_args("--service-interval", "0.2")]




def describe(ecs, name, **kw):
    return ecs.describe_services(services=[name], **kw)["services"][0]


def test_create_describe_and_shapes(ecs):
    register_instance(ecs)
    td = register_task_definition(ecs)
    out = ecs.create_service(
        serviceName="web", taskDefinition="web", desiredCount=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                 "minimumHealthyPercent": 50},
        tags=[{"key": "team", "value": "a"}],
    )["service"]
    assert out["serviceArn"] == "arn:aws:ecs:us-east-1:123456789012:service/default/web"
    assert out["status"] == "ACTIVE" and out["desiredCount"] == 2 and out["taskDefinition"] == td
    assert out["launchType"] == "EC2" and out["schedulingStrategy"] == "REPLICA"
    assert out["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200, "minimumHealthyPercent": 50}
    (deployment,) = out["deployments"]
    assert deployment["id"].startswith("ecs-svc/") and deployment["id"][8:].isdigit()
    assert deployment["status"] == "PRIMARY" and deployment["rolloutState"] == "IN_PROGRESS"
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} in progress."
    svc = wait_for(lambda: (s := describe(ecs, "web")) and s["pendingCount"] == 2 and s, what="2 pending")
    started = [e["message"] for e in svc["events"] if "has started" in e["message"]]
    assert len(started) == 1 and started[0].startswith("(service web) has started 2 tasks: (task ")
    arns = ecs.list_tasks(serviceName="web")["taskArns"]
    assert len(arns) == 2
    for task in ecs.describe_tasks(tasks=arns)["tasks"]:
        assert task["startedBy"] == deployment["id"] and task["group"] == "service:web"
    assert ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"] == []
    # a task of the service's group that the scheduler did not start is not the scheduler's to stop
    own = ecs.run_task(taskDefinition="web", group="service:web")["tasks"][0]["taskArn"]
    time.sleep(0.6)
    assert ecs.describe_tasks(tasks=[own])["tasks"][0]["desiredStatus"] == "RUNNING"
    assert describe(ecs, "web")["pendingCount"] == 2
    tagged = describe(ecs, out["serviceArn"], include=["TAGS"])
    assert tagged["tags"] == [{"key": "team", "value": "a"}]
    ecs.tag_resource(resourceArn=out["serviceArn"], tags=[{"key": "x", "value": "y"}])
    assert len(ecs.list_tags_for_resource(resourceArn=out["serviceArn"])["tags"]) == 2
    missing = ecs.describe_services(services=["nope", "web"])
    assert [s["serviceName"] for s in missing["services"]] == ["web"]
    assert missing["failures"] == [
        {"arn": "arn:aws:ecs:us-east-1:123456789012:service/default/nope", "reason": "MISSING"}]
    cluster = ecs.describe_clusters()["clusters"][0]
    assert cluster["activeServicesCount"] == 1


def test_errors(ecs):
    register_task_definition(ecs)
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(service="nope", desiredCount=1)
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.delete_service(service="nope")
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.list_tasks(serviceName="nope")
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.create_service(cluster="nope", serviceName="a", taskDefinition="web", desiredCount=1)
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.create_service(serviceName="a", taskDefinition="missing", desiredCount=1)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.create_service(serviceName="a", taskDefinition="web")  # REPLICA needs desiredCount
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.create_service(serviceName="d", taskDefinition="web", schedulingStrategy="DAEMON", desiredCount=1)
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=1,
                           deploymentConfiguration={"minimumHealthyPercent": 150})
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=1,
                           placementStrategy=[{"type": "spread"}])  # spread needs a field
    ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=1, clientToken="tok")
    again = ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=1, clientToken="tok")
    assert again["service"]["serviceName"] == "a"
    with pytest.raises(ecs.exceptions.InvalidParameterException) as excinfo:
        ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=1)
    assert "not idempotent" in str(excinfo.value)
    with pytest.raises(ecs.exceptions.InvalidParameterException) as excinfo:
        ecs.delete_service(service="a")
    assert "scaled above 0" in str(excinfo.value)
    with pytest.raises(ecs.exceptions.ClusterContainsServicesException):
        ecs.delete_cluster(cluster="default")
    assert ecs.delete_service(service="a", force=True)["service"]["status"] in ("DRAINING", "INACTIVE")
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(service="a", desiredCount=2)
    wait_for(lambda: describe(ecs, "a")["status"] == "INACTIVE", what="INACTIVE")
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(service="a", desiredCount=2)
    ecs.delete_cluster(cluster="default")  # no services left, no instances


def test_list_services_paging_and_filters(ecs):
    register_task_definition(ecs)
    for i in range(5):
        ecs.create_service(serviceName=f"s{i}", taskDefinition="web", desiredCount=0)
    ecs.create_service(serviceName="daemon", taskDefinition="web", schedulingStrategy="DAEMON")
    first = ecs.list_services(maxResults=4)
    assert len(first["serviceArns"]) == 4 and first["nextToken"]
    rest = ecs.list_services(maxResults=4, nextToken=first["nextToken"])
    assert len(rest["serviceArns"]) == 2 and "nextToken" not in rest
    assert ecs.list_services(schedulingStrategy="DAEMON")["serviceArns"] == [
        "arn:aws:ecs:us-east-1:123456789012:service/default/daemon"]
    assert len(ecs.list_services(launchType="EC2", schedulingStrategy="REPLICA")["serviceArns"]) == 5
    ecs.delete_service(service="s0")  # desiredCount 0: no force needed
    paginated = [a for page in ecs.get_paginator("list_services").paginate() for a in page["serviceArns"]]
    assert len(paginated) == 5 and not any(a.endswith("/s0") for a in paginated)


def test_update_service_scales_and_redeploys(ecs):
    register_instance(ecs)
    register_task_definition(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)
    wait_for(lambda: describe(ecs, "web")["pendingCount"] == 1, what="1 pending")
    svc = ecs.update_service(service="web", desiredCount=3)["service"]
    assert svc["desiredCount"] == 3 and len(svc["deployments"]) == 1
    wait_for(lambda: describe(ecs, "web")["pendingCount"] == 3, what="3 pending")
    td2 = register_task_definition(ecs)
    svc = ecs.update_service(service="web", taskDefinition="web")["service"]
    assert svc["taskDefinition"] == td2
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert svc["deployments"][0]["taskDefinition"] == td2
    # pending tasks of the old deployment cost no health: all asked to stop at once
    # (with no agent they never reach STOPPED, so the old deployment stays listed)
    svc = wait_for(lambda: (s := describe(ecs, "web")) and s["deployments"][0]["pendingCount"] == 3
                   and s["deployments"][1]["desiredCount"] == 0 and s, what="old deployment drained")
    assert svc["pendingCount"] == 3
    svc = ecs.update_service(service="web", forceNewDeployment=True)["service"]
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY", "ACTIVE", "ACTIVE"]
    assert svc["deployments"][0]["taskDefinition"] == td2
    ecs.update_service(service="web", desiredCount=0)
    wait_for(lambda: ecs.list_tasks(serviceName="web")["taskArns"] == [], what="scale to 0")
    stopped = ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    task = ecs.describe_tasks(tasks=stopped[:1])["tasks"][0]
    assert task["stopCode"] == "ServiceSchedulerInitiated"
    assert task["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/")


def test_unplaceable_event(ecs):
    register_task_definition(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)
    svc = wait_for(lambda: (s := describe(ecs, "web")) and s["events"] and s, what="event")
    assert svc["events"][0]["message"] == (
        "(service web) was unable to place a task because no container instance met all of its "
        "requirements. Reason: No Container Instances were found in your cluster.")
    register_instance(ecs, cpu=128)
    ecs.update_service(service="web", forceNewDeployment=True)
    svc = wait_for(lambda: (s := describe(ecs, "web")) and "closest" in s["events"][0]["message"] and s,
                   what="closest-match event")
    assert "has insufficient CPU units available" in svc["events"][0]["message"]
