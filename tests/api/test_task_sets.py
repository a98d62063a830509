"""Task sets and the EXTERNAL deployment controller through boto3 and the
AWS CLI, with a fake-runtime agent: each task set's tasks run at its
computed count, scale as a percentage of the service's desiredCount, a
primary task set, deleting with and without force, and the errors."""

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess, error_code
from helpers import wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")


@pytest.fixture
def ecs(server, tmp_path):
    client = server.client()
    client.create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--cpu-units", "4096",
                         "--memory-mib", "4096").start()
    agent.wait_registered()
    yield client
    agent.stop()


def register(ecs, family):
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "app", "image": "fake", "cpu": 16, "memory": 32}])["taskDefinition"]["taskDefinitionArn"]


def task_set(ecs, arn):
    return ecs.describe_task_sets(cluster="default", service="web", taskSets=[arn])["taskSets"][0]


def steady(ecs, arn, count):
    def check():
        ts = task_set(ecs, arn)
        return ts if ts["stabilityStatus"] == "STEADY_STATE" and ts["runningCount"] == count else None
    return check


def test_task_sets_run_their_share_of_the_service(ecs):
    blue, green = register(ecs, "blue"), register(ecs, "green")
    svc = ecs.create_service(serviceName="web", desiredCount=4, deploymentController={"type": "EXTERNAL"})["service"]
    assert svc["deploymentController"] == {"type": "EXTERNAL"} and svc["deployments"] == []
    assert svc["taskSets"] == []
    first = ecs.create_task_set(cluster="default", service="web", taskDefinition=blue, externalId="blue-1")["taskSet"]
    assert first["id"].startswith("ecs-svc/") and first["status"] == "ACTIVE"
    assert first["taskSetArn"] == ("arn:aws:ecs:us-east-1:123456789012:task-set/default/web/" + first["id"])
    assert first["computedDesiredCount"] == 4 and first["scale"] == {"value": 100.0, "unit": "PERCENT"}
    assert first["externalId"] == "blue-1" and first["stabilityStatus"] == "STABILIZING"
    wait_for(steady(ecs, first["taskSetArn"], 4), what="blue at 4")
    primary = ecs.update_service_primary_task_set(
        cluster="default", service="web", primaryTaskSet=first["id"])["taskSet"]
    assert primary["status"] == "PRIMARY"
    assert ecs.describe_services(services=["web"])["services"][0]["taskDefinition"] == blue

    second = ecs.create_task_set(cluster="default", service="web", taskDefinition=green,
                                 scale={"value": 50, "unit": "PERCENT"})["taskSet"]
    assert second["computedDesiredCount"] == 2
    wait_for(steady(ecs, second["taskSetArn"], 2), what="green at 2")
    tasks = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]
    by_set = {}
    for t in tasks:
        by_set.setdefault(t["startedBy"], []).append(t["taskDefinitionArn"])
    assert by_set == {first["id"]: [blue] * 4, second["id"]: [green] * 2}
    svc = ecs.describe_services(services=["web"])["services"][0]
    assert svc["runningCount"] == 6 and len(svc["taskSets"]) == 2

    # scale: a percentage of desiredCount, rounded up
    ecs.update_task_set(cluster="default", service="web", taskSet=second["taskSetArn"],
                        scale={"value": 30, "unit": "PERCENT"})
    wait_for(steady(ecs, second["taskSetArn"], 2), what="30 % of 4 is 2")
    ecs.update_service(service="web", desiredCount=2)
    wait_for(steady(ecs, first["taskSetArn"], 2), what="blue follows desiredCount")
    wait_for(steady(ecs, second["taskSetArn"], 1), what="green is 30 % of 2, rounded up")

    # switch: green primary, blue deleted
    ecs.update_service_primary_task_set(cluster="default", service="web", primaryTaskSet=second["taskSetArn"])
    assert task_set(ecs, first["taskSetArn"])["status"] == "ACTIVE"
    with pytest.raises(ClientError) as err:
        ecs.delete_task_set(cluster="default", service="web", taskSet=first["taskSetArn"])
    assert error_code(err) == "InvalidParameterException"  # still scaled above 0
    with pytest.raises(ClientError) as err:
        ecs.delete_task_set(cluster="default", service="web", taskSet=second["taskSetArn"], force=True)
    assert error_code(err) == "InvalidParameterException"  # the primary
    gone = ecs.delete_task_set(cluster="default", service="web", taskSet=first["taskSetArn"], force=True)["taskSet"]
    assert gone["status"] == "DRAINING"
    wait_for(lambda: [ts["id"] for ts in ecs.describe_services(services=["web"])["services"][0]["taskSets"]]
             == [second["id"]], what="blue gone")
    assert {t["startedBy"] for t in ecs.describe_tasks(
        tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]} == {second["id"]}

    out = ecs.describe_task_sets(cluster="default", service="web", taskSets=[first["taskSetArn"], "ecs-svc/1"])
    assert out["taskSets"] == [] and [f["reason"] for f in out["failures"]] == ["MISSING", "MISSING"]
    ecs.delete_service(service="web", force=True)
    wait_for(lambda: ecs.describe_services(services=["web"])["services"][0]["status"] == "INACTIVE",
             what="service deleted")
    assert ecs.list_tasks(serviceName="web")["taskArns"] == []


