"""awsvpc and Fargate on real Docker: each task in its own network namespace
(a pause container on a Portside-managed bridge), its containers talking on
localhost, the task answering on its ENI's address from the host; Fargate
tasks on Portside-managed capacity, through the AWS CLI and as a service."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker.errors
import pytest

from conftest import REGION, AgentProcess, wait_for_task
from helpers import wait_for
from portside.agent.awsvpc import PAUSE_CONTAINER
from portside.testing.images import INDEX_PAGE

# Two containers, as in the ECS developer guide's Fargate examples: a web
# server, and a sidecar that fetches from it on localhost and serves what it got.
WEB = "httpd -f -p 80 -h /www"
SIDECAR = ("mkdir -p /tmp/w; until wget -q -O /tmp/w/got http://localhost:80/; do sleep 0.2; done; "
           "exec httpd -f -p 8080 -h /tmp/w")


def definition(image, family="fargate-app", **kw):
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {"name": "web", "image": image, "essential": True, "entryPoint": ["sh", "-c"], "command": [WEB],
             "portMappings": [{"containerPort": 80, "protocol": "tcp"}]},
            {"name": "sidecar", "image": image, "essential": True, "entryPoint": ["sh", "-c"],
             "command": [SIDECAR], "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]},
        ],
        **kw,
    }


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return answer.read()


def eni_address(task) -> str:
    [attachment] = task["attachments"]
    assert attachment["type"] == "ElasticNetworkInterface" and attachment["status"] == "ATTACHED"
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert details["subnetId"] == "subnet-portside1"
    assert details["networkInterfaceId"].startswith("eni-")
    assert details["privateDnsName"] == "ip-" + details["privateIPv4Address"].replace(".", "-") + ".ec2.internal"
    for container in task["containers"]:
        assert container["networkInterfaces"] == [
            {"attachmentId": attachment["id"], "privateIpv4Address": details["privateIPv4Address"]}]
    return details["privateIPv4Address"]


def answers(ip: str) -> None:
    """The task answers from the host on its address, and its sidecar got the
    web container's page over localhost."""
    assert wait_for(lambda: _try(f"http://{ip}:80/"), 20, "the web container") == INDEX_PAGE
    assert wait_for(lambda: _try(f"http://{ip}:8080/got"), 20, "the sidecar") == INDEX_PAGE


def _try(url):
    try:
        return get(url)
    except OSError:
        return None


def task_containers(docker_client, task_arn):
    """The task's containers as `docker ps -a` summaries (list() would inspect
    each, and race the agent removing them)."""
    return docker_client.api.containers(all=True, filters={"label": f"com.amazonaws.ecs.task-arn={task_arn}"})


NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-portside1"], "securityGroups": ["sg-1"]}}


def test_awsvpc_on_ec2(docker_agent, server, test_image, docker_client):
    ecs = server.client()
    ecs.register_task_definition(**definition(test_image, requiresCompatibilities=["EC2"]))
    with pytest.raises(Exception) as err:  # awsvpc needs its network configuration
        ecs.run_task(taskDefinition="fargate-app")
    assert "Network Configuration must be provided when networkMode 'awsvpc' is specified." in str(err.value)
    task = ecs.run_task(taskDefinition="fargate-app", networkConfiguration=NETWORK)["tasks"][0]
    assert task["launchType"] == "EC2" and task["attachments"][0]["status"] == "PRECREATED"
    assert task["containerInstanceArn"] == docker_agent.instance_arn
    task = wait_for_task(ecs, task["taskArn"], "RUNNING", timeout=60)
    ip = eni_address(task)
    answers(ip)
    containers = task_containers(docker_client, task["taskArn"])
    names = {c["Labels"]["com.amazonaws.ecs.container-name"] for c in containers}
    assert names == {"web", "sidecar", PAUSE_CONTAINER}
    pause = next(c for c in containers if c["Labels"]["com.amazonaws.ecs.container-name"] == PAUSE_CONTAINER)
    assert list(pause["NetworkSettings"]["Networks"]) == ["portside-subnet-portside1"]
    # the host's ports are not taken: a second copy runs beside it with its own address
    second = ecs.run_task(taskDefinition="fargate-app", networkConfiguration=NETWORK)["tasks"][0]
    second = wait_for_task(ecs, second["taskArn"], "RUNNING", timeout=60)
    assert eni_address(second) != ip
    answers(eni_address(second))
    for arn in (task["taskArn"], second["taskArn"]):
        ecs.stop_task(task=arn)
    stopped = wait_for_task(ecs, task["taskArn"], "STOPPED", timeout=60)
    assert stopped["attachments"][0]["status"] == "DELETED"
    wait_for(lambda: not task_containers(docker_client, task["taskArn"]), 30, "the pause container to go")
    # the kernel tears a namespace down after its last container is gone: a leaked one would answer on
    wait_for(lambda: _try(f"http://{ip}:80/") is None, 10, "the task's address to be released")


