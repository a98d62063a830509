"""The service scheduler with fake-runtime agents: DAEMON across instances
(including ones registered later), draining an instance, a deployment
interrupted by a server restart, and a service of 500 tasks."""

import signal
import time

import pytest

from conftest import AgentProcess
from helpers import wait_for

pytestmark = [pytest.mark.server_args("--service-interval", "0.2"),
              pytest.mark.serial]  # timing: conftest runs these one at a time on one xdist worker


@pytest.fixture
def server(server):
    server.client().create_cluster()
    return server


@pytest.fixture
def start_agents(server, tmp_path):
    started = []

    def start(n, cpu=4096, memory=8192):
        agents = [AgentProcess(server, tmp_path / f"agent{len(started) + i}", "--runtime", "fake",
                               "--cpu-units", str(cpu), "--memory-mib", str(memory)).start()
                  for i in range(n)]
        started.extend(agents)
        return [a.wait_registered() for a in agents]

    yield start
    for a in started:
        a.stop()




def describe(ecs, name):
    return ecs.describe_services(services=[name])["services"][0]


def steady(ecs, name, count, revision=None):
    def check():
        svc = describe(ecs, name)
        (d, *rest) = svc["deployments"]
        ok = (not rest and svc["runningCount"] == count and svc["pendingCount"] == 0
              and d["rolloutState"] == "COMPLETED"
              and (revision is None or svc["taskDefinition"].endswith(f":{revision}")))
        return svc if ok else None
    return check


def tasks_of(ecs, name, desired="RUNNING"):
    arns = [a for page in ecs.get_paginator("list_tasks").paginate(serviceName=name, desiredStatus=desired)
            for a in page["taskArns"]]
    return [t for i in range(0, len(arns), 100) for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]]


def register(ecs, family="app", **env):
    ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "app", "image": "fake", "cpu": 16, "memory": 32,
        "environment": [{"name": k, "value": v} for k, v in env.items()]}])


def test_daemon_runs_one_task_on_every_active_instance(server, start_agents):
    ecs = server.client()
    first = set(start_agents(3))
    register(ecs, "agentd")
    svc = ecs.create_service(serviceName="agentd", taskDefinition="agentd", schedulingStrategy="DAEMON")["service"]
    assert svc["desiredCount"] == 3 and svc["deploymentConfiguration"]["maximumPercent"] == 100
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    wait_for(steady(ecs, "agentd", 3), what="3 daemon tasks")
    assert {t["containerInstanceArn"] for t in tasks_of(ecs, "agentd")} == first
    later = start_agents(1)[0]  # an instance registered later gets its daemon task
    svc = wait_for(steady(ecs, "agentd", 4), what="4 daemon tasks")
    assert svc["desiredCount"] == 4
    assert {t["containerInstanceArn"] for t in tasks_of(ecs, "agentd")} == first | {later}
    drained = sorted(first)[0]
    ecs.update_container_instances_state(containerInstances=[drained], status="DRAINING")
    wait_for(steady(ecs, "agentd", 3), what="daemon task leaves the draining instance")
    assert drained not in {t["containerInstanceArn"] for t in tasks_of(ecs, "agentd")}
    register(ecs, "agentd", VERSION="2")  # a rolling update, one instance at a time
    ecs.update_service(service="agentd", taskDefinition="agentd")
    wait_for(steady(ecs, "agentd", 3, revision=2), what="daemon redeployed")
    assert {t["taskDefinitionArn"][-1] for t in tasks_of(ecs, "agentd")} == {"2"}
    ecs.delete_service(service="agentd")  # DAEMON services need no scaling to 0
    wait_for(lambda: describe(ecs, "agentd")["status"] == "INACTIVE", what="INACTIVE")
    assert tasks_of(ecs, "agentd") == []


def test_draining_replaces_elsewhere_first(server, start_agents):
    ecs = server.client()
    a, b = start_agents(2, cpu=4096)
    register(ecs)
    # every task on instance a: b has no room until a drains
    ecs.update_container_instances_state(containerInstances=[b], status="DRAINING")
    ecs.create_service(serviceName="app", taskDefinition="app", desiredCount=4)
    wait_for(steady(ecs, "app", 4), what="4 tasks on a")
    ecs.update_container_instances_state(containerInstances=[b], status="ACTIVE")
    ecs.update_container_instances_state(containerInstances=[a], status="DRAINING")
    lowest = 4
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [t for t in tasks_of(ecs, "app") if t["lastStatus"] == "RUNNING"]
        lowest = min(lowest, len(running))
        if len(running) == 4 and all(t["containerInstanceArn"] == b for t in running):
            break
        time.sleep(0.1)
    assert {t["containerInstanceArn"] for t in tasks_of(ecs, "app")} == {b}
    assert lowest == 4  # minimumHealthyPercent 100: replacements ran before the old tasks stopped
    wait_for(steady(ecs, "app", 4), what="steady on b")
    ci = ecs.describe_container_instances(containerInstances=[a])["containerInstances"][0]
    assert ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0


