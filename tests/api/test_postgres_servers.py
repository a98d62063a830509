"""Several real `portside server` processes on one PostgreSQL database
(issue 16): one leader, handed over when it dies; placement from two servers
at once that never overbooks (checked in the database afterwards); a
clientToken retried on another server; agents that fail over and are woken
through another server; a database outage that fails calls fast and heals
by itself; a leader cut off from the database (through a relay) deposed."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess, ServerProcess, wait_for_task
from helpers import register_instance, wait_for
from pg_servers import LEASE_S, health, kill, start_servers, stop_servers, wait_for_one_leader
from portside.testing import postgres

pytestmark = [pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable())),
              pytest.mark.serial]  # timing: lease expiry, handover, fail-fast bounds


@pytest.fixture
def dsn() -> str:
    return postgres.fresh_database()


def _web_cluster(ecs, instances: int) -> None:
    """The default cluster with `instances` fake instances and the `web` task definition."""
    ecs.create_cluster()
    for _ in range(instances):
        register_instance(ecs)
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "nginx", "cpu": 128, "memory": 128}])


def test_one_server_leads_and_another_takes_over_when_it_dies(dsn: str, tmp_path: Path) -> None:
    servers = start_servers(dsn, tmp_path, 3)
    try:
        leader = wait_for_one_leader(servers)
        for server in servers:
            status, body = health(server)
            assert status == 200 and body["database"] == "ok"
            assert body["role"] == ("leader" if server is leader else "follower")
        kill(leader)  # kill -9: no chance to let the lease go
        killed_at = time.monotonic()
        alive = [s for s in servers if s is not leader]
        successor = wait_for_one_leader(alive, timeout=LEASE_S + 5)
        handover = time.monotonic() - killed_at
        assert handover <= LEASE_S + 2, f"handover took {handover:.1f} s"
        successor.stop()  # a clean stop lets the lease go at once
        stopped_at = time.monotonic()
        last = [s for s in alive if s is not successor]
        wait_for_one_leader(last, timeout=LEASE_S + 5)
        assert time.monotonic() - stopped_at < LEASE_S, "a clean stop waited for the lease to expire"
    finally:
        stop_servers(servers)


def test_a_paused_leader_is_deposed_and_comes_back_as_a_follower(dsn: str, tmp_path: Path) -> None:
    """SIGSTOP the leader past its lease (as a partition from the database
    would look to the others): another server takes over; when the old one
    wakes it follows (its lease ran out by its own clock, and the lease now
    carries another token, so its scheduler's fenced writes would be refused)."""
    servers = start_servers(dsn, tmp_path, 2)
    try:
        leader = wait_for_one_leader(servers)
        other = next(s for s in servers if s is not leader)
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for_one_leader([other], timeout=LEASE_S + 5)
        finally:
            leader.proc.send_signal(signal.SIGCONT)
        assert wait_for_one_leader(servers) is other
        time.sleep(LEASE_S)
        assert wait_for_one_leader(servers) is other, "the woken server took the lease back"
        assert health(leader)[1]["role"] == "follower"
    finally:
        stop_servers(servers)


@pytest.mark.sqlite_only("its subject: one server on SQLite always leads")
def test_sqlite_server_always_leads(server: ServerProcess) -> None:
    status, body = health(server)
    assert status == 200 and body["role"] == "leader" and body["database"] == "ok"


def test_only_the_leader_runs_the_service_scheduler(dsn: str, tmp_path: Path) -> None:
    """A REPLICA and a DAEMON service created through a follower are started
    by the leader, and a stopped task is purged after its retention (the
    janitor); when the leader dies the next one carries on: desiredCount
    raised through a follower is met, a new instance gets its daemon task,
    another stopped task is purged."""
    servers = start_servers(dsn, tmp_path, 2, "--task-retention", "1")
    try:
        leader = wait_for_one_leader(servers)
        follower = next(s for s in servers if s is not leader)
        ecs = follower.client()
        _web_cluster(ecs, 2)
        ecs.create_service(serviceName="svc", taskDefinition="web", desiredCount=3)
        ecs.create_service(serviceName="daemon", taskDefinition="web", schedulingStrategy="DAEMON")
        wait_for(lambda: len(ecs.list_tasks(serviceName="svc")["taskArns"]) == 3, what="3 tasks placed")
        wait_for(lambda: len(ecs.list_tasks(serviceName="daemon")["taskArns"]) == 2, what="a daemon task per instance")
        _purged_after_stop(ecs)
        assert "leading: this server runs" in leader.log.read_text()
        assert "leading: this server runs" not in follower.log.read_text()
        kill(leader)
        wait_for_one_leader([follower], timeout=LEASE_S + 5)
        ecs.update_service(service="svc", desiredCount=5)
        register_instance(ecs)
        wait_for(lambda: len(ecs.list_tasks(serviceName="svc")["taskArns"]) == 5, what="5 tasks placed")
        wait_for(lambda: len(ecs.list_tasks(serviceName="daemon")["taskArns"]) == 3,
                 what="the new instance's daemon task")
        _purged_after_stop(ecs)
    finally:
        stop_servers(servers)


def _purged_after_stop(ecs) -> None:
    """A standalone task stopped (and reported so) is gone once the retention has passed."""
    arn = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    ecs.stop_task(task=arn)
    ecs.submit_task_state_change(task=arn, status="STOPPED", reason="test",
                                 containers=[{"containerName": "web", "status": "STOPPED", "exitCode": 0}])
    wait_for(lambda: ecs.describe_tasks(tasks=[arn])["failures"], timeout=20, what="the stopped task purged")


def _live_holdings(dsn: str) -> dict[str, list[dict]]:
    """Instance ARN → the reservations of its live tasks, read from the database."""
    held: dict[str, list[dict]] = defaultdict(list)
    with psycopg.connect(dsn) as conn:
        for instance, reservation in conn.execute(
                "SELECT instance_arn, reservation FROM tasks WHERE last_status != 'STOPPED'"):
            held[instance].append(json.loads(reservation))
    return held


def test_two_servers_placing_at_full_speed_never_overbook(dsn: str, tmp_path: Path) -> None:
    """Three small instances (1,024 CPU units and 1,024 MiB each); clients on
    two servers RunTask as fast as they can, half of them a task that takes
    host port 8080, the other half one that fills memory before CPU, and stop
    tasks now and then (reported STOPPED at once, as an agent would).
    Afterwards no instance holds more CPU or memory than it has or the same
    host port twice, counted from the tasks table."""
    servers = start_servers(dsn, tmp_path, 2)
    try:
        ecs = servers[0].client()
        ecs.create_cluster()
        instances = [register_instance(ecs, cpu=1024, memory=1024) for _ in range(3)]
        ecs.register_task_definition(family="port", containerDefinitions=[
            {"name": "c", "image": "nginx", "cpu": 256, "memory": 64,
             "portMappings": [{"containerPort": 80, "hostPort": 8080}]}])
        ecs.register_task_definition(family="cpu", containerDefinitions=[  # memory binds: 2 fit by it, 8 by CPU
            {"name": "c", "image": "nginx", "cpu": 128, "memory": 384}])
        stop = threading.Event()
        placed: dict[str, int] = defaultdict(int)
        errors: list[str] = []

        def client_loop(server: ServerProcess, seed: int) -> None:
            rng = random.Random(seed)
            ecs = server.client()
            mine: list[str] = []
            while not stop.is_set():
                try:
                    if mine and rng.random() < 0.3:
                        arn = mine.pop(rng.randrange(len(mine)))
                        ecs.stop_task(task=arn)
                        ecs.submit_task_state_change(task=arn, status="STOPPED", reason="test",
                                                     containers=[{"containerName": "c", "status": "STOPPED",
                                                                  "exitCode": 0}])
                        continue
                    family = rng.choice(("port", "cpu"))
                    answer = ecs.run_task(taskDefinition=family, count=rng.randint(1, 3))
                    placed[family] += len(answer["tasks"])
                    mine += [t["taskArn"] for t in answer["tasks"]]
                except ClientError as exc:
                    errors.append(str(exc))
                    return

        threads = [threading.Thread(target=client_loop, args=(servers[i % 2], i)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(8)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not errors, errors[:3]
        assert placed["port"] >= 6 and placed["cpu"] >= 6, placed  # they did race
        held = _live_holdings(dsn)
        assert set(held) <= set(instances)
        for instance, reservations in held.items():
            assert sum(r["cpu"] for r in reservations) <= 1024, f"{instance} overbooked (CPU)"
            assert sum(r["memory"] for r in reservations) <= 1024, f"{instance} overbooked (memory)"
            ports = [p for r in reservations for p in r["ports"]]
            assert len(ports) == len(set(ports)), f"{instance} books a host port twice: {ports}"
    finally:
        stop_servers(servers)


def test_a_client_token_retried_on_another_server_answers_the_first_calls_tasks(dsn: str, tmp_path: Path) -> None:
    servers = start_servers(dsn, tmp_path, 2)
    try:
        first, second = (s.client() for s in servers)
        _web_cluster(first, 1)
        token = uuid.uuid4().hex
        made = first.run_task(taskDefinition="web", count=2, clientToken=token)["tasks"]
        again = second.run_task(taskDefinition="web", count=2, clientToken=token)["tasks"]
        assert sorted(t["taskArn"] for t in again) == sorted(t["taskArn"] for t in made)
        assert len(second.list_tasks()["taskArns"]) == 2
    finally:
        stop_servers(servers)


def test_an_agent_fails_over_and_is_woken_through_another_server(dsn: str, tmp_path: Path) -> None:
    """The agent polls the first server of its list; tasks placed through the
    second reach it at once (its long poll waits 20 s: only the notice wakes
    it sooner).  When the first server dies it moves to the second, which
    has counted it connected all along (agents' polls are shared)."""
    servers = start_servers(dsn, tmp_path, 2, "--agent-timeout", "8")
    agent = None
    try:
        a, b = servers
        ecs_b = b.client()
        _web_cluster(ecs_b, 0)
        both = SimpleNamespace(endpoint=f"{a.endpoint},{b.endpoint}")  # --server A,B
        agent = AgentProcess(both, tmp_path / "agent", "--runtime", "fake").start()  # type: ignore[arg-type]
        agent.wait_registered()
        time.sleep(10)  # longer than --agent-timeout: b knows the agent only through a's shared polls
        for _ in range(3):
            started = time.monotonic()
            task = ecs_b.run_task(taskDefinition="web")["tasks"][0]
            wait_for_task(ecs_b, task["taskArn"], "RUNNING", timeout=20)
            assert time.monotonic() - started < 5, "the agent's poll on the other server was not woken"
        kill(a)
        task = ecs_b.run_task(taskDefinition="web")["tasks"][0]
        wait_for_task(ecs_b, task["taskArn"], "RUNNING", timeout=30)
        instance = ecs_b.describe_container_instances(containerInstances=[agent.instance_arn])
        assert instance["containerInstances"][0]["agentConnected"] is True
    finally:
        if agent is not None:
            agent.stop()
        stop_servers(servers)


def test_a_database_outage_fails_calls_fast_and_heals_by_itself(tmp_path: Path) -> None:
    """While PostgreSQL is down every call answers ServerException (HTTP 500,
    as AWS does when its own backend fails: SDKs retry it) within seconds,
    /health says the database is unreachable, and nothing is half-written;
    once it is back, calls succeed and one server leads again, with no restart."""
    with postgres.postgres_server() as pg:
        servers = start_servers(pg.dsn, tmp_path, 2)
        try:
            ecs = servers[0].client()
            _web_cluster(ecs, 1)
            before = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
            wait_for_one_leader(servers)
            pg.stop()
            for server in servers:
                client = server.client()
                for call in (lambda: client.run_task(taskDefinition="web"),
                             lambda: client.describe_tasks(tasks=[before]),
                             lambda: client.list_clusters()):
                    started = time.monotonic()
                    with pytest.raises(ClientError) as failed:
                        call()
                    assert time.monotonic() - started < 5, "a call hung on the missing database"
                    assert failed.value.response["Error"]["Code"] == "ServerException"
                    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            wait_for(lambda: all(health(s) == (503, {"status": "unhealthy", "role": "follower",
                                                     "database": "unreachable"}) for s in servers),
                     timeout=LEASE_S + 5, what="/health: database unreachable, nobody leads")
            pg.start()
            wait_for_one_leader(servers, timeout=LEASE_S + 10)
            for server in servers:
                client = server.client()
                wait_for(lambda: _succeeds(client.list_clusters), timeout=10, what="calls succeed again")
                assert client.list_tasks()["taskArns"] == [before], "a failed RunTask left a task behind"
            after = servers[1].client().run_task(taskDefinition="web")["tasks"]
            assert len(after) == 1
            wait_for(lambda: all(health(s)[1]["database"] == "ok" for s in servers), timeout=5,
                     what="/health: database ok on every server")  # each says so at its next lease renewal
        finally:
            stop_servers(servers)


def _succeeds(call) -> bool:
    try:
        call()
        return True
    except ClientError:
        return False


class _Partition:
    """A TCP relay between one server and PostgreSQL that can be cut: while
    cut, every connection through it is reset and new ones are refused, so
    that server loses the database while the others keep it (a partition as
    the server sees one once its TCP timeouts fire, without their wait)."""

    def __init__(self, target_port: int) -> None:
        import socket

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.closed = False
        self.pairs: list[tuple] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                _reset(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink) -> None:
        try:
            while data := source.recv(65536):
                if self.cut.is_set():
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            _reset(sock)

    def sever(self) -> None:
        self.cut.set()
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def heal(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.closed = True
        self.sever()
        self.listener.close()


def _reset(sock) -> None:
    import socket
    import struct

    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        sock.close()
    except OSError:
        pass


def test_a_leader_partitioned_from_the_database_is_deposed_and_its_scheduler_writes_nothing(
        dsn: str, tmp_path: Path) -> None:
    """The leader reaches PostgreSQL through a relay that is then cut, while
    the other server keeps the database: the other leads within the lease
    time and places what the service needs; the cut-off server says so in
    /health and answers ServerException; once the relay heals it comes back
    as a follower, and the service has exactly its desired tasks (the old
    leader's scheduler placed none twice)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    relay = _Partition(parts.port or 5432)
    relayed = urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{relay.port}"))
    servers: list[ServerProcess] = []
    try:
        servers += start_servers(relayed, tmp_path / "a", 1, "--key-file", str(tmp_path / "key"))
        cut_off = wait_for_one_leader(servers)
        servers += start_servers(dsn, tmp_path / "b", 1, "--key-file", str(tmp_path / "key"))
        other = servers[1]
        ecs = other.client()
        _web_cluster(ecs, 2)
        ecs.create_service(serviceName="app", taskDefinition="web", desiredCount=3)
        wait_for(lambda: len(ecs.list_tasks(serviceName="app")["taskArns"]) == 3, timeout=15,
                 what="the leader (behind the relay) places 3 tasks")
        assert wait_for_one_leader(servers) is cut_off

        relay.sever()
        severed_at = time.monotonic()
        assert wait_for_one_leader([other], timeout=LEASE_S + 5) is other
        assert time.monotonic() - severed_at <= LEASE_S + 2
        wait_for(lambda: health(cut_off) == (503, {"status": "unhealthy", "role": "follower",
                                                   "database": "unreachable"}),
                 timeout=LEASE_S + 5, what="/health on the cut-off server")
        started = time.monotonic()
        with pytest.raises(ClientError) as failed:
            cut_off.client().list_clusters()
        assert failed.value.response["Error"]["Code"] == "ServerException"
        assert time.monotonic() - started < 5, "a call hung on the unreachable database"

        ecs.update_service(service="app", desiredCount=5)
        wait_for(lambda: len(ecs.list_tasks(serviceName="app")["taskArns"]) == 5, timeout=15,
                 what="the new leader places 2 more")

        relay.heal()
        wait_for(lambda: health(cut_off) == (200, {"status": "ok", "role": "follower", "database": "ok"}),
                 timeout=LEASE_S + 10, what="the healed server follows")
        assert cut_off.client().list_tasks(serviceName="app")["taskArns"] == ecs.list_tasks(
            serviceName="app")["taskArns"]
        time.sleep(3 * 0.2 + LEASE_S)  # several scheduler intervals and a lease period after healing
        assert wait_for_one_leader(servers) is other, "the healed server took the lease back"
        tasks = ecs.list_tasks(serviceName="app")["taskArns"]
        assert len(tasks) == 5, f"{len(tasks)} tasks for a desiredCount of 5"
    finally:
        stop_servers(servers)
        relay.close()
