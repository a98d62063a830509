"""DescribeClusters include=STATISTICS splits tasks (running, pending) and
services (active, draining) into EC2 and Fargate, as the Cluster shape's
`statistics` documents."""

import pytest

from helpers import register_instance, register_task_definition, resources
from portside.domain.fargate import FARGATE_ATTRIBUTE, FARGATE_CLUSTER

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}}


def statistics(ecs):
    cluster = ecs.describe_clusters(clusters=["default"], include=["STATISTICS"])["clusters"][0]
    return {s["name"]: int(s["value"]) for s in cluster["statistics"]}


def test_statistics_split_ec2_and_fargate(server):
    ecs = server.client()
    ecs.create_cluster()
    register_instance(ecs)
    ecs.register_container_instance(  # a host offering Fargate capacity, as `portside agent --fargate` registers
        cluster=FARGATE_CLUSTER, totalResources=resources(),
        attributes=[{"name": FARGATE_ATTRIBUTE, "value": "true"}])
    register_task_definition(ecs)
    ecs.register_task_definition(
        family="f", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])
    assert statistics(ecs) == dict.fromkeys(
        ["runningEC2TasksCount", "runningFargateTasksCount", "pendingEC2TasksCount", "pendingFargateTasksCount",
         "activeEC2ServiceCount", "activeFargateServiceCount", "drainingEC2ServiceCount",
         "drainingFargateServiceCount"], 0)
    ecs.run_task(taskDefinition="web", count=2)
    fargate = ecs.run_task(taskDefinition="f", launchType="FARGATE", networkConfiguration=NETWORK, count=3)
    assert len(fargate["tasks"]) == 3, fargate["failures"]
    ecs.create_service(serviceName="ec2", taskDefinition="web", desiredCount=0)
    ecs.create_service(serviceName="fg", taskDefinition="f", desiredCount=0, launchType="FARGATE",
                       networkConfiguration=NETWORK)
    ecs.create_service(serviceName="gone", taskDefinition="f", desiredCount=0, launchType="FARGATE",
                       networkConfiguration=NETWORK)
    ecs.delete_service(service="gone")
    stats = statistics(ecs)
    assert (stats["pendingEC2TasksCount"], stats["pendingFargateTasksCount"]) == (2, 3)
    assert (stats["runningEC2TasksCount"], stats["runningFargateTasksCount"]) == (0, 0)
    assert (stats["activeEC2ServiceCount"], stats["activeFargateServiceCount"]) == (1, 1)
    assert stats["drainingEC2ServiceCount"] + stats["drainingFargateServiceCount"] <= 1
