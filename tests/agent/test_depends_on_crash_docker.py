"""An agent killed (SIGKILL) in the middle of a dependsOn chain or a health
check's grace period picks the task up again: no container is created twice,
none is orphaned, and the task goes on as ECS would."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from conftest import TEST_IMAGE, wait_for_task


def c(name, script, **extra):
    return {"name": name, "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", script],
            "mountPoints": [{"sourceVolume": "log", "containerPath": "/log"}], **extra}


SERVE = "trap 'exit 0' TERM; while true; do sleep 0.1; done"


def by_name(docker_client, arn):
    found = docker_client.api.containers(all=True, filters={"label": f"com.amazonaws.ecs.task-arn={arn}"})
    names: dict[str, list[str]] = {}
    for summary in found:
        names.setdefault(summary["Labels"]["com.amazonaws.ecs.container-name"], []).append(summary["Id"])
    return names


def wait_running(docker_client, arn, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = by_name(docker_client, arn).get(name, [])
        if ids and docker_client.api.inspect_container(ids[0])["State"]["Running"]:
            return ids[0]
        time.sleep(0.1)
    raise AssertionError(f"{name} never ran")


def run_chain(ecs, tmp_path: Path, family, *containers):
    log = tmp_path / f"log-{family}"
    log.mkdir()
    (log / "order").write_text("")
    ecs.register_task_definition(family=family, containerDefinitions=list(containers),
                                 volumes=[{"name": "log", "host": {"sourcePath": str(log)}}])
    return ecs.run_task(taskDefinition=family)["tasks"][0]["taskArn"], log / "order"


def finish(ecs, docker_client, arn):
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
    deadline = time.monotonic() + 20
    while by_name(docker_client, arn) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert by_name(docker_client, arn) == {}  # nothing orphaned


def test_kill_9_while_a_success_dependency_runs(server, docker_agent, docker_client, tmp_path):
    ecs = server.client()
    arn, order = run_chain(ecs, tmp_path, "chain",
                           c("migrate", "sleep 3; echo migrate-done >> /log/order", essential=False),
                           c("app", "echo app-start >> /log/order; " + SERVE,
                             dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]))
    wait_running(docker_client, arn, "migrate")
    docker_agent.stop(signal.SIGKILL)  # app is created, waiting; migrate still running
    time.sleep(4)  # migrate finishes while no agent watches
    assert order.read_text().split() == ["migrate-done"]
    docker_agent.start()
    task = wait_for_task(ecs, arn, "RUNNING", timeout=60)
    assert order.read_text().split() == ["migrate-done", "app-start"]  # app started once, after migrate
    assert {name: len(ids) for name, ids in by_name(docker_client, arn).items()} == {"migrate": 1, "app": 1}
    assert {x["name"]: x.get("exitCode") for x in task["containers"]}["migrate"] == 0
    finish(ecs, docker_client, arn)


def test_kill_9_during_a_health_check_grace_period(server, docker_agent, docker_client, tmp_path):
    ecs = server.client()
    arn, order = run_chain(
        ecs, tmp_path, "grace",
        c("db", "touch /tmp/ready; " + SERVE, essential=False,
          healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "retries": 1,
                       "startPeriod": 10}),
        c("app", "echo app-start >> /log/order; " + SERVE,
          dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]))
    wait_running(docker_client, arn, "db")
    docker_agent.stop(signal.SIGKILL)  # db's first check has not run yet
    time.sleep(1)
    docker_agent.start()
    task = wait_for_task(ecs, arn, "RUNNING", timeout=60)
    assert order.read_text().split() == ["app-start"]
    assert {name: len(ids) for name, ids in by_name(docker_client, arn).items()} == {"db": 1, "app": 1}
    db = next(x for x in task["containers"] if x["name"] == "db")
    assert db["healthStatus"] == "HEALTHY"
    finish(ecs, docker_client, arn)
