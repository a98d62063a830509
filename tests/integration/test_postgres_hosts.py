"""Several servers and agents on separate hosts (issue 16), the hosts being
network namespaces joined by a bridge on a private subnet of this machine
(tests/hosts.py): three `portside server --db postgresql://...` processes,
each in its own namespace, listening on its own address, with the README
recipe's keys file and one shared key file; PostgreSQL (a throwaway cluster),
the test's boto3 clients and the Docker engine on this machine, a host on that
network too (the subnet's .1); a fake-runtime agent in a namespace of its own
and a real-Docker agent on the Docker engine's host, both given all three
servers' addresses (`--server A,B,C`) and signing with an `agent` key.

A partition is a host's link taken down (`ip link set eth0 down` in its
namespace): unlike a killed process or a relay that resets connections, the
other side sees nothing at all, and established connections go silent.

  - The leader cut off: another server leads within the lease time plus a
    few seconds; the cut-off server, asked from inside its namespace, says
    the database is unreachable and it does not lead; the service is met at
    its count (and raised through another server) with no task started
    twice (counted in the tasks table) and no instance overbooked; with its
    link back it rejoins as a follower and the new leader keeps the lease.
  - The agents' own server (a follower) cut off: both agents move to another
    server (their TCP connections are read with `ss`) and
    keep reporting: a task stopped and a task started through another server
    reach STOPPED and RUNNING, on Docker as containers gone and started.

Why the Docker agent is not in a namespace of its own: an agent runs on its
engine's host, and this one needs the engine's network. It serves the task
metadata endpoint on the Docker bridge's gateway address (172.17.0.1), which
exists only in the engine's namespace: started in another namespace it stops
at once (bind: cannot assign requested address); it also checks a host port
is free by binding it where it runs, while Docker publishes ports in its own.
Another engine inside a namespace would be a second dockerd, more than these
tests' machines should run. So the Docker host is this machine, on the
network by its .1 address.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

import hosts
from agent_containers import containers_by_task, remove_containers
from conftest import AgentProcess, ServerProcess, in_netns, wait_for_task
from helpers import wait_for
from pg_servers import ADMIN, AGENT, LEASE_S, health, keys_file, start_servers, stop_servers, wait_for_one_leader
from portside.testing import postgres

_why_not = postgres.unavailable() or hosts.available()
pytestmark = [pytest.mark.skipif(_why_not is not None, reason=str(_why_not)),
              pytest.mark.serial]  # timing (lease, handover), and the Docker engine

FAKE_CPU, FAKE_MEMORY = 2048, 4096
DOCKER_CPU, DOCKER_MEMORY = 512, 1024
UNREACHABLE = (503, {"status": "unhealthy", "role": "follower", "database": "unreachable"})
FOLLOWING = (200, {"status": "ok", "role": "follower", "database": "ok"})
# An agent gives up a silent server mid long poll within about 5 s (TCP keepalives,
# agent/server_client.py); without them it waited out the poll: 35 s and more.
FAILOVER_S = 25


@pytest.fixture(scope="module")
def lan() -> Iterator[tuple[hosts.Network, postgres.PostgresServer]]:
    """Four hosts (servers s0-s2, the fake agent's a0) and PostgreSQL on this machine's address."""
    network = hosts.make_network()
    try:
        for name in ("s0", "s1", "s2", "a0"):
            network.add_host(name)
        with postgres.postgres_server(listen=network.gateway, allow=str(network.subnet)) as pg:
            yield network, pg
    finally:
        network.close()


class Deployment:
    """One test's servers and agents on the hosts, stopped (and every link healed) by `close`."""

    def __init__(self, lan: tuple[hosts.Network, postgres.PostgresServer], tmp_path: Path) -> None:
        self.network, pg = lan
        self.by_name = {h.name: h for h in self.network.hosts}
        name = f"t{uuid.uuid4().hex}"
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.dsn = pg.dsn.rsplit("/", 1)[0] + "/" + name
        self.tmp_path = tmp_path
        self.keys = keys_file(tmp_path / "keys.ini")
        self.servers: list[ServerProcess] = []
        self.agents: list[AgentProcess] = []

    def start_servers(self) -> list[ServerProcess]:
        self.servers = start_servers(self.dsn, self.tmp_path, 3, "--credentials", str(self.keys),
                                     hosts=[self.by_name[n] for n in ("s0", "s1", "s2")])
        return self.servers

    def host_of(self, server: ServerProcess) -> hosts.Host:
        return next(h for h in self.network.hosts if h.namespace == server.netns)

    def start_agent(self, host: str | None, servers: list[ServerProcess], *extra: str) -> AgentProcess:
        """An agent on `host`, or on this machine (None: the Docker engine's host)."""
        agent = AgentProcess(SimpleNamespace(endpoint=",".join(s.endpoint for s in servers)),  # type: ignore[arg-type]
                             self.tmp_path / (host or "docker-host"), *extra,
                             netns=self.by_name[host].namespace if host else None,
                             env={"AWS_ACCESS_KEY_ID": AGENT[0], "AWS_SECRET_ACCESS_KEY": AGENT[1]})
        self.agents.append(agent.start())
        agent.wait_registered(timeout=30)
        return agent

    def close(self, docker_client) -> None:
        for host in self.network.hosts:
            self.network.heal(host)
        for agent in self.agents:
            try:
                agent.stop()
            except Exception:
                if agent.proc is not None:
                    agent.proc.kill()
        stop_servers(self.servers)
        for agent in self.agents:
            if agent.instance_arn:
                remove_containers(docker_client, agent.instance_arn)


def _client(server: ServerProcess):
    return server.client(key=ADMIN, connect_timeout=2, read_timeout=20)


def _register(ecs, test_image: str) -> None:
    ecs.create_cluster()
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": test_image, "command": ["sleep", "3600"], "cpu": 128, "memory": 64}])


def _start_on(ecs, instance: str) -> str:
    return ecs.start_task(taskDefinition="web", containerInstances=[instance])["tasks"][0]["taskArn"]


def _running(ecs, service: str) -> int:
    return ecs.describe_services(services=[service])["services"][0]["runningCount"]


def test_a_leader_cut_off_by_its_link_is_replaced_and_rejoins_as_a_follower(
        lan, tmp_path: Path, test_image: str, docker_client) -> None:
    deployment = Deployment(lan, tmp_path)
    try:
        servers = deployment.start_servers()
        leader = wait_for_one_leader(servers)
        others = [s for s in servers if s is not leader]
        ecs = _client(others[0])
        _register(ecs, test_image)
        # The agents poll followers first: this test is about leadership (the next one cuts an agent's server).
        fake = deployment.start_agent("a0", [*others, leader], "--runtime", "fake", "--cpu-units", str(FAKE_CPU),
                                      "--memory-mib", str(FAKE_MEMORY))
        on_docker = deployment.start_agent(None, [*others[::-1], leader], "--runtime", "docker", "--cpu-units",
                                           str(DOCKER_CPU), "--memory-mib", str(DOCKER_MEMORY), "--stop-timeout", "1")
        _client(leader).create_service(serviceName="svc", taskDefinition="web", desiredCount=6)
        standalone = _start_on(_client(others[1]), on_docker.wait_registered())
        wait_for(lambda: _running(ecs, "svc") == 6, timeout=60, what="the service's 6 tasks running")
        wait_for_task(ecs, standalone, "RUNNING", timeout=60)

        cut = deployment.host_of(leader)
        deployment.network.cut(cut)
        cut_at = time.monotonic()
        successor = wait_for_one_leader(others, timeout=LEASE_S + 10)
        handover = time.monotonic() - cut_at
        wait_for(lambda: health(leader, inside=True) == UNREACHABLE, timeout=LEASE_S + 10,
                 what="/health on the cut-off server (asked inside its namespace): database unreachable, follower")
        assert health(leader)[0] == 0, "the cut-off server is still reachable from outside"
        _client(successor).update_service(service="svc", desiredCount=8)
        wait_for(lambda: _running(ecs, "svc") == 8, timeout=30, what="the service raised to 8 after the cut")
        raised = time.monotonic() - cut_at

        deployment.network.heal(cut)
        wait_for(lambda: health(leader) == FOLLOWING, timeout=LEASE_S + 15, what="the healed server follows")
        time.sleep(LEASE_S + 1)  # a lease period and more after healing
        assert wait_for_one_leader(servers) is successor, "the healed server took the lease back"
        assert _running(_client(leader), "svc") == 8
        assert handover <= LEASE_S + 3, f"handover took {handover:.1f} s"

        with psycopg.connect(deployment.dsn) as conn:
            made = conn.execute("SELECT last_status, desired_status FROM tasks WHERE service_name = 'svc'").fetchall()
            held: dict[str, list[dict]] = defaultdict(list)
            for instance, reservation in conn.execute(
                    "SELECT instance_arn, reservation FROM tasks WHERE last_status != 'STOPPED'"):
                held[instance].append(json.loads(reservation))
        assert sorted(made) == [("RUNNING", "RUNNING")] * 8, f"the service's tasks: {made}"  # none made twice
        capacity = {fake.instance_arn: (FAKE_CPU, FAKE_MEMORY), on_docker.instance_arn: (DOCKER_CPU, DOCKER_MEMORY)}
        assert set(held) <= set(capacity)
        for instance, reservations in held.items():
            assert sum(r["cpu"] for r in reservations) <= capacity[instance][0], f"{instance} overbooked (CPU)"
            assert sum(r["memory"] for r in reservations) <= capacity[instance][1], f"{instance} overbooked (memory)"
        containers = containers_by_task(docker_client, on_docker.instance_arn)
        assert standalone in containers
        assert all([c["State"] for c in found] == ["running"] for found in containers.values()), \
            "a task on Docker with other than one running container"
        print(f"\nleader's link down: another led after {handover:.2f} s, the service ran 8 after {raised:.1f} s")
    finally:
        deployment.close(docker_client)


def _peers(agent: AgentProcess) -> set[str]:
    """host:port of the agent process's established TCP connections (`ss`, in its namespace)."""
    assert agent.proc is not None
    out = subprocess.run(in_netns(agent.netns, ["ss", "-Htnp", "state", "established"]),
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={agent.proc.pid}," in line}


def test_agents_whose_server_is_cut_off_move_to_another_and_keep_reporting(
        lan, tmp_path: Path, test_image: str, docker_client) -> None:
    deployment = Deployment(lan, tmp_path)
    try:
        servers = deployment.start_servers()
        leader = wait_for_one_leader(servers)
        own = next(s for s in servers if s is not leader)  # a follower: only the agents lose their server
        rest = [s for s in servers if s is not own]
        ecs = _client(leader)
        _register(ecs, test_image)
        agents = [deployment.start_agent("a0", [own, *rest], "--runtime", "fake"),
                  deployment.start_agent(None, [own, *rest[::-1]], "--runtime", "docker", "--cpu-units",
                                         str(DOCKER_CPU), "--memory-mib", str(DOCKER_MEMORY), "--stop-timeout", "1")]
        before = [_start_on(ecs, agent.wait_registered()) for agent in agents]
        for arn in before:
            wait_for_task(ecs, arn, "RUNNING", timeout=60)
        own_address = f"{own.host}:{own.port}"
        for agent in agents:
            wait_for(lambda: own_address in _peers(agent), timeout=10, what="the agent connected to its own server")

        deployment.network.cut(deployment.host_of(own))
        cut_at = time.monotonic()
        for arn in before:
            ecs.stop_task(task=arn, reason="stopped while the agent's server is cut off")
        after = [_start_on(ecs, agent.wait_registered()) for agent in agents]
        for arn in before:
            wait_for_task(ecs, arn, "STOPPED", timeout=FAILOVER_S)
        for arn in after:
            wait_for_task(ecs, arn, "RUNNING", timeout=FAILOVER_S)
        failover = time.monotonic() - cut_at
        others = {f"{s.host}:{s.port}" for s in rest}
        for agent in agents:  # a poll's connection closes after its answer: looked at until one is open
            wait_for(lambda: _peers(agent) & others, timeout=10, what="the agent connected to another server")
        containers = containers_by_task(docker_client, agents[1].instance_arn)
        assert [c["State"] for c in containers[after[1]]] == ["running"]
        assert "running" not in [c["State"] for c in containers[before[1]]], "the stopped task's container runs on"
        print(f"\nagents' reports arriving through another server: {failover:.1f} s after the cut")

        deployment.network.heal(deployment.host_of(own))
        wait_for(lambda: health(own) == FOLLOWING, timeout=LEASE_S + 15, what="the healed server follows")
    finally:
        deployment.close(docker_client)
