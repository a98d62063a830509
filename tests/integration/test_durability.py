"""Acknowledged state survives restarts (also kill -9), and racing clients can
never place more than an instance holds."""

import signal
from concurrent.futures import ThreadPoolExecutor

from helpers import register_instance, register_task_definition, resource


def test_state_survives_sigterm_and_kill_9(server):
    ecs = server.client()
    ecs.create_cluster(clusterName="keep", tags=[{"key": "k", "value": "v"}])
    instance = register_instance(ecs, cluster="keep")
    register_task_definition(ecs)
    arns = [t["taskArn"] for t in ecs.run_task(cluster="keep", taskDefinition="web", count=3)["tasks"]]
    ecs.stop_task(cluster="keep", task=arns[0], reason="bye")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        server.restart(sig)
        ecs = server.client()
        out = ecs.describe_tasks(cluster="keep", tasks=arns)
        assert [t["taskArn"] for t in out["tasks"]] == arns
        assert out["tasks"][0]["stoppedReason"] == "bye"
        ci = ecs.describe_container_instances(cluster="keep", containerInstances=[instance])["containerInstances"][0]
        assert resource(ci, "remainingResources", "CPU") == 2048 - 3 * 256
        assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
        assert ecs.describe_clusters(clusters=["keep"], include=["TAGS"])["clusters"][0]["tags"] == [
            {"key": "k", "value": "v"}
        ]


def test_sigterm_exits_cleanly(server):
    assert server.stop(signal.SIGTERM) == 0


def test_racing_clients_never_overbook(server):
    ecs = server.client()
    ecs.create_cluster()
    instance = register_instance(ecs, cpu=2560, memory=100000)  # room for exactly 10 tasks of 256
    register_task_definition(ecs)
    clients = [server.client() for _ in range(8)]

    def grab(client):
        return len(client.run_task(taskDefinition="web", count=3)["tasks"])

    with ThreadPoolExecutor(8) as pool:
        placed = sum(pool.map(grab, clients))
    assert placed == 10
    assert len(ecs.list_tasks()["taskArns"]) == 10
    ci = ecs.describe_container_instances(containerInstances=[instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") == 0
