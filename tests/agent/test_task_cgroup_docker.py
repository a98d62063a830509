"""Task-level cpu and memory as ECS applies them on Linux for EC2 (issue 17):
one cgroup around the whole task (`/ecs/TASK_ID`), its containers inside it,
with the task's memory as a hard limit and its cpu as a CFS quota (real
Docker)."""

from __future__ import annotations

from pathlib import Path

from test_metadata_endpoint_docker import LOOP, inside

from conftest import TEST_IMAGE, wait_for_task

CGROUP = Path("/sys/fs/cgroup")


def _limit(kind: str, task_id: str, name: str) -> str:
    unified = (CGROUP / "cgroup.controllers").exists()
    base = CGROUP / "ecs" / task_id if unified else CGROUP / kind / "ecs" / task_id
    return (base / name).read_text().strip()


def test_a_task_is_bounded_as_a_whole_by_its_own_cgroup(server, docker_agent, docker_client):
    ecs = server.client()
    # no container has a memory limit of its own: only the task's 64 MiB bounds them
    ecs.register_task_definition(family="sized", cpu="256", memory="64", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "command": ["sh", "-c", LOOP]},
        {"name": "hog", "image": TEST_IMAGE, "essential": False,
         # ~100 MB in a shell variable: more than the task may have
         "command": ["sh", "-c", "sleep 1; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"]}])
    arn = ecs.run_task(taskDefinition="sized")["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[1]
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    # each container's cgroup is inside the task's
    memory_line = [line for line in inside(docker_client, arn, "app", "cat /proc/self/cgroup").splitlines()
                   if ":memory:" in line or line.startswith("0::")][0]
    assert f"/ecs/{task_id}/" in memory_line, memory_line
    if (CGROUP / "cgroup.controllers").exists():
        assert _limit("memory", task_id, "memory.max") == str(64 * 1024 * 1024)
        assert _limit("cpu", task_id, "cpu.max") == "25000 100000"
    else:
        assert _limit("memory", task_id, "memory.limit_in_bytes") == str(64 * 1024 * 1024)
        assert _limit("cpu", task_id, "cpu.cfs_quota_us") == "25000"  # 256/1024 of a CPU per 100 ms
        assert _limit("cpu", task_id, "cpu.cfs_period_us") == "100000"
    # the hog, with no limit of its own, is killed at the task's limit
    deadline_task = None
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deadline_task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        hog = next(c for c in deadline_task["containers"] if c["name"] == "hog")
        if hog.get("exitCode") is not None:
            break
        time.sleep(0.3)
    assert hog.get("exitCode") == 137, hog
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")
    # and the task's cgroup goes with it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any((CGROUP / k / "ecs" / task_id).exists() for k in ("memory", "cpu")):
        time.sleep(0.3)
    assert not any((CGROUP / k / "ecs" / task_id).exists() for k in ("memory", "cpu", ""))


def test_a_task_without_task_level_size_gets_no_cgroup_of_its_own(server, docker_agent, docker_client):
    ecs = server.client()
    ecs.register_task_definition(family="unsized", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", LOOP]}])
    arn = ecs.run_task(taskDefinition="unsized")["tasks"][0]["taskArn"]
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    assert "/ecs/" not in inside(docker_client, arn, "app", "cat /proc/self/cgroup")
    ecs.stop_task(task=arn)
