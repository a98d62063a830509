"""The store's contract: what every backend must do, tested through the
interface only (`store.interface.Store`), once per backend in
store_backends.BACKENDS.  Nothing here names SQLite."""

from __future__ import annotations

import asyncio
import json

import pytest
import store_backends
from store_backends import Backend

from portside.domain.service_record import CompletedDeployment, SchedulerMemory
from portside.store.interface import Store

# The fixtures, one run per backend (see store_backends.py).
backend, location, store = store_backends.backend, store_backends.location, store_backends.store

ACCOUNT = "arn:aws:ecs:us-east-1:123456789012"


def cluster(name: str, status: str = "ACTIVE") -> dict:
    return {"clusterName": name, "clusterArn": f"{ACCOUNT}:cluster/{name}", "status": status}


def definition(family: str, revision: int, status: str = "ACTIVE") -> dict:
    return {"taskDefinitionArn": f"{ACCOUNT}:task-definition/{family}:{revision}", "family": family,
            "revision": revision, "status": status, "containerDefinitions": [{"name": "app", "image": "x"}]}


def instance(cluster_name: str, ident: str, status: str = "ACTIVE") -> dict:
    return {
        "containerInstanceArn": f"{ACCOUNT}:container-instance/{cluster_name}/{ident}",
        "clusterArn": f"{ACCOUNT}:cluster/{cluster_name}",
        "status": status,
        "registeredResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}],
        "remainingResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1}],
        "attributes": [{"name": "stack", "value": "prod"}],
    }


def task(cluster_name: str, ident: str, on: dict | None = None, group: str | None = None,
         started_by: str | None = None, last: str = "PENDING", family: str = "web") -> dict:
    doc = {
        "taskArn": f"{ACCOUNT}:task/{cluster_name}/{ident}",
        "clusterArn": f"{ACCOUNT}:cluster/{cluster_name}",
        "taskDefinitionArn": f"{ACCOUNT}:task-definition/{family}:1",
        "desiredStatus": "RUNNING",
        "lastStatus": last,
        "launchType": "EC2",
        "containers": [],
    }
    if on is not None:
        doc["containerInstanceArn"] = on["containerInstanceArn"]
    if group is not None:
        doc["group"] = group
    if started_by is not None:
        doc["startedBy"] = started_by
    return doc


def service(cluster_name: str, name: str, status: str = "ACTIVE") -> dict:
    return {"serviceArn": f"{ACCOUNT}:service/{cluster_name}/{name}", "serviceName": name,
            "clusterArn": f"{ACCOUNT}:cluster/{cluster_name}", "status": status,
            "schedulingStrategy": "REPLICA", "launchType": "EC2", "desiredCount": 1}


RESERVED = {"cpu": 10, "memory": 20, "ports": [80], "portsUdp": []}
C = f"{ACCOUNT}:cluster/c"


# -- unit of work ----------------------------------------------------------------


def test_a_failed_transaction_leaves_nothing_and_changes_the_generation(store: Store) -> None:
    with store.transaction():
        store.put_cluster(cluster("kept"))
    before = store.generation()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.put_cluster(cluster("gone"))
            raise RuntimeError("undo")
    assert store.get_cluster("gone") is None and store.get_cluster("kept") is not None
    assert store.generation() != before


