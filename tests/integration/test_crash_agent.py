"""Crash safety of the agent, on real Docker: `kill -9` at random short delays
after RunTask / StopTask (so during image pull, create, start or stop), then a
restart on the same data dir, many rounds; and check that

  - there is never more than one container per task and container name;
  - once the agent has caught up, every task is in a truthful state: a RUNNING
    task's containers run in Docker (under the runtimeIds the server was told),
    a STOPPED task has no container left, no container is left whose task the
    server does not know, and each task the user stopped is STOPPED;
  - after stopping everything, nothing is left behind.

Bounded: ROUNDS kills, or fewer if the time budget runs out.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from conftest import TEST_IMAGE, AgentProcess

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker

ROUNDS = 30
BUDGET_S = 60.0
SETTLE_S = 60.0
PULL_DELAY_S = 0.35
TASK_ARN = "com.amazonaws.ecs.task-arn"
NAME = "com.amazonaws.ecs.container-name"
FIGURES: dict[str, object] = {}

SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]  # stops at once on SIGTERM


@pytest.fixture(scope="module")
def slow_registry():
    """A registry on loopback (Docker trusts 127.0.0.0/8 over plain HTTP) that
    answers every request after PULL_DELAY_S with a 404: a pull of its images
    takes ~1 s and then fails, so the agent can be killed in the middle of it."""
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(PULL_DELAY_S)
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

        def log_error(self, *args):
            pass

    registry = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    registry.daemon_threads = True
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{registry.server_address[1]}"
    registry.shutdown()


@pytest.fixture
def crash_agent(server, tmp_path, test_image, docker_client):
    server.client().create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "docker", "--stop-timeout", "1")
    agent.start().wait_registered()
    yield agent
    agent.stop(signal.SIGKILL)
    for container in _containers(docker_client, agent.instance_arn):
        docker_client.api.remove_container(container.id, force=True)


class _Seen:
    """One container as a single `docker ps -a` listing saw it (listing then
    inspecting each would race with the agent removing them)."""

    def __init__(self, summary: dict) -> None:
        self.id = summary["Id"]
        self.labels = summary.get("Labels") or {}
        self.status = summary.get("State", "")


def _containers(docker_client, instance_arn: str) -> list[_Seen]:
    return [_Seen(s) for s in docker_client.api.containers(
        all=True, filters={"label": f"com.portside.container-instance-arn={instance_arn}"})]


def _duplicates(containers) -> list[tuple[str, str]]:
    seen = Counter((c.labels.get(TASK_ARN), c.labels.get(NAME)) for c in containers)
    return [key for key, n in seen.items() if n > 1]


def _untruths(ecs, docker_client, instance_arn: str, arns: list[str], stopped_by_user: set[str]) -> list[str]:
    """What the server says against what Docker has; [] when they agree and
    every task has come to rest (RUNNING or STOPPED)."""
    tasks = {t["taskArn"]: t for i in range(0, len(arns), 100)
             for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]}
    containers = _containers(docker_client, instance_arn)
    by_task: dict[str, list] = {}
    for c in containers:
        by_task.setdefault(c.labels.get(TASK_ARN, ""), []).append(c)
    problems = [f"duplicate container {key}" for key in _duplicates(containers)]
    for arn in set(by_task) - set(tasks):
        problems.append(f"container of unknown task {arn}")
    for arn, task in tasks.items():
        found = {c.labels.get(NAME): c for c in by_task.get(arn, [])}
        status = task["lastStatus"]
        if status == "RUNNING":
            if arn in stopped_by_user:
                problems.append(f"{arn}: stopped by the user but RUNNING")
            for container in task["containers"]:
                docker = found.get(container["name"])
                if docker is None or docker.status != "running":
                    problems.append(f"{arn}: RUNNING but {container['name']} is "
                                    f"{docker.status if docker else 'missing'} in Docker")
                elif container.get("runtimeId") != docker.id:
                    problems.append(f"{arn}: runtimeId {container.get('runtimeId')} is not {docker.id}")
        elif status == "STOPPED":
            if found:
                problems.append(f"{arn}: STOPPED but containers remain: {sorted(found)}")
        else:
            problems.append(f"{arn}: still {status} (desired {task['desiredStatus']})")
    return problems


def _untruthful_stop(task: dict) -> str | None:
    """A task that stopped by itself says why truthfully: containers that ran
    (have an exit code) mean EssentialContainerExited, a failure to start
    carries the failure's reason."""
    if task["lastStatus"] != "STOPPED" or task.get("stopCode") == "UserInitiated":
        return None
    ran = [c["name"] for c in task["containers"] if c.get("exitCode") is not None]
    family = task["taskDefinitionArn"].rsplit("/", 1)[1]
    detail = f"{task['taskArn']} ({family}): {task.get('stopCode')} / {task.get('stoppedReason')} " + str(
        [(c["name"], c.get("exitCode"), (c.get("reason") or "")[:40]) for c in task["containers"]])
    if ran and task.get("stopCode") != "EssentialContainerExited":
        return detail
    if task.get("stopCode") == "TaskFailedToStart" and not any(c.get("reason") for c in task["containers"]):
        return detail
    if family.startswith("short") and task.get("stopCode") != "EssentialContainerExited":
        return detail
    return None


