"""The task metadata endpoint v4, read from inside containers with busybox
wget, in bridge and host network modes (real Docker)."""

from __future__ import annotations

import json

import pytest

from conftest import TEST_IMAGE, wait_for_task

LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done"


def inside(docker_client, arn, name, script):
    [summary] = [s for s in docker_client.api.containers(filters={"label": f"com.amazonaws.ecs.task-arn={arn}"})
                 if s["Labels"]["com.amazonaws.ecs.container-name"] == name]
    code, out = docker_client.containers.get(summary["Id"]).exec_run(["sh", "-c", script])
    assert code == 0, out
    return out.decode()


@pytest.mark.parametrize("mode", ["bridge", "host"])
def test_a_container_reads_its_task_from_the_endpoint(server, docker_agent, docker_client, mode):
    ecs = server.client()
    ecs.register_task_definition(family="meta", networkMode=mode, containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "cpu": 128, "command": ["sh", "-c", LOOP]},
        {"name": "side", "image": TEST_IMAGE, "memory": 32, "essential": False, "command": ["sh", "-c", LOOP]}])
    arn = ecs.run_task(taskDefinition="meta")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "RUNNING")
    uri = inside(docker_client, arn, "app", "echo $ECS_CONTAINER_METADATA_URI_V4").strip()
    assert uri.startswith("http://") and "/v4/" in uri
    assert inside(docker_client, arn, "app", "echo $ECS_CONTAINER_METADATA_URI").strip().replace("/v3/", "/v4/") == uri

    shown = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task"))
    assert shown["TaskARN"] == arn
    assert shown["Family"] == "meta" and shown["Revision"] == "1"
    assert shown["DesiredStatus"] == "RUNNING" and shown["KnownStatus"] == "RUNNING"
    assert shown["LaunchType"] == "EC2" and shown["AvailabilityZone"] == "local-1a"
    assert shown["Cluster"].endswith(":cluster/default")
    assert "PullStartedAt" in shown
    names = {c["Name"]: c for c in shown["Containers"]}
    assert set(names) == {"app", "side"}
    ids = {c["name"]: c for c in task["containers"]}
    assert names["app"]["DockerId"] == ids["app"]["runtimeId"]
    assert names["app"]["ContainerARN"] == ids["app"]["containerArn"]
    assert names["app"]["Limits"] == {"CPU": 128, "Memory": 32}
    assert names["app"]["Labels"]["com.amazonaws.ecs.task-arn"] == arn

    own = json.loads(inside(docker_client, arn, "side", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4"))
    assert own["Name"] == "side" and own["DockerId"] == ids["side"]["runtimeId"]
    stats = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/stats"))
    assert "memory_stats" in stats and "cpu_stats" in stats
    task_stats = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task/stats"))
    assert set(task_stats) == {ids["app"]["runtimeId"], ids["side"]["runtimeId"]}
    # another container's token is not this one's, and a made-up one is refused
    assert "404" in inside(docker_client, arn, "app", "wget -qO- ${ECS_CONTAINER_METADATA_URI_V4%/*}/0123 2>&1 || true")
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_an_awsvpc_container_reads_its_task_and_address(server, docker_agent, docker_client):
    """awsvpc: the containers join the task's own namespace (its pause
    container, on the subnet's bridge); the endpoint is reached from there
    too, and shows the task's ENI address."""
    ecs = server.client()
    ecs.register_task_definition(family="meta-vpc", networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", LOOP]}])
    arn = ecs.run_task(taskDefinition="meta-vpc", networkConfiguration={
        "awsvpcConfiguration": {"subnets": ["subnet-portside1"]}})["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "RUNNING", timeout=60)
    eni_ip = next(d["value"] for a in task["attachments"] for d in a["details"] if d["name"] == "privateIPv4Address")
    shown = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task"))
    assert shown["TaskARN"] == arn and shown["KnownStatus"] == "RUNNING"
    [network] = shown["Containers"][0]["Networks"]
    assert network["NetworkMode"] == "awsvpc" and network["IPv4Addresses"] == [eni_ip], network
    assert network["IPv4SubnetCIDRBlock"].endswith(tuple("/0123456789")) and "MACAddress" in network
    own = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4"))
    assert own["Networks"][0]["IPv4Addresses"] == [eni_ip]
    assert own["DockerId"] == task["containers"][0]["runtimeId"]
    stats = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/stats"))
    assert "memory_stats" in stats and "cpu_stats" in stats
    task_stats = json.loads(inside(docker_client, arn, "app", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task/stats"))
    assert set(task_stats) == {task["containers"][0]["runtimeId"]}
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
