"""Tasks really run as Docker containers: exit codes, reasons, overrides, port
bindings, `docker stop` semantics, limits, timestamps, and restarts of the agent
and the server.  A real Docker engine; containers reached only on 127.0.0.1."""

import signal
import time
import urllib.request

import pytest

from conftest import TEST_IMAGE, wait_for_task
from helpers import resource

UNTIL_TERM = "trap 'exit 0' TERM; while true; do sleep 0.1; done"  # runs until SIGTERM, then exits 0


def register(ecs, family, *containers, **task_kw):
    defs = []
    for c in containers:
        d = {"image": TEST_IMAGE, "memory": 64, "essential": True} | c
        defs.append(d)
    ecs.register_task_definition(family=family, containerDefinitions=defs, **task_kw)


def run(ecs, family, **kw):
    out = ecs.run_task(taskDefinition=family, **kw)
    assert out["failures"] == [], out["failures"]
    return out["tasks"][0]["taskArn"]


def containers_of(docker_client, task_arn):
    # ignore_removed: one removed between the listing and its inspection is left out, not NotFound
    return docker_client.containers.list(all=True, filters={"label": f"com.amazonaws.ecs.task-arn={task_arn}"},
                                         ignore_removed=True)


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_and_stop_reason(server, docker_agent, code):
    ecs = server.client()
    register(ecs, "exit", {"name": "main", "command": ["sh", "-c", f"sleep 0.5; exit {code}"]})
    arn = run(ecs, "exit")
    task = wait_for_task(ecs, arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == code
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["desiredStatus"] == "STOPPED"
    assert task["containers"][0]["runtimeId"]


def test_overrides_applied(server, docker_agent):
    ecs = server.client()
    register(ecs, "env", {"name": "main", "command": ["sh", "-c", "exit 1"],
                          "environment": [{"name": "CODE", "value": "5"}]})
    arn = run(ecs, "env", overrides={"containerOverrides": [{
        "name": "main", "command": ["sh", "-c", "exit $((CODE + EXTRA))"],
        "environment": [{"name": "EXTRA", "value": "2"}]}]})
    assert wait_for_task(ecs, arn, "STOPPED")["containers"][0]["exitCode"] == 7


def test_dynamic_port_serves_http_on_loopback(server, docker_agent):
    ecs = server.client()
    register(ecs, "web", {"name": "web", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                          "portMappings": [{"containerPort": 8080}]})
    arn = run(ecs, "web")
    task = wait_for_task(ecs, arn, "RUNNING")
    [binding] = task["containers"][0]["networkBindings"]
    assert binding["containerPort"] == 8080 and binding["protocol"] == "tcp"
    assert binding["bindIP"] == "127.0.0.1"
    assert 32768 <= binding["hostPort"] <= 65535
    body = urllib.request.urlopen(f"http://127.0.0.1:{binding['hostPort']}/", timeout=5).read()
    assert body == b"hello from portside\n"
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_static_host_port(server, docker_agent):
    ecs = server.client()
    from conftest import free_port
    from portside.agent.agent import RESERVED_PORTS

    port = free_port()
    while str(port) in RESERVED_PORTS:  # 51678/51679 are in the ephemeral range: the instance holds them
        port = free_port()
    register(ecs, "static", {"name": "web", "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
                             "portMappings": [{"containerPort": 80, "hostPort": port}]})
    arn = run(ecs, "static")
    task = wait_for_task(ecs, arn, "RUNNING")
    assert task["containers"][0]["networkBindings"][0]["hostPort"] == port
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status == 200
    ecs.stop_task(task=arn)


def test_stop_task_sigterm_trapped_stops_at_once(server, docker_agent):
    ecs = server.client()
    register(ecs, "trap", {"name": "main", "stopTimeout": 10,
                           "command": ["sh", "-c", UNTIL_TERM]})
    arn = run(ecs, "trap")
    wait_for_task(ecs, arn, "RUNNING")
    started = time.monotonic()
    ecs.stop_task(task=arn, reason="test stop")
    task = wait_for_task(ecs, arn, "STOPPED")
    assert time.monotonic() - started < 5
    assert task["containers"][0]["exitCode"] == 0
    assert task["stoppedReason"] == "test stop" and task["stopCode"] == "UserInitiated"


def test_stop_task_sigterm_ignored_is_killed_after_stop_timeout(server, docker_agent):
    ecs = server.client()
    register(ecs, "stubborn", {"name": "main", "stopTimeout": 3,
                               "command": ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]})
    arn = run(ecs, "stubborn")
    wait_for_task(ecs, arn, "RUNNING")
    started = time.monotonic()
    ecs.stop_task(task=arn)
    task = wait_for_task(ecs, arn, "STOPPED", timeout=30)
    elapsed = time.monotonic() - started
    assert task["containers"][0]["exitCode"] == 137
    assert 3 <= elapsed < 10