def _wait_up(agent: AgentProcess, starts: int, timeout: float = 20) -> None:
    """Until the agent has registered for the `starts`-th time (it polls next)."""
    deadline = time.monotonic() + timeout
    while agent.log.read_text().count("agent registered") < starts:
        assert time.monotonic() < deadline, agent.log.read_text()[-2000:]
        assert agent.proc is not None and agent.proc.poll() is None, agent.log.read_text()[-2000:]
        time.sleep(0.02)


def _settle(ecs, docker_client, instance_arn, arns, stopped_by_user) -> list[str]:
    deadline = time.monotonic() + SETTLE_S
    while True:
        problems = _untruths(ecs, docker_client, instance_arn, arns, stopped_by_user)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.25)


def test_kill_9_during_pull_create_start_and_stop(server, crash_agent, docker_client, slow_registry):
    ecs = server.client()
    definitions = {
        "sleeper": [{"name": "main", "command": SLEEPER}],
        "pair": [{"name": "a", "command": SLEEPER}, {"name": "b", "command": SLEEPER}],
        "short": [{"name": "main", "command": ["sh", "-c", "sleep 0.3; exit 3"]}],
        "absent": [{"name": "main", "image": "portside-test/absent:latest", "command": SLEEPER}],
        "slowpull": [{"name": "main", "image": f"{slow_registry}/slow/image:1", "command": SLEEPER}],
    }
    for family, containers in definitions.items():
        ecs.register_task_definition(family=family, containerDefinitions=[
            {"image": TEST_IMAGE, "memory": 16, "essential": True} | c for c in containers])
    instance = crash_agent.wait_registered()
    rng = random.Random(int(os.environ.get("PORTSIDE_CRASH_SEED", "9")))
    arns: list[str] = []
    stopped_by_user: set[str] = set()
    kills, duplicates_seen = Counter(), []
    started, rounds = time.monotonic(), 0

    def stop_some(n: int) -> None:
        live = [a for a in arns if a not in stopped_by_user]
        for arn in rng.sample(live, min(n, len(live))):
            ecs.stop_task(task=arn, reason="crash test")
            stopped_by_user.add(arn)

    starts = 1
    _wait_up(crash_agent, starts)
    while rounds < ROUNDS and time.monotonic() - started < BUDGET_S:
        phase = rng.choice(["run", "run", "stop", "run+stop"]) if arns else "run"
        family = ""
        if "run" in phase:
            family = rng.choice(["sleeper", "sleeper", "pair", "pair", "short", "absent", "slowpull"])
            out = ecs.run_task(taskDefinition=family, count=rng.randint(1, 2))
            assert out["failures"] == [], out["failures"]
            arns += [t["taskArn"] for t in out["tasks"]]
        if "stop" in phase:
            stop_some(rng.randint(1, 2))
        time.sleep(rng.uniform(0.0, 0.8))  # pull, create, start or stop is under way
        crash_agent.stop(signal.SIGKILL)
        kills[f"{phase}:{family}" if "run" in phase else phase] += 1
        duplicates_seen += _duplicates(_containers(docker_client, instance))
        if rng.random() < 0.3:
            stop_some(1)  # asked while the agent is down
        crash_agent.start()
        starts += 1
        _wait_up(crash_agent, starts)
        rounds += 1
    assert duplicates_seen == []
    assert crash_agent.wait_registered() == instance

    problems = _settle(ecs, docker_client, instance, arns, stopped_by_user)
    assert problems == [], "\n".join(problems)
    # (DescribeTasks refuses an empty list, as AWS does: only the chunks that hold tasks)
    tasks = [t for i in range(0, min(len(arns), 200), 100) for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]]
    statuses = Counter(t["lastStatus"] for t in tasks)
    assert [_untruthful_stop(t) for t in tasks if _untruthful_stop(t)] == []
    reasons = Counter((t.get("stopCode"), t["containers"][0].get("reason", "")[:24]) for t in tasks
                      if t["lastStatus"] == "STOPPED")

    for arn in arns:  # then stop everything: nothing may be left behind
        if arn not in stopped_by_user:
            ecs.stop_task(task=arn)
            stopped_by_user.add(arn)
    problems = _settle(ecs, docker_client, instance, arns, stopped_by_user)
    assert problems == [], "\n".join(problems)
    assert {t["lastStatus"] for i in range(0, len(arns), 100)
            for t in ecs.describe_tasks(tasks=arns[i:i + 100])["tasks"]} == {"STOPPED"}
    assert _containers(docker_client, instance) == []
    FIGURES.update(rounds=rounds, tasks=len(arns), kills=dict(kills), settled=dict(statuses),
                   stop_reasons={f"{k[0]}|{k[1]}": v for k, v in reasons.items()},
                   seconds=int(time.monotonic() - started))
    print(f"\nagent crash test: {FIGURES}")
    assert rounds >= 15


