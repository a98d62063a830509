"""restartPolicy on real Docker: an essential container that exits after its
restartAttemptPeriod is started again in place; the task stays RUNNING."""

from __future__ import annotations

import json
import time

from conftest import TEST_IMAGE, wait_for_task


def test_a_container_is_restarted_in_place(server, docker_agent, docker_client, tmp_path):
    ecs = server.client()
    log = tmp_path / "log"
    log.mkdir()
    ecs.register_task_definition(
        family="restart", volumes=[{"name": "log", "host": {"sourcePath": str(log)}}],
        containerDefinitions=[{
            "name": "app", "image": TEST_IMAGE, "memory": 32,
            "restartPolicy": {"enabled": True, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
            "mountPoints": [{"sourceVolume": "log", "containerPath": "/log"}],
            # the first run exits 3 after 61 s; the second keeps running
            "command": ["sh", "-c", "echo start >> /log/runs; [ $(wc -l < /log/runs) -gt 1 ] || "
                        "{ sleep 61; exit 3; }; trap 'exit 0' TERM; while true; do sleep 0.1; done"]}])
    arn = ecs.run_task(taskDefinition="restart")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "RUNNING")
    runtime_id = task["containers"][0]["runtimeId"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (log / "runs").read_text().split() != ["start", "start"]:
        time.sleep(0.5)
    assert (log / "runs").read_text().split() == ["start", "start"]
    time.sleep(1)
    task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
    assert task["containers"][0]["runtimeId"] == runtime_id  # in place
    container = docker_client.containers.get(runtime_id)
    assert container.status == "running"
    shown = json.loads(container.exec_run(["sh", "-c", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4"]).output)
    assert shown["RestartCount"] == 1
    ecs.stop_task(task=arn)
    task = wait_for_task(ecs, arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == 0  # stopped, not restarted


def test_adopted_containers_are_restarted_by_their_policy(server, docker_agent, docker_client, tmp_path):
    """After an agent restart (kill -9): a container the new agent adopted
    running is restarted when it exits, and one that exited while no agent
    ran is restarted when adopted; restartAttemptPeriod counts from Docker's
    start, not from the adoption."""
    import signal

    ecs = server.client()
    log = tmp_path / "log"
    log.mkdir()
    for name, runs_for in (("a", 61), ("b", 72)):
        ecs.register_task_definition(
            family=f"adopt-{name}", volumes=[{"name": "log", "host": {"sourcePath": str(log)}}],
            containerDefinitions=[{
                "name": "app", "image": TEST_IMAGE, "memory": 32,
                "restartPolicy": {"enabled": True, "restartAttemptPeriod": 60},
                "mountPoints": [{"sourceVolume": "log", "containerPath": "/log"}],
                "command": ["sh", "-c", f"echo start >> /log/{name}; [ $(wc -l < /log/{name}) -gt 1 ] || "
                            f"{{ sleep {runs_for}; exit 3; }}; trap 'exit 0' TERM; while true; do sleep 0.1; done"]}])
    arns = {name: ecs.run_task(taskDefinition=f"adopt-{name}")["tasks"][0]["taskArn"] for name in "ab"}
    started = time.monotonic()
    for arn in arns.values():
        wait_for_task(ecs, arn, "RUNNING")
    docker_agent.stop(signal.SIGKILL)
    docker_agent.start()  # adopts both, running

    def runs(name):
        path = log / name
        return path.read_text().split() if path.exists() else []

    while time.monotonic() < started + 68 and runs("a") != ["start", "start"]:
        time.sleep(0.5)
    assert runs("a") == ["start", "start"], "the adopted running container was not restarted"
    docker_agent.stop(signal.SIGKILL)  # b exits (at ~72 s) while no agent runs
    while time.monotonic() < started + 76:
        time.sleep(0.5)
    assert runs("b") == ["start"]
    docker_agent.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and runs("b") != ["start", "start"]:
        time.sleep(0.5)
    assert runs("b") == ["start", "start"], "the container that exited while the agent was down was not restarted"
    time.sleep(1)
    for arn in arns.values():
        task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING", task
        ecs.stop_task(task=arn)
    for arn in arns.values():
        wait_for_task(ecs, arn, "STOPPED")
