"""Failover of the leader (issue 16): three servers on one PostgreSQL
database, agents on the fake runtime polling all three (`--server A,B,C`),
plus one agent on real Docker (its share of the tasks run as containers),
a REPLICA service of 20 tasks, and in each round a rolling deployment in
progress when the leader is killed with `kill -9`.  Meanwhile a client runs
standalone tasks through any server (each RunTask retried with its
clientToken until some server acknowledges it).  Each round checks that

  - another server leads within the lease time (plus one renewal period);
  - the deployment completes: one PRIMARY deployment, COMPLETED, 20 tasks
    RUNNING, all of the new revision;

and at the end, from the database, that

  - no task was started twice: each deployment made exactly 20 tasks (a
    deposed leader's scheduler made none);
  - no acknowledged change was lost: every acknowledged RunTask's tasks
    exist, once, under its clientToken, and no token has tasks of more than
    one call; every acknowledged StopTask's task is to stop;
  - no instance is overbooked (CPU and host ports of its live tasks);
  - on Docker, no task ever had two containers, and every live task of the
    Docker agent runs in exactly one.

Bounded: ROUNDS kills, or fewer if BUDGET_S runs out (at least MIN_ROUNDS);
PORTSIDE_PG_CRASH_ROUNDS=N runs N rounds instead, with no time budget
(the longer runs TRUST.md reports).
The killed server is restarted after each round, so three serve again.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from agent_containers import containers_by_task, remove_containers
from conftest import AgentProcess
from pg_servers import LEASE_S, kill, start_servers, stop_servers, wait_for_one_leader
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))

ROUNDS = int(os.environ.get("PORTSIDE_PG_CRASH_ROUNDS", "4"))
MIN_ROUNDS = 3 if "PORTSIDE_PG_CRASH_ROUNDS" not in os.environ else ROUNDS
BUDGET_S = 60.0
DESIRED = 20
AGENTS = 4
AGENT_CPU = 2048
AGENT_MEMORY = 8192
FIGURES: dict[str, object] = {}


class AnyServer:
    """Calls retried on the next server until one answers (a kill is in progress)."""

    def __init__(self, servers) -> None:
        self.servers = servers
        self.clients: dict[str, object] = {}

    def call(self, method: str, **params):
        deadline = time.monotonic() + 30
        i = random.randrange(len(self.servers))
        while True:
            server = self.servers[i % len(self.servers)]
            i += 1
            if server.proc is None:
                continue
            client = self.clients.setdefault(server.endpoint, server.client(
                retries={"max_attempts": 1}, connect_timeout=2, read_timeout=20))
            try:
                return getattr(client, method)(**params)
            except ClientError as exc:
                if exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500 or time.monotonic() > deadline:
                    raise
            except BotoCoreError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)


def _deployment_done(api: AnyServer, revision: int) -> bool:
    service = api.call("describe_services", services=["svc"])["services"][0]
    deployments = service["deployments"]
    if len(deployments) != 1 or deployments[0].get("rolloutState") != "COMPLETED":
        return False
    if not deployments[0]["taskDefinition"].endswith(f":{revision}") or service["runningCount"] != DESIRED:
        return False
    arns = api.call("list_tasks", serviceName="svc", desiredStatus="RUNNING")["taskArns"]
    if len(arns) != DESIRED:
        return False
    tasks = api.call("describe_tasks", tasks=arns)["tasks"]
    return all(t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"].endswith(f":{revision}") for t in tasks)


def _wait(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except (ClientError, BotoCoreError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


DOCKER_CPU = 512
DOCKER_MEMORY = 1024


def test_killing_the_leader_mid_deployment_loses_nothing(tmp_path: Path, test_image: str, docker_client) -> None:
    dsn = postgres.fresh_database()
    servers = start_servers(dsn, tmp_path, 3, "--agent-timeout", "15")
    agents: list[AgentProcess] = []
    stop = threading.Event()
    acknowledged: dict[str, set[str]] = {}
    stopped: list[str] = []  # tasks whose StopTask was acknowledged
    errors: list[str] = []
    docker_agent: AgentProcess | None = None
    try:
        api = AnyServer(servers)
        api.call("create_cluster")
        for i in range(AGENTS):
            order = [s.endpoint for s in servers[i % 3:] + servers[:i % 3]]
            agent = AgentProcess(SimpleNamespace(endpoint=",".join(order)), tmp_path / f"agent{i}",  # type: ignore[arg-type]
                                 "--runtime", "fake", "--cpu-units", str(AGENT_CPU), "--memory-mib", str(AGENT_MEMORY))
            agents.append(agent.start())
        docker_agent = AgentProcess(
            SimpleNamespace(endpoint=",".join(s.endpoint for s in reversed(servers))), tmp_path / "docker",  # type: ignore[arg-type]
            "--runtime", "docker", "--cpu-units", str(DOCKER_CPU), "--memory-mib", str(DOCKER_MEMORY),
            "--host-port-range", "47000-47100", "--stop-timeout", "1")
        agents.append(docker_agent.start())
        for agent in agents:
            agent.wait_registered()

        def register(revision_marker: str) -> int:
            return api.call("register_task_definition", family="web", containerDefinitions=[
                {"name": "web", "image": test_image, "command": ["sleep", "3600"], "cpu": 128, "memory": 64,
                 "environment": [{"name": "MARK", "value": revision_marker}]}])["taskDefinition"]["revision"]

        revision = register("r1")
        api.call("register_task_definition", family="job", containerDefinitions=[
            {"name": "job", "image": test_image, "command": ["sleep", "3600"], "cpu": 64, "memory": 32}])
        api.call("create_service", serviceName="svc", taskDefinition=f"web:{revision}", desiredCount=DESIRED,
                 deploymentConfiguration={"maximumPercent": 125, "minimumHealthyPercent": 75})
        _wait(lambda: _deployment_done(api, revision), 60, "the first deployment")

        def runner(seed: int) -> None:
            rng = random.Random(seed)
            load = AnyServer(servers)
            live: list[str] = []
            while not stop.is_set():
                token = uuid.uuid4().hex
                try:
                    if len(live) >= 8:  # keep the cluster's capacity for the service
                        load.call("stop_task", task=live[0], reason="crash test")
                        stopped.append(live.pop(0))
                        continue
                    out = load.call("run_task", taskDefinition="job", count=rng.randint(1, 2), clientToken=token)
                except (ClientError, BotoCoreError) as exc:
                    errors.append(f"RunTask/StopTask: {exc}")
                    return
                acknowledged[token] = {t["taskArn"] for t in out["tasks"]}
                live += acknowledged[token]
                time.sleep(0.05)

        load = threading.Thread(target=runner, args=(1,))
        load.start()

        handovers: list[float] = []
        deployments: list[float] = []
        started = time.monotonic()
        rounds = 0
        while rounds < ROUNDS and (rounds < MIN_ROUNDS or time.monotonic() - started < BUDGET_S):
            revision = register(f"r{rounds + 2}")
            api.call("update_service", service="svc", taskDefinition=f"web:{revision}")
            updated = time.monotonic()
            _wait(lambda: any(t.endswith(f":{revision}") for t in [
                d["taskDefinitionArn"] for d in api.call("describe_tasks", tasks=api.call(
                    "list_tasks", serviceName="svc")["taskArns"] or ["none"])["tasks"]]),
                20, "the rolling deployment started")
            leader = wait_for_one_leader(servers)
            kill(leader)
            killed = time.monotonic()
            wait_for_one_leader([s for s in servers if s.proc is not None], timeout=LEASE_S + 10)
            handovers.append(time.monotonic() - killed)
            leader.start()  # three servers again (it follows until the lease is free)
            _wait(lambda: _deployment_done(api, revision), 90, f"deployment {revision} after the kill")
            deployments.append(time.monotonic() - updated)
            rounds += 1
        stop.set()
        load.join(60)
        assert not errors, errors[:3]

        with psycopg.connect(dsn) as conn:
            per_revision = dict(conn.execute(
                "SELECT doc::json->>'taskDefinitionArn', COUNT(*) FROM tasks WHERE service_name = 'svc' "
                "GROUP BY 1").fetchall())
            by_token: dict[str, set[str]] = defaultdict(set)
            for token, arn in conn.execute("SELECT client_token, arn FROM tasks WHERE client_token IS NOT NULL"):
                by_token[token].add(arn)
            not_stopping = conn.execute("SELECT arn FROM tasks WHERE arn = ANY(%s) AND desired_status != 'STOPPED'",
                                        (stopped,)).fetchall()
            held: dict[str, list[dict]] = defaultdict(list)
            for instance, reservation in conn.execute(
                    "SELECT instance_arn, reservation FROM tasks WHERE last_status != 'STOPPED'"):
                held[instance].append(json.loads(reservation))
        assert len(per_revision) == rounds + 1
        assert all(n == DESIRED for n in per_revision.values()), f"tasks made per deployment: {per_revision}"
        for token, arns in acknowledged.items():
            stored = by_token.get(token, set())
            assert stored == arns, f"RunTask {token}: acknowledged {arns}, stored {stored}"
        assert stopped and not not_stopping, f"acknowledged StopTasks lost: {not_stopping}"
        unacknowledged = set(by_token) - set(acknowledged)
        assert not unacknowledged, f"tasks of calls never acknowledged: {unacknowledged}"
        for instance, reservations in held.items():
            docker_host = instance == docker_agent.instance_arn
            assert sum(r["cpu"] for r in reservations) <= (DOCKER_CPU if docker_host else AGENT_CPU), \
                f"{instance} overbooked (CPU)"
            assert sum(r["memory"] for r in reservations) <= (DOCKER_MEMORY if docker_host else AGENT_MEMORY), \
                f"{instance} overbooked (memory)"
            ports = [p for r in reservations for p in r["ports"]]
            assert len(ports) == len(set(ports)), f"{instance} books a host port twice"
        containers = containers_by_task(docker_client, docker_agent.instance_arn)
        assert all(len(c) == 1 for c in containers.values()), "a task started twice on Docker"
        on_docker = [arn for arn in api.call("list_tasks", serviceName="svc", desiredStatus="RUNNING")["taskArns"]
                     if api.call("describe_tasks", tasks=[arn])["tasks"][0].get("containerInstanceArn")
                     == docker_agent.instance_arn]
        for arn in on_docker:
            assert [c["State"] for c in containers.get(arn, [])] == ["running"], arn
        with psycopg.connect(dsn) as conn:
            docker_tasks = conn.execute("SELECT COUNT(*) FROM tasks WHERE instance_arn = %s",
                                        (docker_agent.instance_arn,)).fetchone()[0]
        FIGURES.update(rounds=rounds, handover_max_s=round(max(handovers), 2),
                       handover_mean_s=round(sum(handovers) / len(handovers), 2),
                       deployment_max_s=round(max(deployments), 1), acknowledged_run_tasks=len(acknowledged),
                       tasks_on_docker=docker_tasks)
        print(f"\nleader failover figures: {FIGURES}")
        assert max(handovers) <= LEASE_S + 2, handovers
    finally:
        stop.set()
        for agent in agents:
            try:
                agent.stop()
            except Exception:
                pass
        stop_servers(servers)
        if docker_agent is not None and docker_agent.instance_arn:
            remove_containers(docker_client, docker_agent.instance_arn)
