"""Service deployments with real containers: a rollout to a new revision is
a SUCCESSFUL service deployment whose containers run the new revision, and a
rollout whose containers keep failing is rolled back by
StopServiceDeployment to the revision before it."""

import pytest

from conftest import TEST_IMAGE
from helpers import wait_for

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]

pytestmark = pytest.mark.server_args("--service-interval", "0.2")


def register(ecs, command=LOOP, version="1"):
    return ecs.register_task_definition(family="web", containerDefinitions=[{
        "name": "main", "image": TEST_IMAGE, "memory": 32, "essential": True, "command": command,
        "environment": [{"name": "VERSION", "value": version}]}])["taskDefinition"]["taskDefinitionArn"]


def deployment(ecs, arn):
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def status_is(ecs, arn, status):
    return lambda: (lambda d: d if d["status"] == status else None)(deployment(ecs, arn))


def versions(ecs, docker_client):
    """VERSION of every running container of the service's RUNNING tasks."""
    arns = ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
    found = []
    for task in ecs.describe_tasks(tasks=arns)["tasks"] if arns else []:
        for c in docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={task['taskArn']}"}):
            env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
            found.append(env.get("VERSION"))
    return sorted(found)


def test_rollout_and_rollback_by_stop_service_deployment(server, docker_agent, docker_client):
    ecs = server.client()
    v1 = register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
    (first,) = ecs.list_service_deployments(service="web")["serviceDeployments"]
    wait_for(status_is(ecs, first["serviceDeploymentArn"], "SUCCESSFUL"), timeout=60, what="v1 deployed")

    v2 = register(ecs, version="2")
    ecs.update_service(service="web", taskDefinition=v2)
    rollout = ecs.list_service_deployments(service="web")["serviceDeployments"][0]
    done = wait_for(status_is(ecs, rollout["serviceDeploymentArn"], "SUCCESSFUL"), timeout=90, what="v2 rollout")
    assert [s["arn"] for s in done["sourceServiceRevisions"]] == [first["targetServiceRevisionArn"]]
    assert done["targetServiceRevision"]["runningTaskCount"] == 2
    wait_for(lambda: versions(ecs, docker_client) == ["2", "2"], what="v2 containers only")

    broken = register(ecs, command=["sh", "-c", "exit 3"], version="3")
    ecs.update_service(service="web", taskDefinition=broken)
    bad = ecs.list_service_deployments(service="web")["serviceDeployments"][0]
    wait_for(lambda: any(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(
        tasks=ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"] or ["none"])["tasks"]),
        timeout=60, what="a v3 task to fail")
    assert deployment(ecs, bad["serviceDeploymentArn"])["status"] == "IN_PROGRESS"
    ecs.stop_service_deployment(serviceDeploymentArn=bad["serviceDeploymentArn"], stopType="ROLLBACK")
    back = wait_for(status_is(ecs, bad["serviceDeploymentArn"], "ROLLBACK_SUCCESSFUL"), timeout=90,
                    what="rolled back to v2")
    assert back["rollback"]["serviceRevisionArn"] == rollout["targetServiceRevisionArn"]
    svc = ecs.describe_services(services=["web"])["services"][0]
    assert svc["taskDefinition"] == v2 and svc["runningCount"] == 2
    wait_for(lambda: versions(ecs, docker_client) == ["2", "2"], what="v2 containers after the rollback")
    assert v1 != v2


def test_blue_green_paused_hook_continued(server, docker_agent, docker_client):
    """A BLUE_GREEN deployment with a PAUSE hook after scale-up: both
    revisions' containers run while it waits; ContinueServiceDeployment
    lets it finish, and only green's containers are left."""
    ecs = server.client()
    bg = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
          "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}]}
    register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1, deploymentConfiguration=bg)
    (first,) = ecs.list_service_deployments(service="web")["serviceDeployments"]
    hook = wait_for(lambda: deployment(ecs, first["serviceDeploymentArn"]).get("lifecycleHookDetails"),
                    timeout=60, what="the first deployment's pause")[0]
    ecs.continue_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"], hookId=hook["hookId"])
    wait_for(status_is(ecs, first["serviceDeploymentArn"], "SUCCESSFUL"), timeout=60, what="v1 deployed")

    v2 = register(ecs, version="2")
    ecs.update_service(service="web", taskDefinition=v2)
    rollout = ecs.list_service_deployments(service="web")["serviceDeployments"][0]["serviceDeploymentArn"]
    paused = wait_for(lambda: (d := deployment(ecs, rollout)).get("lifecycleHookDetails") and d, timeout=60,
                      what="the pause after green's scale-up")
    assert paused["lifecycleStage"] == "POST_SCALE_UP"
    wait_for(lambda: versions(ecs, docker_client) == ["1", "2"], what="blue and green containers side by side")
    ecs.continue_service_deployment(serviceDeploymentArn=rollout, hookId=paused["lifecycleHookDetails"][0]["hookId"],
                                    action="CONTINUE")
    wait_for(status_is(ecs, rollout, "SUCCESSFUL"), timeout=60, what="the blue/green deployment")
    wait_for(lambda: versions(ecs, docker_client) == ["2"], what="green's container only")