def test_task_that_ran_while_the_agent_was_dead_is_not_reported_as_failed_to_start(
        server, crash_agent, docker_client):
    """The agent started a task's container and died before its RUNNING report
    reached the server; the container then exited by itself.  The restarted
    agent finds it exited: the task ran, so it stopped because its essential
    container exited (with that exit code), not because it failed to start."""
    from portside.agent.runtime import LABEL_CLUSTER, LABEL_FAMILY, LABEL_INSTANCE, LABEL_REVISION

    ecs = server.client()
    ecs.register_task_definition(family="ran", containerDefinitions=[
        {"name": "main", "image": TEST_IMAGE, "memory": 16, "command": ["sh", "-c", "exit 3"]}])
    instance = crash_agent.wait_registered()
    _wait_up(crash_agent, 1)
    crash_agent.stop(signal.SIGKILL)
    arn = ecs.run_task(taskDefinition="ran")["tasks"][0]["taskArn"]
    container = docker_client.containers.run(TEST_IMAGE, ["sh", "-c", "exit 3"], detach=True, labels={
        TASK_ARN: arn, NAME: "main", LABEL_CLUSTER: "default", LABEL_FAMILY: "ran", LABEL_REVISION: "1",
        LABEL_INSTANCE: instance})
    assert container.wait()["StatusCode"] == 3
    crash_agent.start()
    deadline = time.monotonic() + 30
    while (task := ecs.describe_tasks(tasks=[arn])["tasks"][0])["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline, task
        time.sleep(0.1)
    assert task["containers"][0]["exitCode"] == 3
    assert (task["stopCode"], task["stoppedReason"]) == ("EssentialContainerExited",
                                                         "Essential container in task exited")
    assert "startedAt" in task
    deadline = time.monotonic() + 10
    while _containers(docker_client, instance):  # and it is cleaned up
        assert time.monotonic() < deadline
        time.sleep(0.1)