def test_nested_transactions_join_the_outer_one(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            with store.transaction():
                store.put_cluster(cluster("inner"))
            raise RuntimeError("undo all")
    assert store.get_cluster("inner") is None


def test_what_was_committed_survives_reopening(backend: Backend, location: str) -> None:
    first = backend.open(location)
    with first.transaction():
        first.put_cluster(cluster("c"))
    first.close()
    again = backend.open(location)
    try:
        assert again.get_cluster("c") == cluster("c")
    finally:
        again.close()


def test_another_writer_changes_the_generation(backend: Backend, location: str, store: Store) -> None:
    seen = store.generation()
    assert store.generation() == seen  # nothing changed
    other = backend.open(location)
    try:
        with other.transaction():
            other.put_cluster(cluster("elsewhere"))
    finally:
        other.close()
    assert store.generation() != seen
    assert store.get_cluster("elsewhere") is not None


def test_under_a_loop_a_change_is_durable_once_durable_returns(backend: Backend, location: str,
                                                               store: Store) -> None:
    async def scenario() -> None:
        await store.settled()
        with store.transaction():
            store.put_cluster(cluster("grouped"))
        await store.durable()
        other = backend.open(location)
        try:
            assert other.get_cluster("grouped") is not None
        finally:
            other.close()

    asyncio.run(scenario())


def test_the_schema_version_is_recorded(backend: Backend, location: str, store: Store) -> None:
    assert store.schema_version() >= 1
    store.close()
    again = backend.open(location)
    try:
        assert again.schema_version() == store.schema_version()
    finally:
        again.close()


# -- clusters --------------------------------------------------------------------


def test_clusters(store: Store) -> None:
    with store.transaction():
        for name in ("b", "a", "c"):
            store.put_cluster(cluster(name))
        store.put_cluster(cluster("c", "INACTIVE"))  # replaces
    assert store.get_cluster("c")["status"] == "INACTIVE"
    assert store.get_cluster("nope") is None
    assert store.list_cluster_arns("", 10) == [f"{ACCOUNT}:cluster/a", f"{ACCOUNT}:cluster/b"]
    assert store.list_cluster_arns(f"{ACCOUNT}:cluster/a", 10) == [f"{ACCOUNT}:cluster/b"]
    assert store.list_cluster_arns("", 1) == [f"{ACCOUNT}:cluster/a"]


def test_cluster_task_counts_are_of_live_tasks(store: Store) -> None:
    i = instance("c", "i1")
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", "t1", i), task("c", "t2", i), task("c", "t3", i)], RESERVED)
        running = store.get_task(f"{ACCOUNT}:task/c/t2")
        running["lastStatus"] = "RUNNING"
        store.put_task(running)
        stopped = store.get_task(f"{ACCOUNT}:task/c/t3")
        stopped.update(lastStatus="STOPPED", desiredStatus="STOPPED", stoppedAt=100.0)
        store.put_task(stopped)
    assert store.cluster_task_counts(C) == {"PENDING": 1, "RUNNING": 1}
    with store.transaction():
        store.add_tasks([dict(task("c", "t4", i), launchType="FARGATE")], RESERVED)
    assert store.cluster_task_counts_by_launch_type(C) == {
        ("EC2", "PENDING"): 1, ("EC2", "RUNNING"): 1, ("FARGATE", "PENDING"): 1}


# -- task definitions -------------------------------------------------------------


def test_task_definitions(store: Store) -> None:
    assert store.last_revision("web") == 0
    with store.transaction():
        store.put_task_definition(definition("web", 1))
        store.put_task_definition(definition("web", 2))
        store.put_task_definition(definition("web", 3, "INACTIVE"))
        store.put_task_definition(definition("db", 1, "INACTIVE"))
        store.put_task_definition(definition("a_b", 1))
    assert store.last_revision("web") == 3
    assert store.get_task_definition("web", None)["revision"] == 2  # the latest ACTIVE
    assert store.get_task_definition("web", 3)["status"] == "INACTIVE"
    assert store.get_task_definition("web", 9) is None
    assert store.get_task_definition("db", None) is None
    arns = store.list_task_definition_arns("web", "ACTIVE", False, 0, 10)
    assert arns == [f"{ACCOUNT}:task-definition/web:1", f"{ACCOUNT}:task-definition/web:2"]
    assert store.list_task_definition_arns(None, "ACTIVE", True, 1, 10) == [
        f"{ACCOUNT}:task-definition/web:1", f"{ACCOUNT}:task-definition/a_b:1"]
    assert store.list_families("", "ALL", 0, 10) == ["a_b", "db", "web"]
    assert store.list_families("", "ACTIVE", 0, 10) == ["a_b", "web"]
    assert store.list_families("", "INACTIVE", 0, 10) == ["db"]
    assert store.list_families("a_", "ALL", 0, 10) == ["a_b"]  # `_` is no wildcard
    assert store.list_families("w", "ALL", 0, 10) == ["web"]


def test_a_new_revision_is_seen_at_once(store: Store) -> None:
    with store.transaction():
        store.put_task_definition(definition("web", 1))
    assert store.get_task_definition("web", None)["revision"] == 1
    with store.transaction():
        store.put_task_definition(definition("web", 2))
    assert store.get_task_definition("web", None)["revision"] == 2


# -- container instances -----------------------------------------------------------


def test_instances(store: Store) -> None:
    a, b, c = instance("c", "a"), instance("c", "b", "DRAINING"), instance("c", "c")
    with store.transaction():
        for doc in (b, a, c):
            store.put_instance(doc)
        store.put_instance(instance("other", "x"))
        store.put_instance(dict(c, status="INACTIVE"))  # an update keeps its place
    docs = store.instance_documents(C)
    assert [arn for arn, _ in docs] == [b["containerInstanceArn"], a["containerInstanceArn"],
                                        c["containerInstanceArn"]]
    assert all("remainingResources" not in doc for _, doc in docs)  # derived, never kept
    assert docs[1][1]["attributes"] == [{"name": "stack", "value": "prod"}]
    assert docs[2][1]["status"] == "INACTIVE"
    some = store.instance_documents_of([c["containerInstanceArn"], b["containerInstanceArn"], f"{C}-nope"])
    assert [arn for arn, _ in some] == [b["containerInstanceArn"], c["containerInstanceArn"]]  # registration order
    assert some[1][1]["status"] == "INACTIVE"
    assert store.count_instances(C, ("ACTIVE", "DRAINING")) == 2
    page = store.list_instance_arns(C, ("ACTIVE", "DRAINING", "INACTIVE"), 0, 2)
    assert [arn for _, arn in page] == [b["containerInstanceArn"], a["containerInstanceArn"]]
    rest = store.list_instance_arns(C, ("ACTIVE", "DRAINING", "INACTIVE"), page[-1][0], 2)
    assert [arn for _, arn in rest] == [c["containerInstanceArn"]]


def test_instance_task_counts(store: Store) -> None:
    a, b = instance("c", "a"), instance("c", "b")
    with store.transaction():
        store.put_instance(a)
        store.put_instance(b)
        store.add_tasks([task("c", "t1", a), task("c", "t2", a), task("c", "t3", b)], RESERVED)
        for arn, last in (("t2", "RUNNING"), ("t3", "STOPPED")):
            doc = store.get_task(f"{ACCOUNT}:task/c/{arn}")
            doc["lastStatus"] = last
            store.put_task(doc)
    ia, ib = a["containerInstanceArn"], b["containerInstanceArn"]
    assert store.instance_task_counts([ia, ib]) == {(ia, "PENDING"): 1, (ia, "RUNNING"): 1}
    assert store.instance_task_counts([]) == {}
    assert store.running_task_counts(C) == {ia: 1}


# -- tasks -----------------------------------------------------------------------


def test_tasks_are_kept_as_their_wire_document(store: Store) -> None:
    i = instance("c", "i")
    new = [task("c", "t1", i, group="family:web"), task("c", "t2", i)]
    with store.transaction():
        store.put_instance(i)
        documents = store.add_tasks(new, RESERVED, client_token="tok")
    assert [json.loads(d) for d in documents] == new
    assert store.get_task(new[0]["taskArn"]) == new[0]
    assert store.get_task(f"{ACCOUNT}:task/c/none") is None
    assert store.task_reservation(new[1]["taskArn"]) == RESERVED
    assert store.task_reservation(f"{ACCOUNT}:task/c/none") == {}
    found = store.get_task_documents([new[1]["taskArn"], f"{ACCOUNT}:task/c/none"])
    assert list(found) == [new[1]["taskArn"]] and json.loads(found[new[1]["taskArn"]]) == new[1]
    assert store.get_task_documents([]) == {}
    assert store.tasks_by_client_token(C, "tok") == new
    assert store.tasks_by_client_token(C, "other") == []


def test_put_task_returns_and_keeps_the_encoded_document(store: Store) -> None:
    i = instance("c", "i")
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", "t1", i)], RESERVED)
        doc = store.get_task(f"{ACCOUNT}:task/c/t1")
        doc.update(desiredStatus="STOPPED", lastStatus="STOPPED", stoppedAt=50.0, stoppedReason="done")
        stored = store.put_task(doc)
    assert json.loads(stored)["stoppedReason"] == "done"
    assert store.get_task(doc["taskArn"]) == json.loads(stored)
    assert store.live_tasks_on(i["containerInstanceArn"]) == []


def test_live_tasks_and_holdings(store: Store) -> None:
    a, b = instance("c", "a"), instance("c", "b")
    with store.transaction():
        store.put_instance(a)
        store.put_instance(b)
        store.add_tasks([task("c", "t1", a, group="g1"), task("c", "t2", b)], RESERVED)
        store.add_tasks([task("c", "t3", a, group="g1")], {"cpu": 1, "memory": 1, "ports": [], "portsUdp": []})
        stopped = store.get_task(f"{ACCOUNT}:task/c/t2")
        stopped.update(lastStatus="STOPPED", stoppedAt=5.0)
        store.put_task(stopped)
    assert [t["taskArn"] for t in store.live_tasks_on(a["containerInstanceArn"])] == [
        f"{ACCOUNT}:task/c/t1", f"{ACCOUNT}:task/c/t3"]
    holdings = sorted(store.live_holdings(C), key=lambda h: h[1]["cpu"])
    assert holdings == [
        (a["containerInstanceArn"], {"cpu": 1, "memory": 1, "ports": [], "portsUdp": []}, "g1"),
        (a["containerInstanceArn"], RESERVED, "g1"),
    ]
    assert sorted(store.live_holdings_of([a["containerInstanceArn"]]), key=lambda h: h[1]["cpu"]) == holdings
    assert list(store.live_holdings_of([b["containerInstanceArn"]])) == []  # its task stopped


def test_list_task_arns_pages_in_creation_order_with_filters(store: Store) -> None:
    i = instance("c", "i")
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", f"t{n}", i, started_by="me" if n % 2 else None) for n in range(5)], RESERVED)
    page = store.list_task_arns(C, {}, 0, 3)
    assert [arn for _, arn in page] == [f"{ACCOUNT}:task/c/t{n}" for n in range(3)]
    rest = store.list_task_arns(C, {}, page[-1][0], 3)
    assert [arn for _, arn in rest] == [f"{ACCOUNT}:task/c/t{n}" for n in (3, 4)]
    mine = store.list_task_arns(C, {"started_by": "me"}, 0, 10)
    assert [arn for _, arn in mine] == [f"{ACCOUNT}:task/c/t1", f"{ACCOUNT}:task/c/t3"]
    assert store.list_task_arns(C, {"family": "web", "desired_status": "RUNNING"}, 0, 10) == page + rest


def test_purging_stopped_tasks_removes_their_tags(store: Store) -> None:
    i = instance("c", "i")
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", "old", i), task("c", "new", i), task("c", "live", i)], RESERVED)
        for ident, at in (("old", 10.0), ("new", 100.0)):
            doc = store.get_task(f"{ACCOUNT}:task/c/{ident}")
            doc.update(lastStatus="STOPPED", desiredStatus="STOPPED", stoppedAt=at)
            store.put_task(doc)
        store.put_tags(f"{ACCOUNT}:task/c/old", [{"key": "k", "value": "v"}])
    with store.transaction():
        assert store.purge_stopped_tasks(50.0) == 1
    assert store.get_task(f"{ACCOUNT}:task/c/old") is None
    assert store.get_tags(f"{ACCOUNT}:task/c/old") == []
    assert store.get_task(f"{ACCOUNT}:task/c/new") is not None


# -- services --------------------------------------------------------------------


def test_services(store: Store) -> None:
    with store.transaction():
        store.put_service(service("c", "a"))
        store.put_service(service("c", "b", "DRAINING"))
        store.put_service(service("c", "z", "INACTIVE"))
        store.put_service(service("other", "x"))
        store.put_service(dict(service("c", "a"), desiredCount=3))  # an update
    assert store.get_service(f"{ACCOUNT}:service/c/a")["desiredCount"] == 3
    assert store.get_service(f"{ACCOUNT}:service/c/none") is None
    assert [arn for _, arn in store.list_service_arns(C, {}, 0, 10)] == [f"{ACCOUNT}:service/c/a"]
    assert store.list_service_arns(C, {"launch_type": "FARGATE"}, 0, 10) == []
    assert store.count_services(C, ("ACTIVE", "DRAINING")) == 2
    with store.transaction():
        store.put_service(dict(service("c", "f"), launchType="FARGATE"))
    assert store.count_services_by_launch_type(C, ("ACTIVE", "DRAINING")) == {"EC2": 2, "FARGATE": 1}
    assert store.count_services_by_launch_type(C, ("DRAINING",)) == {"EC2": 1}
    assert [s["serviceName"] for s in store.services_to_reconcile()] == ["a", "b", "x", "f"]
    assert store.live_service_arns() == [s["serviceArn"] for s in store.services_to_reconcile()]


def test_a_services_tasks(store: Store) -> None:
    i = instance("c", "i")
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", "t1", i, group="service:web", started_by="ecs-svc/1"),
                         task("c", "t2", i, group="service:web", started_by="ecs-svc/1"),
                         task("c", "t3", i, group="service:other"),
                         task("c", "t4", i, group="family:web")], RESERVED)
        for ident, at in (("t2", 30.0),):
            doc = store.get_task(f"{ACCOUNT}:task/c/{ident}")
            doc.update(lastStatus="STOPPED", desiredStatus="STOPPED", stoppedAt=at)
            store.put_task(doc)
    rows = store.service_tasks(C, "web")
    assert [tuple(r) for r in rows] == [
        (f"{ACCOUNT}:task/c/t1", "ecs-svc/1", i["containerInstanceArn"], "RUNNING", "PENDING")]
    assert [t["taskArn"] for t in store.service_tasks_stopped_since(C, "web", 10.0)] == [f"{ACCOUNT}:task/c/t2"]
    assert store.service_tasks_stopped_since(C, "web", 30.0) == []


