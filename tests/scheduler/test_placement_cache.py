"""The scheduler's placement cache over a real store: free capacity and task
groups derived from the task rows, kept up to date by `hold`, dropped when
the store says what it read may be stale (a rollback, another writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portside.domain.resources import Reservation
from portside.scheduler.placement_cache import PlacementCache
from portside.server.runner import encode_task
from portside.store.sqlite import SqliteStore

ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"
C = f"{ACCOUNT}:cluster/c"
NEED = Reservation(cpu=100, memory=200, ports=[8080])


def instance(ident: str, status: str = "ACTIVE") -> dict:
    return {
        "containerInstanceArn": f"{ACCOUNT}:container-instance/c/{ident}", "clusterArn": C, "status": status,
        "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1000},
                                {"name": "MEMORY", "type": "INTEGER", "integerValue": 1000}],
    }


def task(ident: str, on: str, group: str) -> dict:
    return {"taskArn": f"{ACCOUNT}:task/c/{ident}", "clusterArn": C, "containerInstanceArn": on,
            "taskDefinitionArn": f"{ACCOUNT}:task-definition/web:1", "desiredStatus": "RUNNING",
            "lastStatus": "PENDING", "group": group}


def remaining(doc: dict) -> dict[str, int]:
    return {r["name"]: r.get("integerValue") for r in doc["remainingResources"] if r["type"] == "INTEGER"}


@pytest.fixture
def store(tmp_path: Path):
    opened = SqliteStore(tmp_path / "state.db", encode_task=encode_task)
    yield opened
    opened.close()


def place(store: SqliteStore, cache: PlacementCache, ident: str, on: str, group: str) -> None:
    with store.transaction():
        store.add_tasks([task(ident, on, group)], NEED.to_doc())
        cache.hold(on, NEED, group)


def test_capacity_and_groups_follow_placements_and_stops(store: SqliteStore) -> None:
    cache = PlacementCache(store)
    a, b = instance("a"), instance("b")
    with store.transaction():
        cache.put_instance(a)
        cache.put_instance(b)
    ia, ib = a["containerInstanceArn"], b["containerInstanceArn"]
    place(store, cache, "t1", ia, "g")
    place(store, cache, "t2", ia, "g")
    place(store, cache, "t3", ib, "h")
    assert remaining(cache.get_instance(ia)) == {"CPU": 800, "MEMORY": 600}
    assert cache.free_capacity(ia).ports == {8080}
    assert cache.group_task_counts(C, "g") == {ia: 2}
    assert cache.task_groups_on_instances(C, None) == {ia: {"g"}, ib: {"h"}}
    assert cache.task_groups_on_instances(C, ["h"]) == {ib: {"h"}}
    with store.transaction():
        cache.hold(ia, NEED, "g", release=True)
    assert remaining(cache.get_instance(ia)) == {"CPU": 900, "MEMORY": 800}
    assert cache.group_task_counts(C, "g") == {ia: 1}
    # a fresh cache derives the same from the rows (t1 and t2 still hold: only the cache was told)
    assert remaining(PlacementCache(store).get_instance(ib)) == {"CPU": 900, "MEMORY": 800}


def test_pools_follow_membership(store: SqliteStore) -> None:
    cache = PlacementCache(store)
    with store.transaction():
        cache.put_instance(instance("a"))
        cache.put_instance(instance("b"))
    pool, docs = cache.instance_pool(C, ("ACTIVE",))
    assert len(pool) == 2 and set(docs) == set(pool)
    with store.transaction():
        cache.put_instance(instance("b", "DRAINING"))
    assert cache.instance_pool(C, ("ACTIVE",))[0] == [instance("a")["containerInstanceArn"]]
    assert [d["status"] for d in cache.list_instances(C, ("ACTIVE", "DRAINING"))] == ["ACTIVE", "DRAINING"]
    assert cache.get_instance(f"{ACCOUNT}:container-instance/c/none") is None
    assert cache.get_instance("not-an-arn") is None


def test_a_rollback_drops_what_the_cache_held(store: SqliteStore) -> None:
    cache = PlacementCache(store)
    with store.transaction():
        cache.put_instance(instance("a"))
    ia = instance("a")["containerInstanceArn"]
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_tasks([task("t1", ia, "g")], NEED.to_doc())
            cache.hold(ia, NEED, "g")
            assert cache.group_task_counts(C, "g") == {ia: 1}
            raise RuntimeError("undo")
    assert cache.group_task_counts(C, "g") == {}
    assert remaining(cache.get_instance(ia)) == {"CPU": 1000, "MEMORY": 1000}


def test_another_writer_drops_what_the_cache_held(store: SqliteStore, tmp_path: Path) -> None:
    cache = PlacementCache(store)
    with store.transaction():
        cache.put_instance(instance("a"))
    ia = instance("a")["containerInstanceArn"]
    assert cache.group_task_counts(C, "g") == {}
    other = SqliteStore(tmp_path / "state.db", encode_task=encode_task)
    try:
        with other.transaction():
            other.add_tasks([task("t1", ia, "g")], NEED.to_doc())
    finally:
        other.close()
    assert cache.group_task_counts(C, "g") == {ia: 1}
    assert remaining(cache.get_instance(ia)) == {"CPU": 900, "MEMORY": 800}
