"""Container health checks on real Docker: Docker runs the task definition's
check, DescribeTasks shows container and task healthStatus as ECS derives
them, and a service replaces a task whose essential container turns
UNHEALTHY (a task run on its own carries on)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import TEST_IMAGE, error_code, wait_for_task

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done"


def check(script: str) -> dict:
    return {"command": ["CMD-SHELL", script], "interval": 5, "timeout": 2, "retries": 1}


def until(describe, predicate, timeout: float = 40):
    deadline = time.monotonic() + timeout
    seen = describe()
    while not predicate(seen) and time.monotonic() < deadline:
        time.sleep(0.3)
        seen = describe()
    return seen


def test_container_and_task_health(server, docker_agent, docker_client):
    ecs = server.client()
    ecs.register_task_definition(family="health", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "healthCheck": check("test -f /tmp/ok"),
         "command": ["sh", "-c", "touch /tmp/ok; " + LOOP]},
        {"name": "side", "image": TEST_IMAGE, "memory": 32, "essential": False,
         "healthCheck": check("exit 1"), "command": ["sh", "-c", LOOP]},
        {"name": "plain", "image": TEST_IMAGE, "memory": 32, "essential": False,
         "command": ["sh", "-c", LOOP]},
        {"name": "defaults", "image": TEST_IMAGE, "memory": 32, "essential": False,
         "healthCheck": {"command": ["CMD-SHELL", "true"], "startPeriod": 7}, "command": ["sh", "-c", LOOP]},
    ])
    [started] = ecs.run_task(taskDefinition="health")["tasks"]
    arn = started["taskArn"]
    assert started["lastStatus"] == "PENDING" and started["healthStatus"] == "UNKNOWN"
    assert {c["healthStatus"] for c in started["containers"]} == {"UNKNOWN"}
    task = wait_for_task(ecs, arn, "RUNNING")
    assert task["healthStatus"] == "UNKNOWN"  # checks not yet run: Docker waits one interval
    [app] = [c for c in docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={arn}"})
             if c.labels["com.amazonaws.ecs.container-name"] == "app"]
    assert app.attrs["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
        "Retries": 1}
    [defaulted] = [c for c in docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={arn}"})
                   if c.labels["com.amazonaws.ecs.container-name"] == "defaults"]
    assert defaulted.attrs["Config"]["Healthcheck"] == {  # AWS's defaults: interval 30, timeout 5, retries 3
        "Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000, "Timeout": 5_000_000_000, "Retries": 3,
        "StartPeriod": 7_000_000_000}

    def describe():
        return ecs.describe_tasks(tasks=[arn])["tasks"][0]

    def health(t):
        return {c["name"]: c["healthStatus"] for c in t["containers"]}

    task = until(describe, lambda t: health(t)["app"] == "HEALTHY" and health(t)["side"] == "UNHEALTHY")
    assert health(task) == {"app": "HEALTHY", "side": "UNHEALTHY", "plain": "UNKNOWN", "defaults": "UNKNOWN"}
    assert task["healthStatus"] == "HEALTHY"  # the essential container with a check decides
    assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"

    app.exec_run(["rm", "/tmp/ok"])
    task = until(describe, lambda t: t["healthStatus"] == "UNHEALTHY")
    assert health(task)["app"] == "UNHEALTHY" and task["healthStatus"] == "UNHEALTHY"
    time.sleep(1)
    task = describe()
    assert task["desiredStatus"] == "RUNNING"  # run on its own: it carries on, as ECS documents
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_service_replaces_an_unhealthy_task(server, docker_agent):
    ecs = server.client()
    ecs.register_task_definition(family="sick", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "healthCheck": check("test -f /tmp/ok"),
         "command": ["sh", "-c", LOOP]}])  # never healthy
    ecs.create_service(serviceName="sick", taskDefinition="sick", desiredCount=1,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})

    time.sleep(3)
    service = ecs.describe_services(services=["sick"])["services"][0]
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # not healthy yet: not done

    def first_stopped():
        arns = ecs.list_tasks(serviceName="sick", desiredStatus="STOPPED")["taskArns"]
        return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []

    stopped = until(first_stopped, lambda ts: any(t["lastStatus"] == "STOPPED" for t in ts), timeout=60)
    task = next(t for t in stopped if t["lastStatus"] == "STOPPED")
    assert task["stoppedReason"] == "Task failed container health checks"
    assert task["stopCode"] == "ServiceSchedulerInitiated"
    assert task["healthStatus"] == "UNHEALTHY"
    assert task["containers"][0]["healthStatus"] == "UNHEALTHY"
    service = until(lambda: ecs.describe_services(services=["sick"])["services"][0],
                    lambda s: s["runningCount"] == 1 and s["deployments"][0]["failedTasks"] >= 1)
    assert service["deployments"][0]["failedTasks"] >= 1  # the circuit breaker counts it
    live = ecs.list_tasks(serviceName="sick", desiredStatus="RUNNING")["taskArns"]
    assert live and task["taskArn"] not in live  # replaced
    ecs.update_service(service="sick", desiredCount=0)
    ecs.delete_service(service="sick", force=True)


@pytest.mark.parametrize("bad, named", [
    ({"command": ["curl", "x"]}, "must start with CMD or CMD-SHELL"),
    ({"command": ["CMD-SHELL", "true"], "interval": 4}, "interval must be between 5 and 300"),
    ({"command": ["CMD-SHELL", "true"], "retries": 11}, "retries must be between 1 and 10"),
    ({"command": ["CMD-SHELL", "true"], "timeout": 1}, "timeout must be between 2 and 60"),
    ({"command": ["CMD-SHELL", "true"], "startPeriod": 301}, "startPeriod must be between 0 and 300"),
])
def test_health_check_bounds(ecs, bad, named):
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="bad", containerDefinitions=[
            {"name": "app", "image": TEST_IMAGE, "memory": 32, "healthCheck": bad}])
    assert error_code(e) == "ClientException" and named in e.value.response["Error"]["Message"]


def test_deployment_completes_once_its_tasks_are_healthy(server, docker_agent):
    ecs = server.client()
    ecs.register_task_definition(family="fine", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "healthCheck": check("true"),
         "command": ["sh", "-c", LOOP]}])
    ecs.create_service(serviceName="fine", taskDefinition="fine", desiredCount=1)
    service = until(lambda: ecs.describe_services(services=["fine"])["services"][0],
                    lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    [arn] = ecs.list_tasks(serviceName="fine")["taskArns"]
    assert ecs.describe_tasks(tasks=[arn])["tasks"][0]["healthStatus"] == "HEALTHY"
    ecs.delete_service(service="fine", force=True)


def test_a_rolling_update_keeps_the_old_task_until_the_new_one_is_healthy(server, docker_agent):
    """minimumHealthyPercent 100: the old task may stop only once its
    replacement is HEALTHY, not when it is merely RUNNING (the new revision's
    first check runs one interval, 10 s, after it starts)."""
    ecs = server.client()
    for revision, interval in ((1, 5), (2, 10)):
        ecs.register_task_definition(family="roll", containerDefinitions=[
            {"name": "app", "image": TEST_IMAGE, "memory": 32, "healthCheck": {**check("true"), "interval": interval},
             "environment": [{"name": "REVISION", "value": str(revision)}], "command": ["sh", "-c", LOOP]}])
    ecs.create_service(serviceName="roll", taskDefinition="roll:1", desiredCount=1,
                       deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200})
    until(lambda: ecs.describe_services(services=["roll"])["services"][0],
          lambda s: s["deployments"][0]["rolloutState"] == "COMPLETED")
    [old] = ecs.list_tasks(serviceName="roll")["taskArns"]
    ecs.update_service(service="roll", taskDefinition="roll:2")

    def tasks():
        arns = ecs.list_tasks(serviceName="roll")["taskArns"]
        return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []

    seen = until(tasks, lambda ts: any(t["taskDefinitionArn"].endswith(":2") and t["lastStatus"] == "RUNNING"
                                       for t in ts))
    new = next(t for t in seen if t["taskDefinitionArn"].endswith(":2"))["taskArn"]
    time.sleep(2)  # ten service ticks with the new task RUNNING and not yet checked
    described = {t["taskArn"]: t for t in ecs.describe_tasks(tasks=[old, new])["tasks"]}
    assert described[new]["lastStatus"] == "RUNNING" and described[new]["healthStatus"] == "UNKNOWN"
    assert described[old]["desiredStatus"] == "RUNNING", "stopped before its replacement was healthy"
    old_task = until(lambda: ecs.describe_tasks(tasks=[old])["tasks"][0], lambda t: t["desiredStatus"] == "STOPPED")
    assert old_task["desiredStatus"] == "STOPPED"
    assert ecs.describe_tasks(tasks=[new])["tasks"][0]["healthStatus"] == "HEALTHY"
    ecs.update_service(service="roll", desiredCount=0)
    ecs.delete_service(service="roll", force=True)