# -- tags ------------------------------------------------------------------------


def test_tags(store: Store) -> None:
    arn = f"{ACCOUNT}:cluster/c"
    with store.transaction():
        store.put_tags(arn, [{"key": "b", "value": "1"}, {"key": "a", "value": "2"}])
        store.put_tags(arn, [{"key": "b", "value": "3"}, {"key": "c"}])
    assert store.get_tags(arn) == [{"key": "b", "value": "3"}, {"key": "a", "value": "2"},
                                   {"key": "c", "value": ""}]
    with store.transaction():
        store.remove_tags(arn, ["a", "missing"])
    assert [t["key"] for t in store.get_tags(arn)] == ["b", "c"]
    assert store.get_tags(f"{ACCOUNT}:cluster/none") == []


# -- keyed records ---------------------------------------------------------------


def test_records(store: Store) -> None:
    parent = f"{ACCOUNT}:service/c/web"
    with store.transaction():
        store.records.put("deployment", "d1", parent, "ACTIVE", {"n": 1})
        store.records.put("deployment", "d2", parent, "STOPPED", {"n": 2})
        store.records.put("deployment", "d3", "other", "ACTIVE", {"n": 3})
        store.records.put("taskset", "d1", parent, "ACTIVE", {"n": 4})  # the same key in another kind
        store.records.put("deployment", "d1", parent, "STOPPED", {"n": 5})  # replaced, keeps its place
    assert store.records.get("deployment", "d1") == {"n": 5}
    assert store.records.get("deployment", "none") is None
    children = store.records.children("deployment", parent)
    assert [doc for _, doc in children] == [{"n": 5}, {"n": 2}]
    assert [doc for _, doc in store.records.children("deployment", parent, after_seq=children[0][0])] == [{"n": 2}]
    assert [doc for _, doc in store.records.children("deployment", parent, limit=1)] == [{"n": 5}]
    assert store.records.of_kind("deployment", ["ACTIVE"]) == [{"n": 3}]
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.records.delete("deployment", "d2")
            raise RuntimeError("undo")
    assert store.records.get("deployment", "d2") == {"n": 2}
    with store.transaction():
        store.records.delete("deployment", "d2")
    assert store.records.get("deployment", "d2") is None


