"""The agent-facing calls move a task through its lifecycle, forward only,
stamping each timestamp once; a stopped task gives its resources back."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition, resource


@pytest.fixture
def placed(ecs):
    ecs.create_cluster()
    ecs.instance = register_instance(ecs)
    register_task_definition(ecs, host_port=8080, containers=2)
    ecs.task = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    return ecs


def describe(ecs):
    return ecs.describe_tasks(tasks=[ecs.task])["tasks"][0]


def remaining(ecs, name):
    ci = ecs.describe_container_instances(containerInstances=[ecs.instance])["containerInstances"][0]
    return resource(ci, "remainingResources", name)


def run_to_running(ecs):
    for name, port in (("c0", 8080), ("c1", None)):
        bindings = [{"bindIP": "127.0.0.1", "containerPort": 80, "hostPort": port, "protocol": "tcp"}] if port else []
        ecs.submit_container_state_change(
            task=ecs.task, containerName=name, status="RUNNING", runtimeId=f"docker-{name}",
            networkBindings=bindings,
        )


def test_discover_poll_endpoint(placed):
    out = placed.discover_poll_endpoint(containerInstance=placed.instance)
    assert out["endpoint"].startswith("http://127.0.0.1:")


def test_full_lifecycle_timestamps_in_order(placed):
    ecs = placed
    created = describe(ecs)["createdAt"]
    ecs.submit_task_state_change(task=ecs.task, status="PENDING",
                                 pullStartedAt=time.time(), pullStoppedAt=time.time())
    run_to_running(ecs)
    running = describe(ecs)
    assert running["lastStatus"] == "RUNNING"
    created = created.replace(microsecond=0)
    assert created <= running["pullStartedAt"] <= running["pullStoppedAt"] <= running["startedAt"]
    c0 = running["containers"][0]
    assert c0["runtimeId"] == "docker-c0"
    assert c0["networkBindings"] == [{"bindIP": "127.0.0.1", "containerPort": 80, "hostPort": 8080, "protocol": "tcp"}]
    assert ecs.describe_clusters()["clusters"][0]["runningTasksCount"] == 1
    ecs.stop_task(task=ecs.task, reason="enough")
    ecs.submit_task_state_change(
        task=ecs.task, status="STOPPED", executionStoppedAt=time.time(),
        containers=[{"containerName": "c0", "status": "STOPPED", "exitCode": 0},
                    {"containerName": "c1", "status": "STOPPED", "exitCode": 143, "reason": "SIGTERM"}],
    )
    stopped = describe(ecs)
    assert stopped["lastStatus"] == "STOPPED" and stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "enough" and stopped["stopCode"] == "UserInitiated"
    assert running["startedAt"] <= stopped["stoppingAt"] <= stopped["stoppedAt"]
    # botocore sends request timestamps in whole seconds
    assert running["startedAt"].replace(microsecond=0) <= stopped["executionStoppedAt"] <= stopped["stoppedAt"]
    assert [c["exitCode"] for c in stopped["containers"]] == [0, 143]
    assert stopped["containers"][1]["reason"] == "SIGTERM"
    assert stopped["startedAt"] == running["startedAt"]  # stamped once


def test_reports_only_move_forward(placed):
    ecs = placed
    run_to_running(ecs)
    started = describe(ecs)["startedAt"]
    ecs.submit_task_state_change(task=ecs.task, status="PENDING")
    ecs.submit_container_state_change(task=ecs.task, containerName="c0", status="PENDING")
    again = describe(ecs)
    assert again["lastStatus"] == "RUNNING" and again["startedAt"] == started
    assert again["containers"][0]["lastStatus"] == "RUNNING"
    ecs.submit_task_state_change(task=ecs.task, status="RUNNING")  # a repeat changes nothing
    assert describe(ecs)["version"] == again["version"]


def test_stop_releases_resources_and_ports(placed):
    ecs = placed
    assert remaining(ecs, "CPU") == 2048 - 512
    assert "8080" in remaining(ecs, "PORTS")
    run_to_running(ecs)
    ecs.submit_container_state_change(task=ecs.task, containerName="c0", status="STOPPED", exitCode=3)
    ecs.submit_container_state_change(task=ecs.task, containerName="c1", status="STOPPED", exitCode=137)
    task = describe(ecs)
    assert task["lastStatus"] == "STOPPED"
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert remaining(ecs, "CPU") == 2048 and remaining(ecs, "MEMORY") == 4096
    assert "8080" not in remaining(ecs, "PORTS") and "22" in remaining(ecs, "PORTS")
    # a second STOPPED report does not release twice
    ecs.submit_task_state_change(task=ecs.task, status="STOPPED")
    assert remaining(ecs, "CPU") == 2048
    assert ecs.list_tasks()["taskArns"] == []
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [ecs.task]


def test_task_that_never_started(placed):
    ecs = placed
    ecs.submit_task_state_change(task=ecs.task, status="STOPPED", reason="CannotPullContainerError: no such image")
    task = describe(ecs)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError")
    assert "startedAt" not in task


def test_bad_reports(placed):
    ecs = placed
    with pytest.raises(ClientError) as e:
        ecs.submit_container_state_change(task=ecs.task, containerName="nope", status="RUNNING")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.submit_task_state_change(task="0" * 32, status="RUNNING")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.submit_container_state_change(task=ecs.task, containerName="c0", reason="r" * 256)
    assert error_code(e) == "InvalidParameterException"


def test_stopped_tasks_purged_after_retention(server, tmp_path):
    from conftest import ServerProcess

    short = ServerProcess(tmp_path / "short", "--task-retention", "1").start()
    try:
        ecs = short.client()
        ecs.create_cluster()
        register_instance(ecs)
        register_task_definition(ecs)
        arn = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
        ecs.submit_task_state_change(task=arn, status="STOPPED")
        assert ecs.describe_tasks(tasks=[arn])["tasks"]
        deadline = time.time() + 10
        while time.time() < deadline and ecs.describe_tasks(tasks=[arn])["tasks"]:
            time.sleep(0.2)
        assert ecs.describe_tasks(tasks=[arn])["failures"][0]["reason"] == "MISSING"
    finally:
        short.stop()


def test_stop_reported_first_thing_after_a_restart_releases_once(server):
    """Found by the crash test: right after a restart the instance cache is
    empty; a STOPPED report must give the task's share back exactly once."""
    ecs = server.client()
    ecs.create_cluster()
    instance = register_instance(ecs)
    register_task_definition(ecs)
    arns = [t["taskArn"] for t in ecs.run_task(taskDefinition="web", count=2)["tasks"]]
    server.restart()
    ecs = server.client()
    ecs.submit_task_state_change(task=arns[0], status="STOPPED")  # the first call after the restart
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") == 2048 - 256
    server.restart()
    ecs = server.client()
    ecs.run_task(taskDefinition="web")  # placement first thing after a restart: booked once
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") == 2048 - 2 * 256
