"""Several servers on one PostgreSQL database, at the store's level: the
leader lease and its fencing token (store/postgres/coordination.py,
`PostgresDatabase.fenced`), agents' polls shared between servers, notices
(LISTEN/NOTIFY), and a database that goes away and comes back
(`StoreUnavailable`, then a new connection by itself)."""

from __future__ import annotations

import threading
import time

import pytest

from portside.server.runner import encode_task
from portside.store.interface import NotLeader, StoreUnavailable
from portside.testing import postgres

pytestmark = [pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable())),
              pytest.mark.serial]  # timing: lease expiry, handover, fail-fast bounds


def open_store(dsn: str):
    from portside.store.postgres import PostgresStore

    return PostgresStore(dsn, encode_task=encode_task, key_file=postgres.key_file(dsn))


def coordination(dsn: str):
    from portside.store.postgres import PostgresCoordination

    return PostgresCoordination(dsn)


def cluster(name: str) -> dict:
    return {"clusterName": name, "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{name}",
            "status": "ACTIVE"}


def test_one_holder_at_a_time_and_a_new_token_for_each_holder() -> None:
    dsn = postgres.fresh_database()
    open_store(dsn).close()  # the schema
    a, b = coordination(dsn), coordination(dsn)
    try:
        first = a.renew_lease("a", 0.6)
        assert first is not None
        assert b.renew_lease("b", 0.6) is None, "two holders at once"
        assert a.renew_lease("a", 0.6) == first, "renewing keeps the token"
        time.sleep(0.8)  # a stops renewing: its lease expires
        second = b.renew_lease("b", 5)
        assert second is not None and second > first
        assert a.renew_lease("a", 5) is None
        b.resign("b")  # a clean stop hands over at once
        third = a.renew_lease("a", 5)
        assert third is not None and third > second
    finally:
        a.close()
        b.close()


def test_a_deposed_leader_writes_nothing() -> None:
    """The fencing token: a server whose lease another took over (it was
    paused or partitioned past its expiry) has its fenced transaction rolled
    back before it writes; the new leader's goes through."""
    dsn = postgres.fresh_database()
    old, new = open_store(dsn), open_store(dsn)
    a, b = coordination(dsn), coordination(dsn)
    try:
        old_token = a.renew_lease("old", 0.5)
        assert old_token is not None
        with old.fenced(old_token), old.transaction():
            old.put_cluster(cluster("while-leading"))
        time.sleep(0.7)
        new_token = b.renew_lease("new", 30)
        assert new_token is not None
        with pytest.raises(NotLeader):
            with old.fenced(old_token), old.transaction():
                old.put_cluster(cluster("after-deposed"))
        with new.fenced(new_token), new.transaction():
            new.put_cluster(cluster("new-leader"))
        with old.transaction():  # unfenced work (API calls) goes on on any server
            old.put_cluster(cluster("api-call"))
        assert old.get_cluster("after-deposed") is None
        assert new.get_cluster("after-deposed") is None
        for name in ("while-leading", "new-leader", "api-call"):
            assert new.get_cluster(name) is not None, name
    finally:
        for closable in (old, new, a, b):
            closable.close()


def test_the_lease_cannot_change_hands_while_the_leaders_transaction_is_open() -> None:
    """The fenced transaction holds the lease row until it commits: a
    takeover after the lease expired waits for it rather than overlapping."""
    dsn = postgres.fresh_database()
    leader = open_store(dsn)
    a, b = coordination(dsn), coordination(dsn)
    try:
        token = a.renew_lease("a", 0.3)
        taken: list[float] = []
        with leader.fenced(token), leader.transaction():
            leader.put_cluster(cluster("x"))
            time.sleep(0.5)  # past the expiry, still inside the transaction

            def take() -> None:
                b.renew_lease("b", 5)
                taken.append(time.monotonic())

            thread = threading.Thread(target=take)
            thread.start()
            time.sleep(0.5)
            committed_at = time.monotonic()
        thread.join(10)
        assert taken and taken[0] >= committed_at
    finally:
        for closable in (leader, a, b):
            closable.close()


def test_agents_polls_are_shared_between_servers() -> None:
    dsn = postgres.fresh_database()
    open_store(dsn).close()
    a, b = coordination(dsn), coordination(dsn)
    try:
        assert a.share_agent_polls({"i-1": 100.0, "i-2": 50.0}) == {"i-1": 100.0, "i-2": 50.0}
        assert b.share_agent_polls({"i-2": 120.0, "i-1": 90.0}) == {"i-1": 100.0, "i-2": 120.0}
    finally:
        a.close()
        b.close()


def test_notices_reach_other_servers_when_the_transaction_commits_and_never_if_it_rolls_back() -> None:
    dsn = postgres.fresh_database()
    store = open_store(dsn)
    listener = coordination(dsn)
    got: list[str | None] = []
    stopping = threading.Event()
    thread = threading.Thread(target=listener.listen, args=(got.append, stopping), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while None not in got and time.monotonic() < deadline:  # None: listening
            time.sleep(0.02)
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.announce("rolled-back")
                raise RuntimeError("rollback")
        with store.transaction():
            store.announce("committed")
            time.sleep(0.3)
            assert "committed" not in got, "delivered before COMMIT"
        deadline = time.monotonic() + 5
        while "committed" not in got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == [None, "committed"]
    finally:
        stopping.set()
        thread.join(5)
        store.close()


def test_an_outage_fails_fast_and_the_store_reconnects_by_itself() -> None:
    with postgres.postgres_server() as server:
        store = open_store(server.dsn)
        try:
            with store.transaction():
                store.put_cluster(cluster("before"))
            server.stop()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.get_cluster("before")
            with pytest.raises(StoreUnavailable):
                with store.transaction():
                    store.put_cluster(cluster("during"))
            assert time.monotonic() - started < 5, "the calls waited for the database"
            server.start()
            assert store.get_cluster("before") is not None
            assert store.get_cluster("during") is None, "half-written"
            with store.transaction():
                store.put_cluster(cluster("after"))
            assert store.get_cluster("after") is not None
        finally:
            store.close()