# -- what Portside keeps of its own, beside the documents -------------------------


def test_the_service_schedulers_memory_is_kept_beside_the_document(store: Store) -> None:
    arn = f"{ACCOUNT}:service/c/a"
    assert store.get_service_memory(arn) == SchedulerMemory()  # none yet: a fresh one
    memory = SchedulerMemory(client_token="tok", stopped_watermark=5.0, steady=True, fail_streak=2,
                             failed_at=4.0, last_completed=CompletedDeployment("ecs-svc/1", "td:1"),
                             unplaceable_message="no room", unplaceable_at=3.0)
    with store.transaction():
        store.put_service(service("c", "a"), memory)
    assert store.get_service_memory(arn) == memory
    assert store.get_service(arn) == service("c", "a")  # nothing of it in the document
    with store.transaction():
        store.put_service(dict(service("c", "a"), desiredCount=2))  # no memory given: kept
    assert store.get_service_memory(arn) == memory
    memory.deployment_started()
    with store.transaction():
        store.put_service(service("c", "a"), memory)
    assert store.get_service_memory(arn).steady is False and store.get_service_memory(arn).fail_streak == 0
    with store.transaction():
        store.put_service(service("c", "b"))  # a new service without memory gets a fresh one
    assert store.get_service_memory(f"{ACCOUNT}:service/c/b") == SchedulerMemory()


