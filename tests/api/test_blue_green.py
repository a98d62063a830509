"""BLUE_GREEN deployments (no load balancer) and PAUSE lifecycle hooks
through boto3, with fake-runtime agents: green started in full beside blue,
bakeTimeInMinutes honoured before blue is stopped, a paused hook shown by
DescribeServiceDeployments and continued or rolled back by
ContinueServiceDeployment, a hook's timeout taking its action, rollback by
StopServiceDeployment returning to blue, and the refusals."""

import time

import pytest

from conftest import AgentProcess
from helpers import refused, register_task_definition, wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

PAUSE_AFTER_SCALE_UP = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}


@pytest.fixture
def ecs(server, tmp_path):
    client = server.client()
    client.create_cluster()
    agents = [AgentProcess(server, tmp_path / f"agent{i}", "--runtime", "fake", "--cpu-units", "4096",
                           "--memory-mib", "8192", "--stop-timeout", "1").start() for i in range(2)]
    for a in agents:
        a.wait_registered()
    yield client
    for a in agents:
        a.stop()


def config(bake=0, hooks=None, **extra):
    given = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": bake, **extra}
    if hooks is not None:
        given["lifecycleHooks"] = hooks
    return given


def running(ecs, definition=None):
    arns = ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["lastStatus"] == "RUNNING"
            and (definition is None or t["taskDefinitionArn"] == definition)]


def current(ecs):
    return ecs.list_service_deployments(service="web")["serviceDeployments"][0]


def describe(ecs, arn):
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def deployed(ecs, v1):
    ecs.create_service(serviceName="web", taskDefinition=v1, desiredCount=2, deploymentConfiguration=config())
    first = current(ecs)
    wait_for(lambda: describe(ecs, first["serviceDeploymentArn"])["status"] == "SUCCESSFUL",
             what="the first deployment")
    return first


