"""Crash safety of the server: `kill -9` at random moments under concurrent
RunTask / StopTask / RegisterTaskDefinition (and agent-report) load, restart,
and check that

  - every acknowledged task exists exactly once, and no task exists that no
    acknowledged call made (every call is retried until acknowledged, RunTask
    with its clientToken, so one that committed before the crash is found
    again rather than made twice);
  - a RunTask retried with an acknowledged clientToken answers the original
    tasks, across restarts, and makes nothing new;
  - acknowledged stops and reports are durable;
  - every task definition revision is whole, and each acknowledged one holds
    what was sent;
  - resources and ports are consistent (tests/consistency.py).

Bounded: ROUNDS kills, or fewer if the time budget runs out.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections import defaultdict

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from consistency import StoreChecker
from helpers import resources

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker

ROUNDS = 40
BUDGET_S = 45.0
CLIENTS = 6  # 2 RunTask, 1 StopTask, 1 agent-style reporter, 1 RegisterTaskDefinition, 1 reader
FIGURES: dict[str, int] = {}


class Load:
    """Client threads that retry every call until the server acknowledges it."""

    def __init__(self, server, instances: list[str]) -> None:
        self.server = server
        self.instances = instances
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.runs: dict[str, set[str]] = {}  # clientToken → acknowledged task ARNs
        self.params: dict[str, dict] = {}  # clientToken → what RunTask was asked
        self.stopped: set[str] = set()  # StopTask acknowledged
        self.reported: set[str] = set()  # SubmitTaskStateChange(STOPPED) acknowledged
        self.revisions: dict[int, str] = {}  # acknowledged revision → marker sent
        self.markers: set[str] = set()  # every marker ever sent
        self.errors: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.local = threading.local()

    def client(self):
        return self.server.client(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=20)

    def until_acknowledged(self, call, name: str, expect: str | None = None):
        """Retry through crashes; a 4xx is an answer too (returned as such).
        An answer without the `expect` member was cut short by the crash (the
        connection died mid-body) and is no acknowledgement: retried too.
        `self.local.failed_at`: when the last attempt failed (None: first try)."""
        self.local.failed_at = None
        while True:
            try:
                self.counts[name] += 1
                out = call()
                if expect is not None and expect not in out:
                    self.counts["answers_cut_short"] += 1
                    self.local.failed_at = time.time()
                    continue
                return out
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if status >= 500:
                    self.errors.append(f"{name}: {exc}")
                    return None
                return exc
            except BotoCoreError:  # connection refused / reset while the server is down
                self.counts["retries"] += 1
                self.local.failed_at = time.time()
                time.sleep(0.05)

    def acknowledged_tasks(self) -> list[str]:
        with self.lock:
            return [arn for arns in self.runs.values() for arn in arns]

    # -- the clients ---------------------------------------------------------------------

    def runner(self, seed: int) -> None:
        rng, ecs = random.Random(seed), self.client()
        while not self.stop.is_set():
            token = uuid.uuid4().hex
            family = rng.choice(["plain", "plain", "ported", "sized"])
            params = {"taskDefinition": family, "count": rng.randint(1, 3), "clientToken": token,
                      "tags": [{"key": "token", "value": token}]}
            out = self.until_acknowledged(lambda: ecs.run_task(**params), "RunTask", "tasks")
            if isinstance(out, dict):
                failed_at = self.local.failed_at
                if failed_at and out["tasks"] and out["tasks"][0]["createdAt"].timestamp() < failed_at - 0.01:
                    self.counts["run_task_found_again_by_token"] += 1  # committed, answer lost, retried
                with self.lock:
                    self.runs[token] = {t["taskArn"] for t in out["tasks"]}
                    self.params[token] = params
            elif isinstance(out, Exception):
                self.errors.append(f"RunTask refused: {out}")

    def stopper(self, seed: int) -> None:
        rng, ecs = random.Random(seed), self.client()
        while not self.stop.is_set():
            tasks = self.acknowledged_tasks()
            if not tasks:
                time.sleep(0.01)
                continue
            arn = rng.choice(tasks)
            out = self.until_acknowledged(lambda: ecs.stop_task(task=arn, reason="crash test"), "StopTask", "task")
            if isinstance(out, dict):
                with self.lock:
                    self.stopped.add(arn)

    def reporter(self, seed: int) -> None:
        """What an agent does: report RUNNING, and STOPPED once asked to stop
        (which gives the task's resources and ports back)."""
        rng, ecs = random.Random(seed), self.client()
        while not self.stop.is_set():
            with self.lock:
                candidates = sorted(self.stopped - self.reported)
            if candidates and rng.random() < 0.7:
                arn, status = rng.choice(candidates), "STOPPED"
            else:
                tasks = self.acknowledged_tasks()
                if not tasks:
                    time.sleep(0.01)
                    continue
                arn, status = rng.choice(tasks), "RUNNING"
            containers = [{"containerName": "c0", "status": status, **({"exitCode": 0} if status == "STOPPED" else {})}]
            out = self.until_acknowledged(
                lambda: ecs.submit_task_state_change(task=arn, status=status, containers=containers),
                "SubmitTaskStateChange")
            if isinstance(out, dict) and status == "STOPPED":
                with self.lock:
                    self.reported.add(arn)

    def registrar(self, seed: int) -> None:
        ecs = self.client()
        while not self.stop.is_set():
            marker = uuid.uuid4().hex
            with self.lock:
                self.markers.add(marker)
            out = self.until_acknowledged(lambda: ecs.register_task_definition(
                family="crashdef", containerDefinitions=[
                    {"name": "c0", "image": "busybox", "memory": 6,
                     "environment": [{"name": "MARKER", "value": marker}]}]), "RegisterTaskDefinition")
            if isinstance(out, dict):
                with self.lock:
                    self.revisions[out["taskDefinition"]["revision"]] = marker

    def reader(self, seed: int) -> None:
        rng, ecs = random.Random(seed), self.client()
        while not self.stop.is_set():
            tasks = self.acknowledged_tasks()
            if tasks:
                out = self.until_acknowledged(
                    lambda: ecs.describe_tasks(tasks=rng.sample(tasks, min(len(tasks), 20))), "DescribeTasks")
                if isinstance(out, dict) and out["failures"]:
                    self.errors.append(f"acknowledged tasks missing: {out['failures'][:3]}")
            self.until_acknowledged(lambda: ecs.describe_container_instances(containerInstances=self.instances),
                                    "DescribeContainerInstances")


def test_kill_9_under_load_loses_nothing_acknowledged(server):
    ecs = server.client()
    ecs.create_cluster()
    instances = [ecs.register_container_instance(
        totalResources=resources(cpu=1_000_000, memory=1_000_000))["containerInstance"]["containerInstanceArn"]
        for _ in range(3)]
    ecs.register_task_definition(family="plain", containerDefinitions=[
        {"name": "c0", "image": "busybox", "cpu": 7, "memory": 6}])
    ecs.register_task_definition(family="ported", containerDefinitions=[
        {"name": "c0", "image": "busybox", "cpu": 3, "memory": 6,
         "portMappings": [{"containerPort": 80, "hostPort": 8080},
                          {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]}])
    ecs.register_task_definition(family="sized", cpu="256", memory="512", containerDefinitions=[
        {"name": "c0", "image": "busybox", "memory": 64}])

    load = Load(server, instances)
    workers = [threading.Thread(target=fn, args=(i,), daemon=True) for i, fn in enumerate(
        [load.runner, load.runner, load.stopper, load.reporter, load.registrar, load.reader])]
    assert len(workers) == CLIENTS
    for w in workers:
        w.start()
    rng = random.Random(6)
    started, rounds = time.monotonic(), 0
    try:
        while rounds < ROUNDS and time.monotonic() - started < BUDGET_S:
            time.sleep(rng.uniform(0.05, 0.6))
            server.restart(signal.SIGKILL)
            rounds += 1
        time.sleep(0.5)  # a last stretch of load on the restarted server
    finally:
        load.stop.set()
        for w in workers:
            w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    assert load.errors == []

    ecs = server.client()
    # Every acknowledged task exists, exactly once; no task exists that no acknowledged call made.
    acknowledged = load.acknowledged_tasks()
    assert len(acknowledged) == len(set(acknowledged))
    listed = [arn for desired in ("RUNNING", "STOPPED") for arn in _all_task_arns(ecs, desired)]
    assert len(listed) == len(set(listed)), "a task is listed twice"
    assert set(listed) == set(acknowledged), (
        f"unacknowledged: {sorted(set(listed) - set(acknowledged))[:5]}, "
        f"lost: {sorted(set(acknowledged) - set(listed))[:5]}")
    # A retried clientToken answers the original tasks and makes nothing new.  (An
    # answer that placed nothing leaves no task to remember its token by.)
    for token, arns in load.runs.items():
        if arns:
            again = ecs.run_task(**load.params[token])
            assert {t["taskArn"] for t in again["tasks"]} == arns, token
    assert len([a for d in ("RUNNING", "STOPPED") for a in _all_task_arns(ecs, d)]) == len(listed)
    # Acknowledged stops and reports are durable; each task is whole (its tags came with it).
    described = {t["taskArn"]: t for t in _describe(ecs, listed)}
    for arn in load.stopped:
        assert described[arn]["desiredStatus"] == "STOPPED", arn
    for arn in load.reported:
        assert described[arn]["lastStatus"] == "STOPPED", arn
    for token, arns in load.runs.items():
        for arn in arns:
            assert described[arn]["tags"] == [{"key": "token", "value": token}], arn
    # Task definitions: revisions 1..N all whole; acknowledged ones hold what was sent.
    revisions = ecs.list_task_definitions(familyPrefix="crashdef", maxResults=100)
    arns = list(revisions["taskDefinitionArns"])
    while revisions.get("nextToken"):
        revisions = ecs.list_task_definitions(familyPrefix="crashdef", nextToken=revisions["nextToken"])
        arns += revisions["taskDefinitionArns"]
    numbers = sorted(int(a.rsplit(":", 1)[1]) for a in arns)
    assert numbers == list(range(1, len(numbers) + 1))
    for number in numbers:
        definition = ecs.describe_task_definition(taskDefinition=f"crashdef:{number}")["taskDefinition"]
        marker = definition["containerDefinitions"][0]["environment"][0]["value"]
        assert marker in load.markers
        if number in load.revisions:
            assert load.revisions[number] == marker
    # Resources and ports add up.
    assert StoreChecker(ecs).problems() == []
    FIGURES.update(rounds=rounds, clients=CLIENTS, tasks=len(acknowledged), stops=len(load.stopped),
                   stop_reports=len(load.reported), revisions=len(numbers),
                   calls=sum(v for k, v in load.counts.items() if k != "retries"),
                   retries=load.counts["retries"], seconds=int(time.monotonic() - started),
                   run_task_found_again_by_token=load.counts["run_task_found_again_by_token"])
    print(f"\nserver crash test: {FIGURES}")
    assert rounds >= 10


def _all_task_arns(ecs, desired: str) -> list[str]:
    out, token = [], None
    while True:
        page = ecs.list_tasks(desiredStatus=desired, **({"nextToken": token} if token else {}))
        out += page["taskArns"]
        token = page.get("nextToken")
        if not token:
            return out


def _describe(ecs, arns: list[str]) -> list[dict]:
    return [t for i in range(0, len(arns), 100)
            for t in ecs.describe_tasks(tasks=arns[i:i + 100], include=["TAGS"])["tasks"]]