def test_which_instances_an_agent_polls_for(store: Store) -> None:
    a, b = instance("c", "a"), instance("c", "b")
    with store.transaction():
        store.put_instance(a)
        store.put_instance(b)
    assert store.agent_polled_instances() == set()
    with store.transaction():
        store.mark_agent_polls(a["containerInstanceArn"])
        store.put_instance(dict(a, status="DRAINING"))  # a later write of the document keeps it
    assert store.agent_polled_instances() == {a["containerInstanceArn"]}
    assert all("_agentPolls" not in doc for _, doc in store.instance_documents(C))

def test_the_task_with_an_attachment(store: Store) -> None:
    i = instance("c", "i")
    eni = {"id": "att-1", "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": []}
    with store.transaction():
        store.put_instance(i)
        store.add_tasks([task("c", "t1", i), dict(task("c", "t2", i), attachments=[eni])], RESERVED)
    assert store.task_with_attachment(C, "att-1")["taskArn"] == f"{ACCOUNT}:task/c/t2"
    assert store.task_with_attachment(C, "att-2") is None
    assert store.task_with_attachment(f"{ACCOUNT}:cluster/other", "att-1") is None


def test_a_task_may_hold_capacity_on_another_clusters_host(store: Store) -> None:
    """A Fargate task's row names its host (not in its document); the host's
    cluster counts what it holds, whatever cluster the task is in."""
    host = instance("c", "host")
    with store.transaction():
        store.put_instance(host)
        store.add_tasks([task("elsewhere", "t1")], RESERVED, hosts=[host["containerInstanceArn"]])
    assert store.task_instance(f"{ACCOUNT}:task/elsewhere/t1") == host["containerInstanceArn"]
    assert store.task_instance(f"{ACCOUNT}:task/elsewhere/none") is None
    assert list(store.live_holdings(C)) == [(host["containerInstanceArn"], RESERVED, None)]
    assert list(store.live_holdings(f"{ACCOUNT}:cluster/elsewhere")) == []
    assert "containerInstanceArn" not in store.get_task(f"{ACCOUNT}:task/elsewhere/t1")