def test_circuit_breaker_without_rollback_fails_the_deployment(server, start_agents):
    ecs = server.client()
    start_agents(1)
    register(ecs)
    ecs.create_service(serviceName="app", taskDefinition="app", desiredCount=8,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    wait_for(steady(ecs, "app", 8), what="8 running")
    # New tasks that never run (their image cannot be pulled: TaskFailedToStart).  A container
    # that exits at once may be RUNNING for a moment, and the rollout may then stop old tasks
    # for it, as ECS does; the old deployment's serving would be left to chance.
    ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "fake/does-not-exist", "cpu": 16, "memory": 32}])
    failed = ecs.update_service(service="app", taskDefinition="app")["service"]["deployments"][0]["id"]

    def failed_state():
        svc = describe(ecs, "app")
        return svc if svc["deployments"][0]["rolloutState"] == "FAILED" else None

    svc = wait_for(failed_state, what="deployment FAILED")
    primary = svc["deployments"][0]
    assert primary["id"] == failed and primary["failedTasks"] >= 4  # 0.5 × 8
    assert primary["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    # among the newest events (the same tick may also report old tasks it stopped)
    assert f"(service app) (deployment {failed}) deployment failed: tasks failed to start." in [
        e["message"] for e in svc["events"][:3]]
    def every_task():
        return {t["taskArn"] for status in ("RUNNING", "STOPPED") for t in tasks_of(ecs, "app", status)}

    time.sleep(0.5)
    before = every_task()
    time.sleep(1.0)  # a FAILED deployment starts no more tasks (AWS: "stop launching new tasks")
    assert every_task() == before
    svc = describe(ecs, "app")
    assert svc["deployments"][0]["pendingCount"] == 0 and svc["deployments"][0]["runningCount"] == 0
    assert svc["deployments"][1]["runningCount"] >= 1  # the old deployment keeps serving
    assert {t["startedBy"] for t in tasks_of(ecs, "app")} == {svc["deployments"][1]["id"]}


def test_tasks_of_a_deregistered_instance_are_replaced(server, start_agents):
    ecs = server.client()
    a, b = start_agents(2)
    register(ecs)
    ecs.create_service(serviceName="app", taskDefinition="app", desiredCount=4)
    wait_for(steady(ecs, "app", 4), what="4 running")
    ecs.deregister_container_instance(containerInstance=a, force=True)
    # the orphans left on a (its agent gone) no longer count: 4 run on b
    wait_for(lambda: steady(ecs, "app", 4)() and sum(
        1 for t in tasks_of(ecs, "app") if t["containerInstanceArn"] == b and t["lastStatus"] == "RUNNING") == 4,
        what="replaced on b")


def test_crash_loop_is_throttled(server, start_agents):
    ecs = server.client()
    start_agents(1)
    ecs.register_task_definition(family="crash", containerDefinitions=[
        {"name": "app", "image": "fake", "cpu": 16, "memory": 32, "command": ["sh", "-c", "exit 1"]}])
    ecs.create_service(serviceName="crash", taskDefinition="crash", desiredCount=1)
    time.sleep(4.0)
    stopped = ecs.list_tasks(serviceName="crash", desiredStatus="STOPPED")["taskArns"]
    # tick 0.2 s: restarts after 3 failures in a row wait 0.2, 0.4, 0.8, 1.6 s, ...
    assert 3 <= len(stopped) <= 12, len(stopped)
    messages = [e["message"] for e in describe(ecs, "crash")["events"]]
    assert "(service crash) is unable to consistently start tasks successfully." in messages


def test_deployment_survives_server_restart(server, start_agents):
    ecs = server.client()
    start_agents(2)
    register(ecs)
    ecs.create_service(serviceName="app", taskDefinition="app", desiredCount=20,
                       deploymentConfiguration={"maximumPercent": 110, "minimumHealthyPercent": 90})
    wait_for(steady(ecs, "app", 20), what="20 running")
    per_instance = {}
    for t in tasks_of(ecs, "app"):
        per_instance[t["containerInstanceArn"]] = per_instance.get(t["containerInstanceArn"], 0) + 1
    assert sorted(per_instance.values()) == [10, 10]  # spread across instances by default
    register(ecs, VERSION="2")
    ecs.update_service(service="app", taskDefinition="app")
    wait_for(lambda: any(t["taskDefinitionArn"].endswith(":2") for t in tasks_of(ecs, "app")), 10,
             what="the rollout started")
    server.stop(signal.SIGKILL)  # in the middle of the deployment
    server.start()
    ecs = server.client()
    svc = describe(ecs, "app")
    assert svc["taskDefinition"].endswith(":2") and len(svc["deployments"]) == 2
    svc = wait_for(steady(ecs, "app", 20, revision=2), 60, what="rollout finished after the restart")
    running = tasks_of(ecs, "app")
    assert len(running) == 20 and {t["startedBy"] for t in running} == {svc["deployments"][0]["id"]}
    assert {t["lastStatus"] for t in running} == {"RUNNING"}
    messages = [e["message"] for e in svc["events"]]
    assert messages[0] == "(service app) has reached a steady state."
    assert messages[1] == f"(service app) (deployment {svc['deployments'][0]['id']}) deployment completed."


def test_service_of_500_tasks(server, start_agents):
    ecs = server.client()
    start_agents(2, cpu=8192, memory=16384)
    ecs.register_task_definition(family="many", containerDefinitions=[
        {"name": "app", "image": "fake", "cpu": 8, "memory": 16}])
    started = time.monotonic()
    ecs.create_service(serviceName="many", taskDefinition="many", desiredCount=500)
    svc = wait_for(steady(ecs, "many", 500), 120, what="500 running")
    elapsed = time.monotonic() - started
    assert svc["runningCount"] == 500 and svc["deployments"][0]["runningCount"] == 500
    assert len(tasks_of(ecs, "many")) == 500
    assert ecs.describe_clusters()["clusters"][0]["runningTasksCount"] == 500
    print(f"500 tasks steady in {elapsed:.1f} s")
    ecs.update_service(service="many", desiredCount=100)
    wait_for(steady(ecs, "many", 100), 60, what="scaled in to 100")
