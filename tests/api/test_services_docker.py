"""Services with real containers (a server and a real Docker agent): a
service reaches its desired count, a container killed behind Portside's back
is replaced, scaling, a rolling update, a failing revision tripping the
circuit breaker and rolling back, and deleting with and without force."""

import time

import pytest

from conftest import TEST_IMAGE
from helpers import wait_for

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


pytestmark = pytest.mark.server_args("--service-interval", "0.2")


def register(ecs, family="web", command=LOOP, **env):
    out = ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": TEST_IMAGE, "memory": 32, "essential": True, "command": command,
        "environment": [{"name": k, "value": v} for k, v in env.items()]}])
    return out["taskDefinition"]["taskDefinitionArn"]




def describe(ecs, name="web"):
    return ecs.describe_services(services=[name])["services"][0]


def steady(ecs, count, name="web", definition=None):
    def check():
        svc = describe(ecs, name)
        d = svc["deployments"][0]
        ok = (len(svc["deployments"]) == 1 and svc["runningCount"] == count and svc["pendingCount"] == 0
              and d["rolloutState"] == "COMPLETED" and (definition is None or d["taskDefinition"] == definition))
        return svc if ok else None
    return check


def running_tasks(ecs, name="web"):
    arns = ecs.list_tasks(serviceName=name)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def containers(docker_client, task_arn):
    return docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={task_arn}"})


def test_replica_service_lifecycle(server, docker_agent, docker_client):
    ecs = server.client()
    td1 = register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
    svc = wait_for(steady(ecs, 2), what="2 running")
    messages = [e["message"] for e in svc["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert messages[-1].startswith("(service web) has started 2 tasks: (task ")
    tasks = running_tasks(ecs)
    assert len(tasks) == 2 and all(len(containers(docker_client, t["taskArn"])) == 1 for t in tasks)

    # killed behind Portside's back: replaced
    victim = tasks[0]["taskArn"]
    containers(docker_client, victim)[0].kill()
    wait_for(lambda: victim not in {t["taskArn"] for t in running_tasks(ecs)} and steady(ecs, 2)(),
             what="the killed task replaced")
    dead = ecs.describe_tasks(tasks=[victim])["tasks"][0]
    assert dead["lastStatus"] == "STOPPED" and dead["stopCode"] == "EssentialContainerExited"
    assert dead["containers"][0]["exitCode"] == 137

    # scale up and down
    ecs.update_service(service="web", desiredCount=3)
    wait_for(steady(ecs, 3), what="scaled to 3")
    ecs.update_service(service="web", desiredCount=1)
    svc = wait_for(steady(ecs, 1), what="scaled to 1")
    assert any(e["message"].startswith("(service web) has stopped 2 running tasks: (task ") for e in svc["events"])
    assert len(docker_client.containers.list(ignore_removed=True, filters={
        "label": f"com.portside.container-instance-arn={docker_agent.instance_arn}"})) == 1

    # a rolling update to a new revision
    ecs.update_service(service="web", desiredCount=2)
    wait_for(steady(ecs, 2), what="back to 2")
    old = {t["taskArn"] for t in running_tasks(ecs)}
    td2 = register(ecs, REVISION="2")
    svc = ecs.update_service(service="web", taskDefinition="web")["service"]
    new_id = svc["deployments"][0]["id"]
    lowest = 2
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not steady(ecs, 2, definition=td2)():
        lowest = min(lowest, sum(1 for t in running_tasks(ecs) if t["lastStatus"] == "RUNNING"))
        time.sleep(0.1)
    svc = wait_for(steady(ecs, 2, definition=td2), 5, what="rolled out")
    assert lowest >= 2  # minimumHealthyPercent 100 held throughout
    now_running = running_tasks(ecs)
    assert not old & {t["taskArn"] for t in now_running}
    assert {t["taskDefinitionArn"] for t in now_running} == {td2}
    assert {t["startedBy"] for t in now_running} == {new_id}
    assert svc["deployments"][0]["id"] == new_id and svc["taskDefinition"] == td2 != td1
    assert f"(service web) (deployment {new_id}) deployment completed." in [e["message"] for e in svc["events"]]

    # delete: refused while scaled above 0, then with force
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.delete_service(service="web")
    assert ecs.delete_service(service="web", force=True)["service"]["status"] == "DRAINING"
    wait_for(lambda: describe(ecs)["status"] == "INACTIVE", what="INACTIVE")
    assert running_tasks(ecs) == [] and describe(ecs)["runningCount"] == 0
    assert ecs.list_services()["serviceArns"] == []


def test_delete_without_force_after_scaling_to_zero(server, docker_agent):
    ecs = server.client()
    register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)
    wait_for(steady(ecs, 1), what="1 running")
    ecs.update_service(service="web", desiredCount=0)
    assert ecs.delete_service(service="web")["service"]["status"] == "DRAINING"
    wait_for(lambda: describe(ecs)["status"] == "INACTIVE", what="INACTIVE")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)  # the name is free again
    wait_for(steady(ecs, 1), what="re-created")


@pytest.mark.parametrize("failing", ["exit", "pull"])
def test_circuit_breaker_rolls_back(server, docker_agent, failing):
    ecs = server.client()
    good = register(ecs)
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    svc = wait_for(steady(ecs, 2), what="2 running")
    completed = svc["deployments"][0]["id"]
    if failing == "exit":
        register(ecs, command=["sh", "-c", "exit 1"])
    else:
        ecs.register_task_definition(family="web", containerDefinitions=[
            {"name": "main", "image": "127.0.0.1:9/x:latest", "memory": 32, "essential": True}])
    failed = ecs.update_service(service="web", taskDefinition="web")["service"]["deployments"][0]["id"]
    svc = wait_for(steady(ecs, 2, definition=good), 60, what="rolled back")
    rollback = svc["deployments"][0]
    assert rollback["id"] not in (failed, completed)
    assert rollback["rolloutStateReason"] == f"ECS deployment {rollback['id']} completed."
    assert svc["taskDefinition"] == good
    messages = [e["message"] for e in svc["events"]]
    assert f"(service web) (deployment {failed}) deployment failed: tasks failed to start." in messages
    assert f"(service web) (deployment {rollback['id']}) rolling back to deployment {completed}." in messages
    stopped = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"][:100])
    failures = [t for t in stopped["tasks"] if t["startedBy"] == failed
                and t["stopCode"] in ("TaskFailedToStart", "EssentialContainerExited")]
    assert len(failures) >= 3  # the threshold: 0.5 × desired count, at least 3
    # the old tasks kept running throughout (minimumHealthyPercent 100)
    assert all(t["startedBy"] in (completed, rollback["id"]) for t in running_tasks(ecs))
