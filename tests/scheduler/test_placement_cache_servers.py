"""Two servers on one PostgreSQL database, each with its placement cache: a
task placed (or stopped) through one is seen by the other's cache in its next
transaction, applied as the first server told it (the change log), without
reading the cluster or the instance's tasks again; a change to something
cached by generation alone (a cluster) still drops everything."""

from __future__ import annotations

import asyncio

import pytest

from portside.domain.resources import Reservation
from portside.scheduler.placement_cache import PlacementCache
from portside.server.runner import encode_task
from portside.testing import postgres

pytestmark = pytest.mark.skipif(postgres.unavailable() is not None, reason=str(postgres.unavailable()))

ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"
C = f"{ACCOUNT}:cluster/c"
NEED = Reservation(cpu=100, memory=200)


def open_store(dsn: str):
    from portside.store.postgres import PostgresStore

    return PostgresStore(dsn, encode_task=encode_task, key_file=postgres.key_file(dsn))


def instance(name: str) -> dict:
    return {"containerInstanceArn": f"{ACCOUNT}:container-instance/c/{name}", "clusterArn": C,
            "ec2InstanceId": f"i-{name}", "status": "ACTIVE", "version": 1, "attributes": [],
            "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1000},
                                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 1000}]}


def task(ident: str, on: str) -> dict:
    return {"taskArn": f"{ACCOUNT}:task/c/{ident}", "clusterArn": C, "containerInstanceArn": on,
            "taskDefinitionArn": f"{ACCOUNT}:task-definition/f:1", "lastStatus": "PENDING",
            "desiredStatus": "RUNNING", "group": "g", "launchType": "EC2",
            "containers": [], "createdAt": 1.0, "version": 1}


class Counting:
    """The store, counting how often the cache reads a whole cluster."""

    def __init__(self, store) -> None:
        self._store = store
        self.whole_loads = 0
        self.task_reads = 0

    def live_holdings(self, cluster_arn: str):
        self.whole_loads += 1
        return self._store.live_holdings(cluster_arn)

    def live_holdings_of(self, arns):
        self.task_reads += 1
        return self._store.live_holdings_of(arns)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def free_cpu(cache: PlacementCache, arn: str) -> int:
    return cache.free_capacity(arn).cpu


def test_the_other_servers_cache_reloads_only_the_instance_changed() -> None:
    dsn = postgres.fresh_database()
    one, two = open_store(dsn), open_store(dsn)
    seen_by_two = Counting(two)
    first, second = PlacementCache(one), PlacementCache(seen_by_two)
    a, b = instance("a"), instance("b")
    ia, ib = a["containerInstanceArn"], b["containerInstanceArn"]

    async def scenario() -> None:
        with one.transaction():
            one.put_cluster({"clusterName": "c", "clusterArn": C, "status": "ACTIVE"})
            first.put_instance(a)
            first.put_instance(b)
        await one.durable()
        with two.transaction():
            assert free_cpu(second, ia) == 1000 and free_cpu(second, ib) == 1000
        await two.durable()
        loads = seen_by_two.whole_loads
        with one.transaction():  # placed through the first server
            one.add_tasks([task("t1", ia)], NEED.to_doc())
            first.hold(ia, NEED, "g")
        await one.durable()
        with two.transaction():
            assert free_cpu(second, ia) == 900 and free_cpu(second, ib) == 1000
            assert second.group_task_counts(C, "g") == {ia: 1}
        await two.durable()
        assert seen_by_two.whole_loads == loads  # not the cluster read again
        assert seen_by_two.task_reads == 0  # nor instance a's tasks: the placement, applied as told
        with two.transaction():  # stopped through the second server
            stopped = two.get_task(f"{ACCOUNT}:task/c/t1")
            stopped.update(lastStatus="STOPPED", desiredStatus="STOPPED", stoppedAt=2.0)
            two.put_task(stopped)
            second.hold(ia, NEED, "g", release=True)
            assert free_cpu(second, ia) == 1000
        await two.durable()
        with one.transaction():
            assert free_cpu(first, ia) == 1000 and first.group_task_counts(C, "g") == {}
        await one.durable()
        with one.transaction():  # a cluster changed: cached by generation alone
            one.put_cluster({"clusterName": "c", "clusterArn": C, "status": "ACTIVE", "tags": []})
        await one.durable()
        with two.transaction():
            assert free_cpu(second, ia) == 1000
        await two.durable()
        assert seen_by_two.whole_loads == loads + 1

    try:
        asyncio.run(scenario())
    finally:
        one.close()
        two.close()


def test_a_change_seen_first_by_the_writer_is_not_applied_twice() -> None:
    """The second server stops a task on an instance the first changed since
    it last looked, touching its cache only after writing the row: reading the
    instance again already counts the stop, so it is not released twice."""
    dsn = postgres.fresh_database()
    one, two = open_store(dsn), open_store(dsn)
    first, second = PlacementCache(one), PlacementCache(two)
    a = instance("a")
    ia = a["containerInstanceArn"]

    async def scenario() -> None:
        with one.transaction():
            first.put_instance(a)
            one.add_tasks([task("t1", ia)], NEED.to_doc())
            first.hold(ia, NEED, "g")
        await one.durable()
        with two.transaction():
            assert free_cpu(second, ia) == 900
        await two.durable()
        with one.transaction():
            one.add_tasks([task("t2", ia)], NEED.to_doc())
            first.hold(ia, NEED, "g")
        await one.durable()
        with two.transaction():
            stopped = two.get_task(f"{ACCOUNT}:task/c/t1")
            stopped.update(lastStatus="STOPPED", desiredStatus="STOPPED", stoppedAt=2.0)
            two.put_task(stopped)
            second.hold(ia, NEED, "g", release=True)
            assert free_cpu(second, ia) == 900  # t2 holds 100; t1 given back once
        await two.durable()

    try:
        asyncio.run(scenario())
    finally:
        one.close()
        two.close()