@pytest.fixture
def fargate_host(server, tmp_path, test_image, docker_client):
    """A server with a default cluster (no instances of its own) and one host
    offering Fargate capacity."""
    server.client().create_cluster()
    agent = AgentProcess(server, tmp_path / "fargate-agent", "--runtime", "docker", "--stop-timeout", "2",
                         "--fargate", "--cpu-units", "1024", "--memory-mib", "2048",
                         "--host-port-range", "42100-42199").start()
    agent.wait_registered()
    yield agent
    agent.stop(signal.SIGKILL)
    remove_containers(docker_client, agent.instance_arn)


def remove_containers(docker_client, instance_arn):
    """The host's containers, gone (the killed agent may have been removing some)."""
    for _ in range(5):
        try:
            for container in docker_client.api.containers(
                    all=True, filters={"label": f"com.portside.container-instance-arn={instance_arn}"}):
                docker_client.api.remove_container(container["Id"], force=True)
            return
        except docker.errors.APIError:  # listed, then removed by the agent's clean-up
            time.sleep(0.2)


def aws(server, *args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDPORTSIDETEST", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_DEFAULT_REGION": REGION}
    env.pop("AWS_PROFILE", None)
    proc = subprocess.run([str(Path(sys.executable).parent / "aws"), "ecs", *args, "--endpoint-url",
                           server.endpoint, "--output", "json"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_fargate_run_task_with_the_aws_cli(fargate_host, server, test_image, docker_client, tmp_path):
    ecs = server.client()
    assert ecs.list_container_instances()["containerInstanceArns"] == []  # the user has none
    assert ecs.list_clusters()["clusterArns"] == ["arn:aws:ecs:us-east-1:123456789012:cluster/default"]
    path = tmp_path / "td.json"
    path.write_text(json.dumps(definition(test_image)))
    aws(server, "register-task-definition", "--cli-input-json", f"file://{path}")
    out = aws(server, "run-task", "--launch-type", "FARGATE", "--task-definition", "fargate-app",
              "--network-configuration",
              "awsvpcConfiguration={subnets=[subnet-portside1],securityGroups=[sg-1],assignPublicIp=ENABLED}")
    [task] = out["tasks"]
    assert out["failures"] == []
    assert task["launchType"] == "FARGATE" and "containerInstanceArn" not in task
    assert (task["platformVersion"], task["platformFamily"]) == ("1.4.0", "Linux")
    assert task["ephemeralStorage"] == {"sizeInGiB": 20}
    assert (task["cpu"], task["memory"]) == ("256", "512")
    task = wait_for_task(ecs, task["taskArn"], "RUNNING", timeout=60)
    assert "containerInstanceArn" not in task
    assert task["connectivity"] == "CONNECTED" and task["connectivityAt"]
    assert task["pullStartedAt"] and task["pullStoppedAt"]
    answers(eni_address(task))
    # the host's CPU and memory are really held: 1024 units make room for four 256-unit tasks
    more = ecs.run_task(taskDefinition="fargate-app", launchType="FARGATE", count=4,
                        networkConfiguration=NETWORK)
    assert len(more["tasks"]) == 3
    assert more["failures"] == [{"reason": "Capacity is unavailable at this time. Please try again later "
                                           "or in a different availability zone"}]
    for t in more["tasks"]:
        ecs.stop_task(task=t["taskArn"])
    ecs.stop_task(task=task["taskArn"])
    stopped = wait_for_task(ecs, task["taskArn"], "STOPPED", timeout=60)
    assert stopped["attachments"][0]["status"] == "DELETED"
    assert stopped["connectivity"] == "DISCONNECTED"


def test_fargate_errors(fargate_host, server, test_image):
    ecs = server.client()
    ecs.register_task_definition(**definition(test_image))
    ecs.register_task_definition(family="bridge", containerDefinitions=[
        {"name": "a", "image": test_image, "memory": 32}])

    def refused(**kw):
        with pytest.raises(Exception) as err:
            ecs.run_task(**kw)
        return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]

    assert refused(taskDefinition="bridge", launchType="FARGATE") == (
        "InvalidParameterException", "Task definition does not support launch_type FARGATE.")
    assert refused(taskDefinition="fargate-app", launchType="FARGATE") == (
        "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    assert refused(taskDefinition="bridge", networkConfiguration=NETWORK) == (
        "InvalidParameterException",
        "Network Configuration is not valid for the given `networkMode` of this task definition.")
    assert refused(taskDefinition="fargate-app", launchType="FARGATE",
                   networkConfiguration={"awsvpcConfiguration": {"subnets": []}}) == (
        "InvalidParameterException", "subnets can not be empty.")
    assert refused(taskDefinition="fargate-app", launchType="EC2", platformVersion="1.4.0",
                   networkConfiguration=NETWORK) == (
        "InvalidParameterException", "The platform version must be null when specifying an EC2 launch type.")
    assert refused(taskDefinition="fargate-app", launchType="FARGATE", platformVersion="9.9.9",
                   networkConfiguration=NETWORK)[0] == "PlatformUnknownException"
    assert refused(taskDefinition="fargate-app", launchType="EC2", networkConfiguration={
        "awsvpcConfiguration": {"subnets": ["subnet-portside1"], "assignPublicIp": "ENABLED"}}) == (
        "InvalidParameterException", "Assign public IP is not supported for this launch type.")
    assert refused(taskDefinition="fargate-app", launchType="FARGATE", networkConfiguration=NETWORK,
                   placementStrategy=[{"type": "random"}])[0] == "InvalidParameterException"


def test_fargate_service(fargate_host, server, test_image):
    ecs = server.client()
    ecs.register_task_definition(**definition(test_image))
    service = ecs.create_service(serviceName="web", taskDefinition="fargate-app", desiredCount=2,
                                 launchType="FARGATE", networkConfiguration=NETWORK)["service"]
    assert service["launchType"] == "FARGATE" and service["platformVersion"] == "LATEST"
    assert service["platformFamily"] == "Linux"
    assert service["networkConfiguration"] == {"awsvpcConfiguration": {
        "subnets": ["subnet-portside1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}}

    def running():
        arns = ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
        tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
        return tasks if len(tasks) == 2 and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = wait_for(running, 60, "two RUNNING service tasks")
    for task in tasks:
        assert task["launchType"] == "FARGATE" and task["platformVersion"] == "1.4.0"
        assert task["group"] == "service:web" and "containerInstanceArn" not in task
        answers(eni_address(task))
    # more than the capacity holds: the service says why, in AWS's words
    ecs.update_service(service="web", desiredCount=5)
    wait_for(lambda: any("Capacity is unavailable at this time" in e["message"]
                         for e in ecs.describe_services(services=["web"])["services"][0]["events"]),
             30, "the capacity event")
    ecs.update_service(service="web", desiredCount=0)
    wait_for(lambda: ecs.describe_services(services=["web"])["services"][0]["runningCount"] == 0, 60,
             "the service to scale in")


def test_fargate_service_with_a_capacity_provider_strategy(fargate_host, server, test_image):
    ecs = server.client()
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                       defaultCapacityProviderStrategy=[])
    ecs.register_task_definition(**definition(test_image))
    strategy = [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    service = ecs.create_service(serviceName="web", taskDefinition="fargate-app", desiredCount=3,
                                 capacityProviderStrategy=strategy, networkConfiguration=NETWORK)["service"]
    assert service["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                                                   {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    assert "launchType" not in service and service["platformVersion"] == "LATEST"

    def running():
        arns = ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
        tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
        return tasks if len(tasks) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks) else None

    tasks = wait_for(running, 60, "three RUNNING service tasks")
    # base 1 on FARGATE, the other two split 1:1
    assert sorted(t["capacityProviderName"] for t in tasks) == ["FARGATE", "FARGATE", "FARGATE_SPOT"]
    for task in tasks:
        assert task["launchType"] == "FARGATE" and "containerInstanceArn" not in task
        answers(eni_address(task))
    ecs.update_service(service="web", desiredCount=0)
    wait_for(lambda: ecs.describe_services(services=["web"])["services"][0]["runningCount"] == 0, 60,
             "the service to scale in")


def test_a_restarted_agent_adopts_the_task_namespace(docker_agent, server, test_image, docker_client):
    ecs = server.client()
    ecs.register_task_definition(**definition(test_image, requiresCompatibilities=["EC2"]))
    task = ecs.run_task(taskDefinition="fargate-app", networkConfiguration=NETWORK)["tasks"][0]
    task = wait_for_task(ecs, task["taskArn"], "RUNNING", timeout=60)
    ip = eni_address(task)
    answers(ip)
    before = {c["Id"] for c in task_containers(docker_client, task["taskArn"])}
    docker_agent.stop(signal.SIGKILL)
    docker_agent.start()
    docker_agent.wait_registered()
    time.sleep(2)  # the restarted agent has polled and adopted the task
    assert {c["Id"] for c in task_containers(docker_client, task["taskArn"])} == before  # nothing made twice
    answers(ip)
    ecs.stop_task(task=task["taskArn"])
    wait_for_task(ecs, task["taskArn"], "STOPPED", timeout=60)
    wait_for(lambda: not task_containers(docker_client, task["taskArn"]), 30, "the pause container to go")


def namespace(docker_client, container_id: str, kind: str) -> str:
    """The container's `kind` namespace ("pid:[4026532...]"), read inside it."""
    code, out = docker_client.containers.get(container_id).exec_run(["readlink", f"/proc/self/ns/{kind}"])
    assert code == 0, out
    return out.decode().strip()


def test_pid_and_ipc_mode_task_share_the_pause_containers_namespaces(docker_agent, server, test_image,
                                                                     docker_client):
    """pidMode/ipcMode `task`: every container of the task in one PID and one
    IPC namespace (the pause container's); without them, each its own."""
    ecs = server.client()
    ecs.register_task_definition(**definition(test_image, family="shared", requiresCompatibilities=["EC2"],
                                              pidMode="task", ipcMode="task"))
    ecs.register_task_definition(**definition(test_image, family="apart", requiresCompatibilities=["EC2"]))
    seen = {}
    for family in ("shared", "apart"):
        task = ecs.run_task(taskDefinition=family, networkConfiguration=NETWORK)["tasks"][0]
        wait_for_task(ecs, task["taskArn"], "RUNNING", timeout=60)
        containers = {c["Labels"]["com.amazonaws.ecs.container-name"]: c["Id"]
                      for c in task_containers(docker_client, task["taskArn"])}
        seen[family] = {kind: {name: namespace(docker_client, cid, kind) for name, cid in containers.items()
                               if name != PAUSE_CONTAINER}
                        for kind in ("pid", "ipc")}
        ecs.stop_task(task=task["taskArn"])
    for kind in ("pid", "ipc"):
        assert seen["shared"][kind]["web"] == seen["shared"][kind]["sidecar"]
        assert seen["apart"][kind]["web"] != seen["apart"][kind]["sidecar"]
