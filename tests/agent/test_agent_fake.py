"""The same agent code with the fake runtime: the task lifecycle for many tasks
at once, across several agents."""

import time

from conftest import AgentProcess


def test_many_tasks_across_fake_agents(server, tmp_path):
    ecs = server.client()
    ecs.create_cluster()
    agents = [
        AgentProcess(server, tmp_path / f"agent{i}", "--runtime", "fake",
                     "--cpu-units", "4096", "--memory-mib", "8192").start()
        for i in range(3)
    ]
    try:
        instances = {a.wait_registered() for a in agents}
        ecs.register_task_definition(family="batch", containerDefinitions=[
            {"name": "job", "image": "fake", "memory": 32, "cpu": 16, "command": ["sh", "-c", "sleep 1; exit 0"]}])
        ecs.register_task_definition(family="svc", containerDefinitions=[
            {"name": "svc", "image": "fake", "memory": 32, "cpu": 16, "portMappings": [{"containerPort": 80}]}])
        batch = [t["taskArn"] for _ in range(10) for t in ecs.run_task(taskDefinition="batch", count=10)["tasks"]]
        svc = [t["taskArn"] for t in ecs.run_task(taskDefinition="svc", count=10)["tasks"]]
        assert len(batch) == 100 and len(svc) == 10

        def described(arns):
            return [t for i in range(0, len(arns), 100)
                    for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]]

        deadline = time.time() + 60
        while time.time() < deadline:
            done = [t for t in described(batch) if t["lastStatus"] == "STOPPED"]
            if len(done) == len(batch):
                break
            time.sleep(0.5)
        assert len(done) == 100
        assert {t["containers"][0]["exitCode"] for t in done} == {0}
        assert {t["stopCode"] for t in done} == {"EssentialContainerExited"}
        assert {t["containerInstanceArn"] for t in done} == instances  # random placement used all
        for t in done:
            assert t["createdAt"] <= t["startedAt"] <= t["stoppedAt"]

        running = described(svc)
        assert {t["lastStatus"] for t in running} == {"RUNNING"}
        ports = [t["containers"][0]["networkBindings"][0]["hostPort"] for t in running]
        assert all(p >= 32768 for p in ports)
        for arn in svc:
            ecs.stop_task(task=arn, reason="scale in")
        deadline = time.time() + 30
        while time.time() < deadline and any(t["lastStatus"] != "STOPPED" for t in described(svc)):
            time.sleep(0.3)
        stopped = described(svc)
        assert {t["lastStatus"] for t in stopped} == {"STOPPED"}
        assert {t["containers"][0]["exitCode"] for t in stopped} == {143}
        assert {t["stoppedReason"] for t in stopped} == {"scale in"}
        for ci in ecs.describe_container_instances(containerInstances=list(instances))["containerInstances"]:
            assert ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0
            remaining = {r["name"]: r.get("integerValue") for r in ci["remainingResources"]}
            assert remaining["CPU"] == 4096 and remaining["MEMORY"] == 8192
    finally:
        for a in agents:
            a.stop()
