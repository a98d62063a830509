"""dependsOn on real Docker: each container appends to a log on a host
directory when it starts and stops, so the order is read from the file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import TEST_IMAGE, error_code, wait_for_task


def c(name, script, **extra):
    return {"name": name, "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", script],
            "mountPoints": [{"sourceVolume": "log", "containerPath": "/log"}], **extra}


def serve(name):
    """Logs its start, then runs until SIGTERM, and logs its stop."""
    return (f"echo {name}-start >> /log/order; trap 'echo {name}-stop >> /log/order; exit 0' TERM; "
            "while true; do sleep 0.1; done")


def register(ecs, tmp_path: Path, family, *containers):
    log = tmp_path / "log"
    log.mkdir(exist_ok=True)
    (log / "order").write_text("")
    ecs.register_task_definition(family=family, containerDefinitions=list(containers),
                                 volumes=[{"name": "log", "host": {"sourcePath": str(log)}}])
    return log / "order"


def lines(path: Path) -> list[str]:
    return path.read_text().split()


def test_each_condition_orders_the_start_and_stop_reverses_it(server, docker_agent, tmp_path):
    ecs = server.client()
    order = register(
        ecs, tmp_path, "chain",
        c("migrate", "sleep 1; echo migrate-done >> /log/order; exit 0", essential=False),
        c("warmup", "sleep 0.5; echo warmup-done >> /log/order; exit 5", essential=False),
        c("db", "touch /tmp/ready; " + serve("db"), essential=False,
          healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "retries": 1}),
        c("app", serve("app"), dependsOn=[
            {"containerName": "migrate", "condition": "SUCCESS"},
            {"containerName": "warmup", "condition": "COMPLETE"},
            {"containerName": "db", "condition": "HEALTHY"}]),
        c("proxy", serve("proxy"), essential=False, dependsOn=[{"containerName": "app", "condition": "START"}]),
    )
    arn = ecs.run_task(taskDefinition="chain")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "RUNNING", timeout=60)
    codes = {x["name"]: x.get("exitCode") for x in task["containers"]}
    assert codes["migrate"] == 0 and codes["warmup"] == 5
    seen = lines(order)
    assert seen.index("app-start") > max(seen.index("migrate-done"), seen.index("warmup-done"),
                                         seen.index("db-start"))
    assert seen.index("proxy-start") > seen.index("app-start")
    db = next(x for x in ecs.describe_tasks(tasks=[arn])["tasks"][0]["containers"] if x["name"] == "db")
    assert db["healthStatus"] == "HEALTHY"  # app started only once it was
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")
    seen = lines(order)
    # reverse order: proxy (depends on app) before app, app before db
    assert seen.index("proxy-stop") < seen.index("app-stop") < seen.index("db-stop")


def test_a_success_dependency_that_fails_stops_the_task(server, docker_agent, tmp_path):
    ecs = server.client()
    order = register(ecs, tmp_path, "failing",
                     c("migrate", "exit 3", essential=False),
                     c("app", serve("app"), dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]))
    arn = ecs.run_task(taskDefinition="failing")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "STOPPED", timeout=60)
    app = next(x for x in task["containers"] if x["name"] == "app")
    assert "did not exit successfully" in app["reason"] and "exitCode" not in app
    assert task["stopCode"] == "TaskFailedToStart"
    assert "app-start" not in lines(order)


def test_start_timeout_gives_up_on_a_dependency(server, docker_agent, tmp_path):
    ecs = server.client()
    register(ecs, tmp_path, "slow",
             c("db", serve("db"), essential=False, startTimeout=2,
               healthCheck={"command": ["CMD-SHELL", "exit 1"], "interval": 30}),
             c("app", serve("app"), dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]))
    started = time.monotonic()
    arn = ecs.run_task(taskDefinition="slow")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "STOPPED", timeout=60)
    assert time.monotonic() - started < 25
    app = next(x for x in task["containers"] if x["name"] == "app")
    assert "has timed out" in app["reason"]


def test_a_healthy_dependency_that_turns_unhealthy_stops_the_task(server, docker_agent, tmp_path):
    """HEALTHY: a dependency whose check fails (Docker: unhealthy after one
    failed try) can never satisfy its dependent; the task stops and the
    dependent, never started, carries the reason."""
    ecs = server.client()
    order = register(ecs, tmp_path, "sickdep",
                     c("db", serve("db"), essential=False,
                       healthCheck={"command": ["CMD-SHELL", "test -f /tmp/never"], "interval": 5, "retries": 1}),
                     c("app", serve("app"), dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]))
    arn = ecs.run_task(taskDefinition="sickdep")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "STOPPED", timeout=60)
    by = {x["name"]: x for x in task["containers"]}
    assert by["app"]["reason"].endswith("is UNHEALTHY."), by["app"]
    assert "container ordering dependency [db] for target [app]" in by["app"]["reason"]
    assert by["db"]["healthStatus"] == "UNHEALTHY" and "exitCode" not in by["app"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert lines(order) == ["db-start", "db-stop"]  # app never started; db was stopped


@pytest.mark.parametrize("containers, message", [
    ([{"name": "a", "dependsOn": [{"containerName": "b", "condition": "HEALTHY"}]}, {"name": "b"}],
     "needs a healthCheck on container 'b'"),
    ([{"name": "a", "dependsOn": [{"containerName": "b", "condition": "START"}]},
      {"name": "b", "dependsOn": [{"containerName": "a", "condition": "START"}]}], "form a cycle"),
])
def test_dependencies_that_cannot_resolve_are_refused(ecs, containers, message):
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="bad", containerDefinitions=[
            {"image": TEST_IMAGE, "memory": 32, **x} for x in containers])
    assert error_code(e) == "ClientException" and message in e.value.response["Error"]["Message"]