def test_essential_exit_stops_sibling(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "pair",
             {"name": "main", "command": ["sh", "-c", "sleep 1; exit 4"]},
             {"name": "sidecar", "essential": False, "command": ["sh", "-c", UNTIL_TERM]})
    arn = run(ecs, "pair")
    task = wait_for_task(ecs, arn, "STOPPED")
    codes = {c["name"]: c["exitCode"] for c in task["containers"]}
    assert codes == {"main": 4, "sidecar": 0}
    assert all(c["lastStatus"] == "STOPPED" for c in task["containers"])


def test_non_essential_exit_leaves_task_running(server, docker_agent):
    ecs = server.client()
    register(ecs, "side",
             {"name": "main", "command": ["sh", "-c", UNTIL_TERM]},
             {"name": "oneshot", "essential": False, "command": ["sh", "-c", "exit 2"]})
    arn = run(ecs, "side")
    deadline = time.time() + 20
    while time.time() < deadline:
        task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        oneshot = [c for c in task["containers"] if c["name"] == "oneshot"][0]
        if oneshot.get("exitCode") is not None:
            break
        time.sleep(0.2)
    assert oneshot["exitCode"] == 2 and oneshot["lastStatus"] == "STOPPED"
    assert task["lastStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_container_that_cannot_start(server, docker_agent):
    ecs = server.client()
    register(ecs, "nostart", {"name": "main", "command": ["/no/such/binary"]})
    arn = run(ecs, "nostart")
    task = wait_for_task(ecs, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["containers"][0]["reason"].startswith("CannotStartContainerError")


def test_missing_image_fails_to_start(server, docker_agent):
    ecs = server.client()
    register(ecs, "missing", {"name": "main", "image": "127.0.0.1:9/portside/nothing:latest"})
    arn = run(ecs, "missing")
    task = wait_for_task(ecs, arn, "STOPPED", timeout=60)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == "Task failed to start"
    assert task["containers"][0]["reason"].startswith("CannotPullContainerError")
    assert len(task["containers"][0]["reason"]) <= 255
    assert "startedAt" not in task


def test_limits_labels_and_resources(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "limits", {"name": "main", "cpu": 256, "memory": 96, "memoryReservation": 48,
                             "command": ["sh", "-c", UNTIL_TERM],
                             "workingDirectory": "/tmp", "user": "65534"})
    arn = run(ecs, "limits")
    task = wait_for_task(ecs, arn, "RUNNING")
    [container] = containers_of(docker_client, arn)
    host = container.attrs["HostConfig"]
    assert host["Memory"] == 96 * 1024 * 1024
    assert host["MemoryReservation"] == 48 * 1024 * 1024
    assert host["CpuShares"] == 256
    assert container.attrs["Config"]["WorkingDir"] == "/tmp"
    assert container.attrs["Config"]["User"] == "65534"
    labels = container.labels
    assert labels["com.amazonaws.ecs.task-arn"] == arn
    assert labels["com.amazonaws.ecs.container-name"] == "main"
    assert labels["com.amazonaws.ecs.task-definition-family"] == "limits"
    assert container.id == task["containers"][0]["runtimeId"]
    instance = docker_agent.instance_arn
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    total = resource(ci, "registeredResources", "CPU")
    assert resource(ci, "remainingResources", "CPU") == total - 256
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") == total
    assert ci["runningTasksCount"] == 0


def test_timestamps_in_order(server, docker_agent):
    ecs = server.client()
    register(ecs, "times", {"name": "main", "command": ["sh", "-c", UNTIL_TERM]})
    arn = run(ecs, "times")
    running = wait_for_task(ecs, arn, "RUNNING")
    ecs.stop_task(task=arn)
    t = wait_for_task(ecs, arn, "STOPPED")

    def whole(d):  # botocore sends request timestamps in seconds
        return d.replace(microsecond=0)

    assert whole(t["createdAt"]) <= t["pullStartedAt"] <= t["pullStoppedAt"] <= t["startedAt"]
    assert t["startedAt"] == running["startedAt"]
    assert t["startedAt"] <= t["stoppingAt"] <= t["stoppedAt"]
    assert whole(t["startedAt"]) <= t["executionStoppedAt"] <= t["stoppedAt"]


def test_agent_killed_and_restarted_mid_task(server, docker_agent, docker_client):
    ecs = server.client()
    register(ecs, "long", {"name": "main", "command": ["sh", "-c", UNTIL_TERM]})
    register(ecs, "short", {"name": "main", "command": ["sh", "-c", "sleep 3; exit 9"]})
    long_arn, short_arn = run(ecs, "long"), run(ecs, "short")
    long_task = wait_for_task(ecs, long_arn, "RUNNING")
    wait_for_task(ecs, short_arn, "RUNNING")
    docker_agent.stop(signal.SIGKILL)
    time.sleep(4)  # the short task's container exits while no agent watches
    assert ecs.describe_tasks(tasks=[short_arn])["tasks"][0]["lastStatus"] == "RUNNING"
    docker_agent.start()
    short = wait_for_task(ecs, short_arn, "STOPPED")
    assert short["containers"][0]["exitCode"] == 9
    # the long task keeps its container: not restarted, not duplicated
    [container] = containers_of(docker_client, long_arn)
    assert container.id == long_task["containers"][0]["runtimeId"]
    assert container.status == "running"
    assert ecs.describe_tasks(tasks=[long_arn])["tasks"][0]["lastStatus"] == "RUNNING"
    ecs.stop_task(task=long_arn)
    assert wait_for_task(ecs, long_arn, "STOPPED")["containers"][0]["exitCode"] == 0


def test_server_restarted_while_tasks_run(server, docker_agent):
    ecs = server.client()
    register(ecs, "long", {"name": "main", "command": ["sh", "-c", UNTIL_TERM]})
    arn = run(ecs, "long")
    wait_for_task(ecs, arn, "RUNNING")
    server.restart(signal.SIGKILL)
    ecs = server.client()
    assert ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
    second = run(ecs, "long")  # the agent reconnects and picks up new work
    wait_for_task(ecs, second, "RUNNING")
    ecs.stop_task(task=arn)
    ecs.stop_task(task=second)
    wait_for_task(ecs, arn, "STOPPED")
    wait_for_task(ecs, second, "STOPPED")


def test_agent_connection_follows_heartbeats(tmp_path, test_image):
    from conftest import AgentProcess, ServerProcess

    server = ServerProcess(tmp_path / "srv", "--agent-timeout", "2").start()
    try:
        ecs = server.client()
        ecs.create_cluster()
        agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake").start()
        arn = agent.wait_registered()

        def connected():
            return ecs.describe_container_instances(containerInstances=[arn])["containerInstances"][0]["agentConnected"]

        assert connected() is True
        agent.stop(signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and connected():
            time.sleep(0.2)
        assert connected() is False
        register(ecs, "x", {"name": "main"})
        out = ecs.run_task(taskDefinition="x")
        assert out["failures"] == [{"arn": arn, "reason": "AGENT"}]
        agent.start()
        deadline = time.time() + 10
        while time.time() < deadline and not connected():
            time.sleep(0.2)
        assert connected() is True
        agent.stop()
    finally:
        server.stop()


def test_volumes_host_path_and_docker_volume(server, docker_agent, docker_client, tmp_path):
    ecs = server.client()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host\n")
    register(ecs, "vols",
             {"name": "main", "command": ["sh", "-c", "cat /host/in.txt > /host/out.txt; echo kept > /scratch/x; "
                                                      "cat /scratch/x >> /host/out.txt"],
              "mountPoints": [{"sourceVolume": "host", "containerPath": "/host"},
                              {"sourceVolume": "scratch", "containerPath": "/scratch"}]},
             volumes=[{"name": "host", "host": {"sourcePath": str(shared)}},
                      {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}])
    arn = run(ecs, "vols")
    task = wait_for_task(ecs, arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == 0
    assert (shared / "out.txt").read_text() == "from the host\nkept\n"


def test_network_modes_host_and_none(server, docker_agent, docker_client):
    ecs = server.client()
    from conftest import free_port
    from portside.agent.agent import RESERVED_PORTS

    port = free_port()
    while str(port) in RESERVED_PORTS:  # 51678/51679 are in the ephemeral range: the instance holds them
        port = free_port()
    register(ecs, "hostnet", {"name": "web", "command": ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
                              "portMappings": [{"containerPort": port}]}, networkMode="host")
    register(ecs, "nonet", {"name": "main", "command": ["sh", "-c", UNTIL_TERM]},
             networkMode="none")
    host_arn, none_arn = run(ecs, "hostnet"), run(ecs, "nonet")
    task = wait_for_task(ecs, host_arn, "RUNNING")
    assert task["containers"][0]["networkBindings"][0]["hostPort"] == port
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status == 200
    wait_for_task(ecs, none_arn, "RUNNING")
    modes = {c.labels["com.amazonaws.ecs.task-arn"]: c.attrs["HostConfig"]["NetworkMode"]
             for arn in (host_arn, none_arn) for c in containers_of(docker_client, arn)}
    assert modes == {host_arn: "host", none_arn: "none"}
    for arn in (host_arn, none_arn):
        ecs.stop_task(task=arn)
        wait_for_task(ecs, arn, "STOPPED")