def test_green_in_full_then_blue_stopped(ecs):
    v1 = register_task_definition(ecs, "web", cpu=128, memory=128)
    first = deployed(ecs, v1)
    assert describe(ecs, first["serviceDeploymentArn"])["lifecycleStage"] == "CLEAN_UP"
    v2 = register_task_definition(ecs, "web", cpu=128, memory=128)
    ecs.update_service(service="web", taskDefinition=v2,
                       deploymentConfiguration={"bakeTimeInMinutes": 0, "maximumPercent": 100})
    rollout = current(ecs)["serviceDeploymentArn"]
    wait_for(lambda: describe(ecs, rollout)["status"] == "SUCCESSFUL", what="the blue/green deployment")
    assert len(running(ecs, v2)) == 2 and running(ecs, v1) == []
    done = describe(ecs, rollout)
    assert done["lifecycleStage"] == "CLEAN_UP"
    assert done["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"


def test_paused_hook_continued_and_bake_time(ecs):
    v1 = register_task_definition(ecs, "web", cpu=128, memory=128)
    deployed(ecs, v1)
    v2 = register_task_definition(ecs, "web", cpu=128, memory=128)
    ecs.update_service(service="web", taskDefinition=v2,
                       deploymentConfiguration=config(hooks=[PAUSE_AFTER_SCALE_UP], maximumPercent=100))
    rollout = current(ecs)["serviceDeploymentArn"]
    paused = wait_for(lambda: (d := describe(ecs, rollout)).get("lifecycleHookDetails") and d,
                      what="the hook to pause the deployment")
    (hook,) = paused["lifecycleHookDetails"]
    assert (hook["targetType"], hook["status"], hook["timeoutAction"]) == ("PAUSE", "AWAITING_ACTION", "ROLLBACK")
    assert hook["hookId"].startswith("ecs-pause-") and hook["expiresAt"].timestamp() > time.time() + 3600
    assert paused["status"] == "IN_PROGRESS" and paused["lifecycleStage"] == "POST_SCALE_UP"
    time.sleep(1.5)  # paused: green in full beside blue (maximumPercent 100 does not apply), nothing moves on
    assert len(running(ecs, v1)) == 2 and len(running(ecs, v2)) == 2
    assert describe(ecs, rollout)["status"] == "IN_PROGRESS"

    assert refused(ecs.continue_service_deployment, serviceDeploymentArn=rollout, hookId="ecs-pause-nope")[0] == \
        "InvalidParameterException"
    ecs.continue_service_deployment(serviceDeploymentArn=rollout, hookId=hook["hookId"], action="CONTINUE")
    wait_for(lambda: describe(ecs, rollout)["status"] == "SUCCESSFUL", what="the deployment to finish")
    assert describe(ecs, rollout)["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"
    assert running(ecs, v1) == [] and len(running(ecs, v2)) == 2
    # a hook already acted on, and a finished deployment, cannot be continued
    assert refused(ecs.continue_service_deployment, serviceDeploymentArn=rollout,
                   hookId=hook["hookId"])[0] == "InvalidParameterException"
    missing = rollout.rsplit("/", 1)[0] + "/nope"
    assert refused(ecs.continue_service_deployment, serviceDeploymentArn=missing,
                   hookId=hook["hookId"])[0] == "ServiceDeploymentNotFoundException"

    # bake time: with both revisions up, blue stays for bakeTimeInMinutes (here: at least a while)
    v3 = register_task_definition(ecs, "web", cpu=128, memory=128)
    ecs.update_service(service="web", taskDefinition=v3, deploymentConfiguration=config(bake=1, hooks=[]))
    baking = current(ecs)["serviceDeploymentArn"]
    wait_for(lambda: describe(ecs, baking).get("lifecycleStage") == "BAKE_TIME", what="the bake time")
    assert len(running(ecs, v2)) == 2 and len(running(ecs, v3)) == 2
    time.sleep(2)
    assert describe(ecs, baking)["lifecycleStage"] == "BAKE_TIME" and len(running(ecs, v2)) == 2


def test_rollback_returns_to_blue(ecs):
    v1 = register_task_definition(ecs, "web", cpu=128, memory=128)
    deployed(ecs, v1)
    blue = {t["taskArn"] for t in running(ecs, v1)}
    v2 = register_task_definition(ecs, "web", cpu=128, memory=128)
    ecs.update_service(service="web", taskDefinition=v2,
                       deploymentConfiguration=config(hooks=[PAUSE_AFTER_SCALE_UP]))
    rollout = current(ecs)["serviceDeploymentArn"]
    hook = wait_for(lambda: describe(ecs, rollout).get("lifecycleHookDetails"), what="the pause")[0]
    ecs.continue_service_deployment(serviceDeploymentArn=rollout, hookId=hook["hookId"], action="ROLLBACK")
    back = wait_for(lambda: (d := describe(ecs, rollout))["status"] == "ROLLBACK_SUCCESSFUL" and d,
                    what="the rollback")
    assert back["lifecycleHookDetails"][0]["status"] == "FAILED"
    assert running(ecs, v2) == []
    assert {t["taskArn"] for t in running(ecs, v1)} == blue  # blue's own tasks, never stopped
    assert ecs.describe_services(services=["web"])["services"][0]["taskDefinition"] == v1

    # StopServiceDeployment ROLLBACK while green is up: back to blue as well
    v3 = register_task_definition(ecs, "web", cpu=128, memory=128)
    ecs.update_service(service="web", taskDefinition=v3,
                       deploymentConfiguration=config(hooks=[PAUSE_AFTER_SCALE_UP]))
    third = current(ecs)["serviceDeploymentArn"]
    wait_for(lambda: describe(ecs, third).get("lifecycleHookDetails"), what="the pause")
    ecs.stop_service_deployment(serviceDeploymentArn=third, stopType="ROLLBACK")
    wait_for(lambda: describe(ecs, third)["status"] == "ROLLBACK_SUCCESSFUL", what="the second rollback")
    assert {t["taskArn"] for t in running(ecs, v1)} == blue and running(ecs, v3) == []


def test_hook_timeout_takes_its_action(ecs, server):
    v1 = register_task_definition(ecs, "web", cpu=128, memory=128)
    deployed(ecs, v1)
    v2 = register_task_definition(ecs, "web", cpu=128, memory=128)
    # the shortest timeout is a minute: CONTINUE at PRE_SCALE_UP lets it go on by itself
    ecs.update_service(service="web", taskDefinition=v2, deploymentConfiguration=config(hooks=[
        {"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"],
         "timeoutConfiguration": {"timeoutInMinutes": 1, "action": "CONTINUE"}}]))
    rollout = current(ecs)["serviceDeploymentArn"]
    hook = wait_for(lambda: describe(ecs, rollout).get("lifecycleHookDetails"), what="the pause")[0]
    assert hook["timeoutAction"] == "CONTINUE" and running(ecs, v2) == []
    done = wait_for(lambda: (d := describe(ecs, rollout))["status"] == "SUCCESSFUL" and d, timeout=100,
                    what="the timeout to continue the deployment")
    assert done["lifecycleHookDetails"][0]["status"] == "TIMED_OUT"


@pytest.mark.parametrize("given, words", [
    (config(hooks=[{"targetType": "AWS_LAMBDA", "lifecycleStages": ["PRE_SCALE_UP"],
                    "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "roleArn": "arn:aws:iam::123456789012:role/r"}]), "AWS_LAMBDA lifecycle hooks are not supported"),
    (config(hooks=[{"lifecycleStages": ["PRE_SCALE_UP"]}]), "AWS_LAMBDA lifecycle hooks are not supported"),
    (config(hooks=[{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}]),
     "PAUSE hooks cannot be configured at the TEST_TRAFFIC_SHIFT"),
    (config(hooks=[{"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"],
                    "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}]), "hookTargetArn"),
    ({"lifecycleHooks": [PAUSE_AFTER_SCALE_UP]}, "BLUE_GREEN"),
    ({"strategy": "BLUE_GREEN"}, "bakeTimeInMinutes must be provided"),
    ({"bakeTimeInMinutes": 5}, "bakeTimeInMinutes applies to the BLUE_GREEN"),
    (config(deploymentCircuitBreaker={"enable": True, "rollback": True}), "ROLLING deployment strategy"),
    ({"strategy": "CANARY"}, "Deployment strategy CANARY is not supported"),
])
def test_refusals(ecs, given, words):
    v1 = register_task_definition(ecs, "web", cpu=128, memory=128)
    code, message = refused(ecs.create_service, serviceName="web", taskDefinition=v1, desiredCount=1,
                            deploymentConfiguration=given)
    assert code == "InvalidParameterException" and words in message, message
