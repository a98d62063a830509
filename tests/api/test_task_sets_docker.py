"""Task sets with real containers: an EXTERNAL service's task set scaled to
50 % of the service runs half its desiredCount as Docker containers of its
own task definition, beside the primary task set's."""

import pytest

from conftest import TEST_IMAGE
from helpers import wait_for

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]

pytestmark = pytest.mark.server_args("--service-interval", "0.2")


def register(ecs, version):
    return ecs.register_task_definition(family=f"web{version}", containerDefinitions=[{
        "name": "main", "image": TEST_IMAGE, "memory": 32, "essential": True, "command": LOOP,
        "environment": [{"name": "VERSION", "value": version}]}])["taskDefinition"]["taskDefinitionArn"]


def versions(docker_client, instance):
    """VERSION of each running container on the agent's instance."""
    return sorted(dict(e.split("=", 1) for e in c.attrs["Config"]["Env"]).get("VERSION")
                  for c in docker_client.containers.list(
                      filters={"label": f"com.portside.container-instance-arn={instance}"}, ignore_removed=True))


def test_task_set_scaled_to_half(server, docker_agent, docker_client):
    ecs = server.client()
    blue, green = register(ecs, "1"), register(ecs, "2")
    ecs.create_service(serviceName="web", desiredCount=4, deploymentController={"type": "EXTERNAL"})
    first = ecs.create_task_set(cluster="default", service="web", taskDefinition=blue)["taskSet"]
    ecs.update_service_primary_task_set(cluster="default", service="web", primaryTaskSet=first["id"])
    wait_for(lambda: versions(docker_client, docker_agent.instance_arn) == ["1"] * 4, timeout=60,
             what="the primary task set's 4 containers")
    second = ecs.create_task_set(cluster="default", service="web", taskDefinition=green,
                                 scale={"value": 50.0, "unit": "PERCENT"})["taskSet"]
    assert second["computedDesiredCount"] == 2
    wait_for(lambda: versions(docker_client, docker_agent.instance_arn) == ["1"] * 4 + ["2"] * 2, timeout=60,
             what="50 % of 4: two containers of the second task set")
    wait_for(lambda: ecs.describe_task_sets(cluster="default", service="web", taskSets=[second["id"]])["taskSets"][0][
        "stabilityStatus"] == "STEADY_STATE", what="the second task set steady")
    ecs.update_task_set(cluster="default", service="web", taskSet=second["id"],
                        scale={"value": 25.0, "unit": "PERCENT"})
    wait_for(lambda: versions(docker_client, docker_agent.instance_arn) == ["1"] * 4 + ["2"], timeout=60,
             what="25 % of 4: one container left")