def test_task_set_errors(ecs):
    blue = register(ecs, "blue")
    ecs.create_service(serviceName="ecs-controlled", taskDefinition=blue, desiredCount=0)
    with pytest.raises(ClientError) as err:
        ecs.create_task_set(cluster="default", service="ecs-controlled", taskDefinition=blue)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.create_service(serviceName="cd", taskDefinition=blue, desiredCount=0,
                           deploymentController={"type": "CODE_DEPLOY"})
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.create_service(serviceName="x", taskDefinition=blue, desiredCount=0,
                           deploymentController={"type": "EXTERNAL"})
    assert error_code(err) == "InvalidParameterException"  # task definitions come with task sets
    ecs.create_service(serviceName="web", desiredCount=1, deploymentController={"type": "EXTERNAL"})
    with pytest.raises(ClientError) as err:
        ecs.update_service(service="web", taskDefinition=blue)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.create_task_set(cluster="default", service="nope", taskDefinition=blue)
    assert error_code(err) == "ServiceNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.create_task_set(cluster="default", service="web", taskDefinition="missing:1")
    assert error_code(err) == "ClientException"
    with pytest.raises(ClientError) as err:
        ecs.create_task_set(cluster="default", service="web", taskDefinition=blue,
                            scale={"value": 150, "unit": "PERCENT"})
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.create_task_set(cluster="default", service="web", taskDefinition=blue, loadBalancers=[
            {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1",
             "containerName": "app", "containerPort": 80}])
    assert error_code(err) == "UnsupportedFeatureException"
    for call in (lambda: ecs.update_task_set(cluster="default", service="web", taskSet="ecs-svc/1", scale={"value": 1}),
                 lambda: ecs.delete_task_set(cluster="default", service="web", taskSet="ecs-svc/1"),
                 lambda: ecs.update_service_primary_task_set(cluster="default", service="web",
                                                             primaryTaskSet="ecs-svc/1")):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "TaskSetNotFoundException"
    token = ecs.create_task_set(cluster="default", service="web", taskDefinition=blue, clientToken="once")["taskSet"]
    again = ecs.create_task_set(cluster="default", service="web", taskDefinition=blue, clientToken="once")["taskSet"]
    assert again["id"] == token["id"]


def test_aws_cli_create_task_set(server, ecs):
    register(ecs, "blue")
    ecs.create_service(serviceName="web", desiredCount=2, deploymentController={"type": "EXTERNAL"})
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDPORTSIDETEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run([sys.executable, "-m", "awscli", "ecs", "create-task-set", "--cluster", "default",
                          "--endpoint-url", server.endpoint, "--service", "web", "--task-definition", "blue",
                          "--scale", "value=50,unit=PERCENT", "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)["taskSet"]
    assert created["computedDesiredCount"] == 1 and created["scale"] == {"value": 50.0, "unit": "PERCENT"}
    wait_for(steady(ecs, created["taskSetArn"], 1), what="the CLI's task set running")
