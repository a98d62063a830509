"""The service-deployment history rules without a server: what each change
of the scheduler's deployments makes of the service deployments."""

import itertools

from portside.domain import service as services
from portside.domain import service_deployment as rules
from portside.domain.service_record import SchedulerMemory


def setup(breaker=False):
    ids = itertools.count()
    names = rules.Names(lambda: f"sd-{next(ids)}", lambda ecs_id: "rev-" + ecs_id.rsplit("/", 1)[-1])
    service = {"serviceArn": "svc", "clusterArn": "cl", "status": "ACTIVE", "desiredCount": 2, "deployments": [],
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}}}
    return rules.History(), service, names


def test_first_deployment_has_no_source_and_succeeds_with_its_counts_frozen():
    history, service, names = setup()
    d = services.start_deployment(service, SchedulerMemory(), "td:1", 1.0)
    rules.sync(history, service, names, 1.0)
    (entry,) = history.entries
    assert entry.doc["status"] == "IN_PROGRESS" and entry.doc["sourceServiceRevisions"] == []
    d.update(runningCount=2, rolloutState="COMPLETED", rolloutStateReason="done")
    rules.sync(history, service, names, 2.0)
    assert entry.doc["status"] == "SUCCESSFUL" and entry.doc["finishedAt"] == 2.0
    assert entry.doc["targetServiceRevision"]["runningTaskCount"] == 2
    d.update(runningCount=0)
    rules.sync(history, service, names, 3.0)
    assert entry.doc["targetServiceRevision"]["runningTaskCount"] == 2  # frozen at the end


def test_a_new_deployment_supersedes_the_running_one_and_names_its_sources():
    history, service, names = setup()
    d1 = services.start_deployment(service, SchedulerMemory(), "td:1", 1.0)
    d1["rolloutState"] = "COMPLETED"
    rules.sync(history, service, names, 1.0)
    d2 = services.start_deployment(service, SchedulerMemory(), "td:2", 2.0)
    rules.sync(history, service, names, 2.0)
    services.start_deployment(service, SchedulerMemory(), "td:3", 3.0)
    rules.sync(history, service, names, 3.0)
    first, second, third = history.entries
    assert first.doc["status"] == "SUCCESSFUL"
    assert second.doc["status"] == "STOPPED" and second.doc["statusReason"] == rules.SUPERSEDED
    assert [s["arn"] for s in third.doc["sourceServiceRevisions"]] == [history.links[d2["id"]],
                                                                      history.links[d1["id"]]]
    assert rules.rollback_revision(history, third) == history.links[d2["id"]]


def test_a_circuit_breaker_rollback_belongs_to_the_failed_deployment():
    history, service, names = setup(breaker=True)
    d1 = services.start_deployment(service, SchedulerMemory(), "td:1", 1.0)
    d1["rolloutState"] = "COMPLETED"
    rules.sync(history, service, names, 1.0)
    d2 = services.start_deployment(service, SchedulerMemory(), "td:2", 2.0)
    rules.sync(history, service, names, 2.0)
    d2.update(rolloutState="FAILED", failedTasks=3)
    back = services.start_deployment(service, SchedulerMemory(), "td:1", 3.0,
                                     f"ECS deployment circuit breaker: rolling back to deploymentId {d1['id']}.")
    service["deployments"].remove(d2)  # its tasks are gone: the scheduler no longer lists it
    rules.sync(history, service, names, 3.0)
    assert len(history.entries) == 2
    failed = history.entries[1]
    assert failed.doc["status"] == "ROLLBACK_IN_PROGRESS"
    assert failed.doc["rollback"]["serviceRevisionArn"] == history.links[d1["id"]] == history.links[back["id"]]
    assert failed.doc["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    back["rolloutState"] = "COMPLETED"
    rules.sync(history, service, names, 4.0)
    assert failed.doc["status"] == "ROLLBACK_SUCCESSFUL"


def test_a_deleted_service_stops_its_running_deployment_and_history_round_trips():
    history, service, names = setup()
    services.start_deployment(service, SchedulerMemory(), "td:1", 1.0)
    rules.sync(history, service, names, 1.0)
    service["status"] = "DRAINING"
    rules.sync(history, service, names, 2.0)
    assert history.entries[0].doc["status"] == "STOPPED"
    assert rules.History.from_doc(history.to_doc()) == history
