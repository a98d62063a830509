"""Daemons and daemon task definitions through boto3, with fake-runtime
agents joined to Managed Instances capacity providers: one task per instance
(instances registered later included), a new revision rolled out instance by
instance, the circuit breaker rolling back, a daemon task leaving a draining
instance last, deletion, and every operation's errors."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess
from helpers import aws_ecs, refused, register_task_definition, wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

MANAGED = {"infrastructureRoleArn": "arn:aws:iam::123456789012:role/infra",
           "instanceLaunchTemplate": {"ec2InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/p",
                                      "networkConfiguration": {"subnets": ["subnet-1"]}}}
PREFIX = "arn:aws:ecs:us-east-1:123456789012:"
ASG = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/asg-a"


@pytest.fixture
def ecs(ecs, default_cluster):
    """A client, and two Managed Instances providers of the default cluster."""
    for name in ("mi", "mi2"):
        ecs.create_capacity_provider(name=name, cluster="default", managedInstancesProvider=MANAGED)
    return ecs


@pytest.fixture
def agents(server, tmp_path):
    started = []

    def start(n, provider="mi"):
        made = [AgentProcess(server, tmp_path / f"agent{len(started) + i}", "--runtime", "fake",
                             "--cpu-units", "2048", "--memory-mib", "4096",
                             "--capacity-provider", provider, "--stop-timeout", "1").start() for i in range(n)]
        started.extend(made)
        return [a.wait_registered() for a in made]

    yield start
    for a in started:
        a.stop()


def register(ecs, family="agent", command=None, **extra):
    container = {"name": "agent", "image": "busybox", "memory": 64, "essential": True}
    if command:
        container["command"] = command
    return ecs.register_daemon_task_definition(family=family, containerDefinitions=[container],
                                               **extra)["daemonTaskDefinitionArn"]


def daemon_tasks(ecs, desired="RUNNING"):
    arns = ecs.list_tasks(desiredStatus=desired)["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t.get("group", "").startswith("daemon:")]


def running_on(ecs, instances, definition):
    """Exactly one RUNNING task of `definition` on each of `instances`, and no other daemon task."""
    tasks = daemon_tasks(ecs)
    ok = (sorted(t["containerInstanceArn"] for t in tasks) == sorted(instances)
          and all(t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == definition for t in tasks))
    return tasks if ok else None


def deployment(ecs, arn):
    return ecs.describe_daemon_deployments(daemonDeploymentArns=[arn])["daemonDeployments"][0]


def test_daemon_task_definitions(ecs):
    first = register(ecs, cpu="256", memory="512", pidMode="shared", tags=[{"key": "team", "value": "obs"}],
                     volumes=[{"name": "logs", "host": {"sourcePath": "/var/log"}}])
    assert first == PREFIX + "daemon-task-definition/agent:1"
    second = register(ecs)
    assert second.endswith("agent:2")
    register(ecs, family="other")
    doc = ecs.describe_daemon_task_definition(daemonTaskDefinition=first)["daemonTaskDefinition"]
    assert (doc["family"], doc["revision"], doc["status"], doc["cpu"], doc["memory"], doc["pidMode"]) == (
        "agent", 1, "ACTIVE", "256", "512", "shared")
    assert doc["containerDefinitions"][0]["image"] == "busybox"
    assert doc["registeredBy"].startswith("arn:aws:iam::123456789012:")
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition="agent")["daemonTaskDefinition"][
        "daemonTaskDefinitionArn"] == second
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition="agent:1")["daemonTaskDefinition"][
        "revision"] == 1
    assert ecs.list_tags_for_resource(resourceArn=first)["tags"] == [{"key": "team", "value": "obs"}]

    listed = ecs.list_daemon_task_definitions()["daemonTaskDefinitions"]
    assert [d["arn"].rsplit("/", 1)[1] for d in listed] == ["agent:1", "agent:2", "other:1"]
    assert [d["arn"].rsplit("/", 1)[1] for d in ecs.list_daemon_task_definitions(
        sort="DESC", familyPrefix="ag")["daemonTaskDefinitions"]] == ["agent:2", "agent:1"]
    assert [d["arn"].rsplit("/", 1)[1] for d in ecs.list_daemon_task_definitions(
        revision="LAST_REGISTERED")["daemonTaskDefinitions"]] == ["agent:2", "other:1"]
    page = ecs.list_daemon_task_definitions(maxResults=2)
    assert len(page["daemonTaskDefinitions"]) == 2
    assert [d["arn"].rsplit("/", 1)[1] for d in ecs.list_daemon_task_definitions(
        nextToken=page["nextToken"])["daemonTaskDefinitions"]] == ["other:1"]

    assert ecs.delete_daemon_task_definition(daemonTaskDefinition="agent:2")["daemonTaskDefinitionArn"] == second
    gone = ecs.describe_daemon_task_definition(daemonTaskDefinition=second)["daemonTaskDefinition"]
    assert gone["status"] == "DELETE_IN_PROGRESS" and gone["deleteRequestedAt"]
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition="agent")["daemonTaskDefinition"][
        "revision"] == 1  # the latest ACTIVE one
    assert [d["arn"].rsplit("/", 1)[1] for d in ecs.list_daemon_task_definitions(
        status="DELETE_IN_PROGRESS")["daemonTaskDefinitions"]] == ["agent:2"]
    assert len(ecs.list_daemon_task_definitions(status="ALL")["daemonTaskDefinitions"]) == 3
    assert refused(ecs.delete_daemon_task_definition, daemonTaskDefinition="agent:2")[0] == "ClientException"
    assert refused(ecs.delete_daemon_task_definition, daemonTaskDefinition="agent")[0] == "ClientException"
    assert refused(ecs.delete_daemon_task_definition, daemonTaskDefinition="agent:9")[0] == "ClientException"
    assert refused(ecs.describe_daemon_task_definition, daemonTaskDefinition="nope")[0] == "ClientException"


@pytest.mark.parametrize("kw, words", [
    ({"family": "bad family"}, "Family contains invalid characters"),
    ({"containerDefinitions": [{"name": "a", "image": "busybox", "memory": 64,
                                "firelensConfiguration": {"type": "fluentbit"}}]},
     "'firelensConfiguration' (container 'a') is not supported by Portside"),
    ({"volumes": [{"name": "v", "logDriverVolumeConfiguration": {"driver": "json-file"}}]},
     "'logDriverVolumeConfiguration' (volume 'v') is not supported by Portside"),
    ({"containerDefinitions": [{"name": "a", "image": "busybox"}]}, "memory"),
])
def test_register_refusals(ecs, kw, words):
    params = {"family": "agent", "containerDefinitions": [{"name": "a", "image": "busybox", "memory": 64}]} | kw
    code, message = refused(ecs.register_daemon_task_definition, **params)
    assert code == "ClientException" and words in message, message


def test_create_refusals(ecs, server):
    definition = register(ecs)
    ecs.create_capacity_provider(name="asg", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    base = {"daemonName": "d", "daemonTaskDefinitionArn": definition,
            "capacityProviderArns": [PREFIX + "capacity-provider/mi"]}
    for kw, code, words in [
        ({"capacityProviderArns": [PREFIX + "capacity-provider/asg"]}, "InvalidParameterException",
         "only supported for Amazon ECS Managed Instances Capacity Providers"),
        ({"capacityProviderArns": ["FARGATE"]}, "InvalidParameterException", "Managed Instances"),
        ({"capacityProviderArns": ["nope"]}, "InvalidParameterException", "does not exist"),
        ({"capacityProviderArns": []}, "InvalidParameterException", "at least one"),
        ({"daemonTaskDefinitionArn": "nope:3"}, "ClientException", "does not exist"),
        ({"daemonName": "bad name"}, "InvalidParameterException", "Daemon name"),
        ({"clusterArn": "nope"}, "ClusterNotFoundException", ""),
        ({"deploymentConfiguration": {"alarms": {"enable": True, "alarmNames": ["a"]}}},
         "InvalidParameterException", "alarms"),
        ({"deploymentConfiguration": {"drainPercent": 120.0}}, "InvalidParameterException", "drainPercent"),
        ({"deploymentConfiguration": {"bakeTimeInMinutes": -1}}, "InvalidParameterException", "bakeTimeInMinutes"),
        ({"enableECSManagedTags": True}, "InvalidParameterException", "enableECSManagedTags"),
        ({"clientToken": "x" * 37}, "InvalidParameterException", "clientToken"),
    ]:
        got, message = refused(ecs.create_daemon, **(base | kw))
        assert got == code and words in message, (kw, message)
    ecs.create_cluster(clusterName="other")
    other = server.client()
    other.create_capacity_provider(name="mo", cluster="other", managedInstancesProvider=MANAGED)
    assert "not associated with cluster default" in refused(
        ecs.create_daemon, **(base | {"capacityProviderArns": ["mo"]}))[1]
    assert ecs.list_daemons()["daemonSummariesList"] == []
    ecs.delete_daemon_task_definition(daemonTaskDefinition=definition)
    assert "not ACTIVE" in refused(ecs.create_daemon, **base)[1]


def test_unknown_daemons_and_deployments(ecs):
    missing = PREFIX + "daemon/default/nope"
    for call in (ecs.describe_daemon, ecs.delete_daemon):
        assert refused(call, daemonArn=missing)[0] == "DaemonNotFoundException"
    # ListDaemonDeployments declares no DaemonNotFoundException in botocore's model
    assert refused(ecs.list_daemon_deployments, daemonArn=missing)[0] == "ClientException"
    assert refused(ecs.update_daemon, daemonArn=missing, daemonTaskDefinitionArn="x:1",
                   capacityProviderArns=["mi"])[0] == "DaemonNotFoundException"
    assert refused(ecs.describe_daemon, daemonArn=PREFIX + "daemon/nope/x")[0] == "ClusterNotFoundException"
    bogus = PREFIX + "daemon-deployment/default/nope/1"
    assert ecs.describe_daemon_deployments(daemonDeploymentArns=[bogus])["failures"] == [
        {"arn": bogus, "reason": "MISSING"}]
    rev = PREFIX + "daemon-revision/default/nope/1"
    assert ecs.describe_daemon_revisions(daemonRevisionArns=[rev])["failures"] == [{"arn": rev, "reason": "MISSING"}]


def test_one_task_per_instance_rollout_and_delete(ecs, agents):
    first = agents(2)
    agents(1, provider="mi2")  # another provider's instance gets none
    v1 = register(ecs, cpu="128", memory="128")
    made = ecs.create_daemon(daemonName="logs", daemonTaskDefinitionArn=v1, capacityProviderArns=["mi"],
                             tags=[{"key": "team", "value": "obs"}], propagateTags="DAEMON",
                             enableExecuteCommand=True, clientToken="tok-1",
                             deploymentConfiguration={"drainPercent": 50.0})
    arn = made["daemonArn"]
    assert arn == PREFIX + "daemon/default/logs" and made["status"] == "ACTIVE"
    assert made["deploymentArn"].startswith(PREFIX + "daemon-deployment/default/logs/")
    # a retried CreateDaemon answers the same; another one with the name is refused
    assert ecs.create_daemon(daemonName="logs", daemonTaskDefinitionArn=v1, capacityProviderArns=["mi"],
                             clientToken="tok-1")["deploymentArn"] == made["deploymentArn"]
    assert refused(ecs.create_daemon, daemonName="logs", daemonTaskDefinitionArn=v1,
                   capacityProviderArns=["mi"])[0] == "InvalidParameterException"

    tasks = wait_for(lambda: running_on(ecs, first, v1), what="a daemon task on each instance")
    assert all(t["group"] == "daemon:logs" and t["startedBy"].startswith("ecs-daemon/") for t in tasks)
    assert all(t["capacityProviderName"] == "mi" and t["launchType"] == "EC2" for t in tasks)
    assert all(t["enableExecuteCommand"] for t in tasks)
    assert ecs.list_tags_for_resource(resourceArn=tasks[0]["taskArn"])["tags"] == [{"key": "team", "value": "obs"}]
    done = wait_for(lambda: (d := deployment(ecs, made["deploymentArn"]))["status"] == "SUCCESSFUL" and d,
                    what="the first deployment")
    target = done["targetDaemonRevision"]
    assert target["totalRunningInstanceCount"] == 2 and target["totalWithoutDaemonInstanceCount"] == 0
    assert target["capacityProviders"] == [{"arn": PREFIX + "capacity-provider/mi", "runningInstanceCount": 2,
                                            "withoutDaemonInstanceCount": 0, "drainingInstanceCount": 0}]
    assert done["sourceDaemonRevisions"] == [] and done["circuitBreaker"]["status"] == "MONITORING_COMPLETE"
    assert done["deploymentConfiguration"]["drainPercent"] == 50.0
    revision = ecs.describe_daemon_revisions(daemonRevisionArns=[target["arn"]])["daemonRevisions"][0]
    assert (revision["daemonTaskDefinitionArn"], revision["daemonArn"], revision["propagateTags"],
            revision["enableExecuteCommand"], revision["critical"]) == (v1, arn, "DAEMON", True, True)
    assert revision["containerImages"] == [{"containerName": "agent", "image": "busybox"}]

    shown = ecs.describe_daemon(daemonArn=arn)["daemon"]
    assert shown["status"] == "ACTIVE" and shown["deploymentArn"] == made["deploymentArn"]
    assert shown["currentRevisions"] == [{"arn": target["arn"], "totalRunningCount": 2, "totalWithoutDaemonCount": 0,
                                          "capacityProviders": [{"arn": PREFIX + "capacity-provider/mi",
                                                                 "runningCount": 2, "withoutDaemonCount": 0}]}]
    assert [d["daemonArn"] for d in ecs.list_daemons()["daemonSummariesList"]] == [arn]
    assert ecs.list_daemons(capacityProviderArns=["mi2"])["daemonSummariesList"] == []

    # an instance registered later gets its task
    later = agents(1)
    wait_for(lambda: running_on(ecs, first + later, v1), what="a task on the later instance")

    # a new revision replaces the tasks instance by instance (drainPercent 50 of 3: one at a time)
    v2 = register(ecs, command=["sleep", "3600"])
    updated = ecs.update_daemon(daemonArn=arn, daemonTaskDefinitionArn=v2, capacityProviderArns=["mi"],
                                deploymentConfiguration={"drainPercent": 0.0})
    assert updated["deploymentArn"] != made["deploymentArn"]
    most_at_once = 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        tasks = daemon_tasks(ecs)
        healthy = [t for t in tasks if t["lastStatus"] == "RUNNING"]
        most_at_once = max(most_at_once, 3 - len(healthy))
        if running_on(ecs, first + later, v2):
            break
        time.sleep(0.1)
    assert running_on(ecs, first + later, v2)
    assert most_at_once <= 1  # never more than one instance without a RUNNING daemon task
    rolled = wait_for(lambda: (d := deployment(ecs, updated["deploymentArn"]))["status"] == "SUCCESSFUL" and d,
                      what="the second deployment")
    assert [s["arn"] for s in rolled["sourceDaemonRevisions"]] == [target["arn"]]
    listed = ecs.list_daemon_deployments(daemonArn=arn)["daemonDeployments"]
    assert [d["daemonDeploymentArn"] for d in listed] == [updated["deploymentArn"], made["deploymentArn"]]
    assert [d["status"] for d in listed] == ["SUCCESSFUL", "SUCCESSFUL"]
    assert ecs.list_daemon_deployments(daemonArn=arn, status=["STOPPED"])["daemonDeployments"] == []
    assert len(ecs.list_daemon_deployments(daemonArn=arn, maxResults=1)["daemonDeployments"]) == 1

    deleted = ecs.delete_daemon(daemonArn=arn)
    assert deleted["status"] == "DELETE_IN_PROGRESS"
    assert refused(ecs.update_daemon, daemonArn=arn, daemonTaskDefinitionArn=v2,
                   capacityProviderArns=["mi"])[0] == "DaemonNotActiveException"
    wait_for(lambda: not daemon_tasks(ecs), what="the daemon's tasks to stop")
    def gone():
        try:
            ecs.describe_daemon(daemonArn=arn)
        except ClientError as err:
            return err.response["Error"]["Code"] == "DaemonNotFoundException"
        return False

    wait_for(gone, what="the daemon to be gone")
    assert deployment(ecs, deleted["deploymentArn"])["status"] == "SUCCESSFUL"
    assert ecs.list_daemons()["daemonSummariesList"] == []


def test_circuit_breaker_rolls_back(ecs, agents):
    instances = agents(2)
    good = register(ecs)
    made = ecs.create_daemon(daemonName="d", daemonTaskDefinitionArn=good, capacityProviderArns=["mi"],
                             critical=False)
    wait_for(lambda: running_on(ecs, instances, good), what="the daemon")
    wait_for(lambda: deployment(ecs, made["deploymentArn"])["status"] == "SUCCESSFUL", what="first deployment")
    bad = register(ecs, command=["exit", "3"])
    updated = ecs.update_daemon(daemonArn=made["daemonArn"], daemonTaskDefinitionArn=bad,
                                capacityProviderArns=["mi"])
    back = wait_for(lambda: (d := deployment(ecs, updated["deploymentArn"]))["status"] == "ROLLBACK_SUCCESSFUL"
                    and d, what="the rollback")
    assert back["circuitBreaker"]["status"] == "TRIGGERED"
    assert back["circuitBreaker"]["failureCount"] >= back["circuitBreaker"]["threshold"] == 3
    assert back["rollback"]["rollbackTargetDaemonRevisionArn"] == back["sourceDaemonRevisions"][0]["arn"]
    wait_for(lambda: running_on(ecs, instances, good), what="the old revision back on every instance")
    # a non-critical daemon's failures leave its instances ACTIVE
    assert {i["status"] for i in ecs.describe_container_instances(containerInstances=instances)[
        "containerInstances"]} == {"ACTIVE"}


def test_critical_daemon_drains_its_instance_and_leaves_draining_instances_last(ecs, agents):
    instances = agents(2)
    definition = register(ecs)
    ecs.create_daemon(daemonName="d", daemonTaskDefinitionArn=definition, capacityProviderArns=["mi"])
    wait_for(lambda: running_on(ecs, instances, definition), what="the daemon")
    # an application task on the first instance: when it drains, the daemon task goes last
    app = register_task_definition(ecs, "app", cpu=128, memory=128)
    app_task = ecs.start_task(taskDefinition=app, containerInstances=[instances[0]])["tasks"][0]
    wait_for(lambda: ecs.describe_tasks(tasks=[app_task["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING",
             what="the app task")
    ecs.update_container_instances_state(containerInstances=[instances[0]], status="DRAINING")
    time.sleep(1.0)
    on_first = [t for t in daemon_tasks(ecs) if t["containerInstanceArn"] == instances[0]]
    assert on_first and on_first[0]["desiredStatus"] == "RUNNING"  # the app task still runs there
    ecs.stop_task(task=app_task["taskArn"])
    wait_for(lambda: not [t for t in daemon_tasks(ecs) if t["containerInstanceArn"] == instances[0]],
             what="the daemon task to leave the drained instance")


def test_critical_daemon_task_failing_drains_its_instance(ecs, agents):
    instances = agents(2)
    crashing = register(ecs, command=["sh", "-c", "sleep 2; exit 1"])
    ecs.create_daemon(daemonName="d", daemonTaskDefinitionArn=crashing, capacityProviderArns=["mi"])
    wait_for(lambda: {i["status"] for i in ecs.describe_container_instances(containerInstances=instances)[
        "containerInstances"]} == {"DRAINING"}, what="the instances to drain")
    time.sleep(1.0)
    assert daemon_tasks(ecs) == []  # nothing is started on a draining instance


def test_aws_cli_daemon_commands(ecs, server):
    arn = aws_ecs(server, "register-daemon-task-definition", "--family", "cli-agent", "--container-definitions",
                  json.dumps([{"name": "agent", "image": "busybox", "memory": 64}]))["daemonTaskDefinitionArn"]
    assert arn.endswith("daemon-task-definition/cli-agent:1")
    made = aws_ecs(server, "create-daemon", "--daemon-name", "cli", "--daemon-task-definition-arn", arn,
                   "--capacity-provider-arns", "mi")
    assert made["status"] == "ACTIVE"
    listed = aws_ecs(server, "list-daemon-deployments", "--daemon-arn", made["daemonArn"])["daemonDeployments"]
    assert [d["daemonDeploymentArn"] for d in listed] == [made["deploymentArn"]]
    shown = aws_ecs(server, "describe-daemon", "--daemon-arn", made["daemonArn"])["daemon"]
    assert shown["daemonArn"] == made["daemonArn"]
