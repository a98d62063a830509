"""Service deployments and service revisions (ListServiceDeployments,
DescribeServiceDeployments, DescribeServiceRevisions, StopServiceDeployment)
through boto3 and the AWS CLI, with fake-runtime agents: every deployment the
service scheduler runs is one, from IN_PROGRESS to SUCCESSFUL, STOPPED or a
rollback, kept after it finished."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess, error_code
from helpers import aws_ecs, wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")


@pytest.fixture
def server(server):
    server.client().create_cluster()
    return server


@pytest.fixture
def agent(server, tmp_path):
    a = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--cpu-units", "4096",
                     "--memory-mib", "4096").start()
    a.wait_registered()
    yield a
    a.stop()


def register(ecs, family="app", memory=32, command=None):
    container = {"name": "app", "image": "fake", "cpu": 16, "memory": memory}
    if command:
        container["command"] = command
    return ecs.register_task_definition(family=family, containerDefinitions=[container])[
        "taskDefinition"]["taskDefinitionArn"]


def deployments(ecs, name, **kw):
    return ecs.list_service_deployments(service=name, **kw)["serviceDeployments"]


def describe(ecs, arn):
    out = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert out["failures"] == []
    return out["serviceDeployments"][0]


def status_is(ecs, arn, status):
    def check():
        d = describe(ecs, arn)
        return d if d["status"] == status else None
    return check


def test_a_rollout_is_a_service_deployment_from_source_to_target_revision(server, agent):
    ecs = server.client()
    first = register(ecs)
    svc = ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=2)["service"]
    (brief,) = deployments(ecs, "web")
    assert brief["serviceArn"] == svc["serviceArn"] and brief["clusterArn"] == svc["clusterArn"]
    assert brief["serviceDeploymentArn"].startswith(
        "arn:aws:ecs:us-east-1:123456789012:service-deployment/default/web/")
    assert brief["status"] in ("PENDING", "IN_PROGRESS", "SUCCESSFUL")
    assert svc["currentServiceDeployment"] == brief["serviceDeploymentArn"]
    done = wait_for(status_is(ecs, brief["serviceDeploymentArn"], "SUCCESSFUL"), what="first deployment")
    assert done["sourceServiceRevisions"] == []
    assert done["targetServiceRevision"]["requestedTaskCount"] == 2
    assert done["targetServiceRevision"]["runningTaskCount"] == 2
    assert done["finishedAt"] >= done["startedAt"] >= done["createdAt"] - datetime.timedelta(seconds=1)
    assert done["deploymentConfiguration"]["maximumPercent"] == 200
    assert done["deploymentCircuitBreaker"] == {"status": "DISABLED"}
    first_revision = done["targetServiceRevision"]["arn"]
    assert first_revision.startswith("arn:aws:ecs:us-east-1:123456789012:service-revision/default/web/")
    (revision,) = ecs.describe_service_revisions(serviceRevisionArns=[first_revision])["serviceRevisions"]
    assert revision["taskDefinition"] == first and revision["serviceArn"] == svc["serviceArn"]
    assert revision["launchType"] == "EC2"

    second = register(ecs)
    ecs.update_service(service="web", taskDefinition=second)
    newest, older = deployments(ecs, "web")
    assert older["serviceDeploymentArn"] == brief["serviceDeploymentArn"]
    assert newest["targetServiceRevisionArn"] != first_revision
    rollout = describe(ecs, newest["serviceDeploymentArn"])
    assert [s["arn"] for s in rollout["sourceServiceRevisions"]] == [first_revision]
    done = wait_for(status_is(ecs, newest["serviceDeploymentArn"], "SUCCESSFUL"), what="rollout")
    assert done["targetServiceRevision"]["runningTaskCount"] == 2
    (revision,) = ecs.describe_service_revisions(
        serviceRevisionArns=[done["targetServiceRevision"]["arn"]])["serviceRevisions"]
    assert revision["taskDefinition"] == second
    svc = ecs.describe_services(services=["web"])["services"][0]
    assert svc["currentServiceDeployment"] == newest["serviceDeploymentArn"]
    assert [r["arn"] for r in svc["currentServiceRevisions"]] == [done["targetServiceRevision"]["arn"]]
    assert svc["currentServiceRevisions"][0]["runningTaskCount"] == 2

    # filters and paging
    assert [d["status"] for d in deployments(ecs, "web", status=["SUCCESSFUL"])] == ["SUCCESSFUL"] * 2
    assert deployments(ecs, "web", status=["IN_PROGRESS"]) == []
    page = ecs.list_service_deployments(service="web", maxResults=1)
    assert len(page["serviceDeployments"]) == 1 and page["nextToken"]
    rest = ecs.list_service_deployments(service="web", maxResults=1, nextToken=page["nextToken"])
    assert [d["serviceDeploymentArn"] for d in rest["serviceDeployments"]] == [brief["serviceDeploymentArn"]]
    assert "nextToken" not in rest
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    assert deployments(ecs, "web", createdAt={"after": later}) == []
    assert len(deployments(ecs, "web", createdAt={"before": later})) == 2


def test_stop_service_deployment_rolls_back_to_the_previous_revision(server, agent):
    ecs = server.client()
    good = register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=2)
    (first,) = deployments(ecs, "web")
    wait_for(status_is(ecs, first["serviceDeploymentArn"], "SUCCESSFUL"), what="first deployment")
    with pytest.raises(ClientError) as err:  # finished: nothing to stop
        ecs.stop_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"], stopType="ROLLBACK")
    assert error_code(err) == "ConflictException"
    unplaceable = register(ecs, memory=100_000)  # no instance has this much memory: it never rolls out
    ecs.update_service(service="web", taskDefinition=unplaceable)
    rollout = deployments(ecs, "web")[0]
    assert describe(ecs, rollout["serviceDeploymentArn"])["status"] == "IN_PROGRESS"
    with pytest.raises(ClientError) as err:
        ecs.stop_service_deployment(serviceDeploymentArn=rollout["serviceDeploymentArn"], stopType="ABORT")
    assert error_code(err) == "InvalidParameterException"
    out = ecs.stop_service_deployment(serviceDeploymentArn=rollout["serviceDeploymentArn"], stopType="ROLLBACK")
    assert out["serviceDeploymentArn"] == rollout["serviceDeploymentArn"]
    stopping = describe(ecs, rollout["serviceDeploymentArn"])
    assert stopping["status"] in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL")
    assert stopping["rollback"]["serviceRevisionArn"] == first["targetServiceRevisionArn"]
    assert stopping["rollback"]["reason"]
    # asking again while it rolls back is accepted
    ecs.stop_service_deployment(serviceDeploymentArn=rollout["serviceDeploymentArn"])
    done = wait_for(status_is(ecs, rollout["serviceDeploymentArn"], "ROLLBACK_SUCCESSFUL"), what="rollback")
    assert done["finishedAt"]
    svc = ecs.describe_services(services=["web"])["services"][0]
    assert svc["taskDefinition"] == good and svc["runningCount"] == 2
    assert len(deployments(ecs, "web")) == 2  # the rollback is part of the deployment it undid
    assert svc["currentServiceRevisions"][0]["arn"] == first["targetServiceRevisionArn"]


def test_a_deployment_superseded_before_it_finished_is_stopped(server, agent):
    ecs = server.client()
    register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1)
    (first,) = deployments(ecs, "web")
    wait_for(status_is(ecs, first["serviceDeploymentArn"], "SUCCESSFUL"), what="first deployment")
    register(ecs, memory=100_000)
    ecs.update_service(service="web", taskDefinition="app:2")
    stuck = deployments(ecs, "web")[0]
    ecs.update_service(service="web", taskDefinition="app:1")
    latest, superseded, _ = deployments(ecs, "web")
    assert superseded["serviceDeploymentArn"] == stuck["serviceDeploymentArn"]
    assert superseded["status"] == "STOPPED" and superseded["statusReason"]
    stopped = describe(ecs, superseded["serviceDeploymentArn"])
    assert stopped["stoppedAt"] and stopped["finishedAt"]
    wait_for(status_is(ecs, latest["serviceDeploymentArn"], "SUCCESSFUL"), what="third deployment")


def test_circuit_breaker_rollback_is_reported_on_the_failed_deployment(server, agent):
    ecs = server.client()
    register(ecs, command=["sleep", "3600"])
    ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    (first,) = deployments(ecs, "web")
    wait_for(status_is(ecs, first["serviceDeploymentArn"], "SUCCESSFUL"), what="first deployment")
    register(ecs, command=["sh", "-c", "exit 1"])
    ecs.update_service(service="web", taskDefinition="app:2")
    failing = deployments(ecs, "web")[0]
    done = wait_for(status_is(ecs, failing["serviceDeploymentArn"], "ROLLBACK_SUCCESSFUL"), timeout=60,
                    what="circuit breaker rollback")
    assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert done["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert done["deploymentCircuitBreaker"]["threshold"] == 3
    assert done["rollback"]["serviceRevisionArn"] == first["targetServiceRevisionArn"]
    assert ecs.describe_services(services=["web"])["services"][0]["taskDefinition"].endswith(":1")


def test_errors(server, agent):
    ecs = server.client()
    register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1)
    (first,) = deployments(ecs, "web")
    with pytest.raises(ClientError) as err:
        ecs.list_service_deployments(service="nope")
    assert error_code(err) == "ServiceNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.list_service_deployments(service="web", cluster="nope")
    assert error_code(err) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.list_service_deployments(service="web", maxResults=101)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.list_service_deployments(service="web", nextToken="garbage")
    assert error_code(err) == "InvalidParameterException"
    missing = first["serviceDeploymentArn"][:-3] + "zzz"
    out = ecs.describe_service_deployments(serviceDeploymentArns=[missing, "not-an-arn"])
    assert out["serviceDeployments"] == []
    assert out["failures"] == [{"arn": missing, "reason": "MISSING"}, {"arn": "not-an-arn", "reason": "MISSING"}]
    with pytest.raises(ClientError) as err:
        ecs.describe_service_deployments(serviceDeploymentArns=[missing] * 21)
    assert error_code(err) == "InvalidParameterException"
    out = ecs.describe_service_revisions(serviceRevisionArns=[first["targetServiceRevisionArn"] + "9"])
    assert out["serviceRevisions"] == [] and out["failures"][0]["reason"] == "MISSING"
    with pytest.raises(ClientError) as err:
        ecs.stop_service_deployment(serviceDeploymentArn=missing)
    assert error_code(err) == "ServiceDeploymentNotFoundException"
    if describe(ecs, first["serviceDeploymentArn"])["status"] == "IN_PROGRESS":
        with pytest.raises(ClientError) as err:  # the first deployment has nothing to roll back to
            ecs.stop_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"])
        if describe(ecs, first["serviceDeploymentArn"])["status"] == "IN_PROGRESS":
            assert error_code(err) == "InvalidParameterException"
        else:  # it completed between the two calls: a deployment no longer in progress is a conflict
            assert error_code(err) == "ConflictException"
    # deleting the service stops what is still running; the history stays readable
    register(ecs, memory=100_000)
    ecs.update_service(service="web", taskDefinition="app:2")
    stuck = deployments(ecs, "web")[0]
    ecs.delete_service(service="web", force=True)
    assert describe(ecs, stuck["serviceDeploymentArn"])["status"] == "STOPPED"


def test_aws_cli_lists_and_describes_service_deployments(server, agent):
    ecs = server.client()
    register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1)
    listed = aws_ecs(server, "list-service-deployments", "--service", "web")["serviceDeployments"]
    assert len(listed) == 1
    arn = listed[0]["serviceDeploymentArn"]
    described = aws_ecs(server, "describe-service-deployments", "--service-deployment-arns", arn)
    assert described["serviceDeployments"][0]["serviceDeploymentArn"] == arn
    assert described["serviceDeployments"][0]["targetServiceRevision"]["arn"] == listed[0]["targetServiceRevisionArn"]


def test_deployment_configuration_members_not_acted_on_are_refused(server, agent):
    ecs = server.client()
    register(ecs)
    for config in ({"strategy": "BLUE_GREEN"},  # BLUE_GREEN needs its bakeTimeInMinutes
                   {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.0}},
                   {"bakeTimeInMinutes": 5},
                   {"lifecycleHooks": [{"targetType": "AWS_LAMBDA", "lifecycleStages": ["PRE_SCALE_UP"],
                                        "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}]},
                   {"alarms": {"alarmNames": ["a"], "enable": True, "rollback": True}},
                   {"deploymentCircuitBreaker": {"enable": True, "rollback": True,
                                                 "thresholdConfiguration": {"type": "COUNT", "value": 0}}}):
        with pytest.raises(ClientError) as err:
            ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1,
                               deploymentConfiguration=config)
        assert error_code(err) == "InvalidParameterException", config
    svc = ecs.create_service(serviceName="web", taskDefinition="app", desiredCount=1, deploymentConfiguration={
        "strategy": "ROLLING", "alarms": {"alarmNames": [], "enable": False, "rollback": False},
        "deploymentCircuitBreaker": {"enable": True, "rollback": False, "resetOnHealthyTask": False}})["service"]
    assert svc["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"]["resetOnHealthyTask"] is False
    # the breaker's threshold and reset are applied (domain/circuit_breaker.py), and shown as given
    other = ecs.create_service(serviceName="web2", taskDefinition="app", desiredCount=1, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": False, "resetOnHealthyTask": True,
                                     "thresholdConfiguration": {"type": "COUNT", "value": 7}}})["service"]
    assert other["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True, "rollback": False, "resetOnHealthyTask": True,
        "thresholdConfiguration": {"type": "COUNT", "value": 7}}
    (shown,) = deployments(ecs, "web2")
    assert describe(ecs, shown["serviceDeploymentArn"])["deploymentCircuitBreaker"]["threshold"] == 7
    ecs.delete_service(service="web2", force=True)
    with pytest.raises(ClientError) as err:
        ecs.update_service(service="web", deploymentConfiguration={"strategy": "CANARY"})
    assert error_code(err) == "InvalidParameterException"
    # a ROLLING deployment waits on no lifecycle hook
    (brief,) = deployments(ecs, "web")
    with pytest.raises(ClientError) as err:
        ecs.continue_service_deployment(serviceDeploymentArn=brief["serviceDeploymentArn"], hookId="h-1")
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.continue_service_deployment(serviceDeploymentArn=brief["serviceDeploymentArn"][:-2] + "zz",
                                        hookId="h-1")
    assert error_code(err) == "ServiceDeploymentNotFoundException"
