"""A daemon on two real-Docker agents joined to a Managed Instances
capacity provider: one container on each, rolled to a new revision on both,
and gone from both after DeleteDaemon."""

import signal

import docker.errors
import pytest

from conftest import TEST_IMAGE, AgentProcess
from helpers import wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
MANAGED = {"infrastructureRoleArn": "arn:aws:iam::123456789012:role/infra",
           "instanceLaunchTemplate": {"ec2InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/p",
                                      "networkConfiguration": {"subnets": ["subnet-1"]}}}


@pytest.fixture
def two_agents(server, tmp_path, test_image, docker_client):
    ecs = server.client()
    ecs.create_cluster()
    ecs.create_capacity_provider(name="mi", cluster="default", managedInstancesProvider=MANAGED)
    agents = [AgentProcess(server, tmp_path / f"agent{i}", "--runtime", "docker", "--stop-timeout", "2",
                           "--cpu-units", "512", "--memory-mib", "512", "--capacity-provider", "mi",
                           "--host-port-range", f"{42100 + 10 * i}-{42109 + 10 * i}").start()
              for i in range(2)]
    instances = [a.wait_registered() for a in agents]
    yield ecs, instances
    for agent in agents:
        agent.stop(signal.SIGKILL)
        for c in docker_client.api.containers(
                all=True, filters={"label": f"com.portside.container-instance-arn={agent.instance_arn}"}):
            try:
                docker_client.api.remove_container(c["Id"], force=True)
            except docker.errors.APIError:
                pass


def versions(docker_client, instances):
    """Per instance, the VERSION of each of its running daemon containers."""
    found = {}
    for arn in instances:
        found[arn] = sorted(
            dict(e.split("=", 1) for e in c.attrs["Config"]["Env"]).get("VERSION")
            for c in docker_client.containers.list(filters={"label": f"com.portside.container-instance-arn={arn}"},
                                                  ignore_removed=True))
    return found


def register(ecs, version):
    return ecs.register_daemon_task_definition(family="node-agent", containerDefinitions=[{
        "name": "agent", "image": TEST_IMAGE, "memory": 32, "essential": True, "command": LOOP,
        "environment": [{"name": "VERSION", "value": version}]}])["daemonTaskDefinitionArn"]


def test_daemon_on_two_agents(two_agents, docker_client):
    ecs, instances = two_agents
    v1 = register(ecs, "1")
    made = ecs.create_daemon(daemonName="node-agent", daemonTaskDefinitionArn=v1, capacityProviderArns=["mi"])
    wait_for(lambda: versions(docker_client, instances) == {i: ["1"] for i in instances}, timeout=60,
             what="one v1 container on each agent")
    first = ecs.describe_daemon_deployments(daemonDeploymentArns=[made["deploymentArn"]])["daemonDeployments"][0]
    wait_for(lambda: ecs.describe_daemon_deployments(daemonDeploymentArns=[made["deploymentArn"]])[
        "daemonDeployments"][0]["status"] == "SUCCESSFUL", what="the first deployment")
    assert first["targetDaemonRevision"]["arn"]

    v2 = register(ecs, "2")
    updated = ecs.update_daemon(daemonArn=made["daemonArn"], daemonTaskDefinitionArn=v2, capacityProviderArns=["mi"])
    wait_for(lambda: versions(docker_client, instances) == {i: ["2"] for i in instances}, timeout=90,
             what="one v2 container on each agent")
    wait_for(lambda: ecs.describe_daemon_deployments(daemonDeploymentArns=[updated["deploymentArn"]])[
        "daemonDeployments"][0]["status"] == "SUCCESSFUL", what="the rollout")
    shown = ecs.describe_daemon(daemonArn=made["daemonArn"])["daemon"]
    assert [r["totalRunningCount"] for r in shown["currentRevisions"]] == [2]

    ecs.delete_daemon(daemonArn=made["daemonArn"])
    wait_for(lambda: versions(docker_client, instances) == {i: [] for i in instances}, timeout=60,
             what="the daemon's containers to go")
