"""The Service document's constructor and the scheduler's memory record."""

from __future__ import annotations

from portside.domain.service_record import (
    CompletedDeployment,
    SchedulerMemory,
    is_service_group,
    new_service,
    service_group,
    service_of_group,
)


def test_memory_round_trips_and_older_records_take_defaults() -> None:
    memory = SchedulerMemory(client_token="t", steady=True, last_completed=CompletedDeployment("d", "td:1"))
    assert SchedulerMemory.from_record(memory.to_record()) == memory
    assert SchedulerMemory.from_record({"fail_streak": 2}) == SchedulerMemory(fail_streak=2)
    assert SchedulerMemory.from_record({"gone_member": 1}) == SchedulerMemory()


def test_a_new_deployment_resets_steady_state_and_the_failure_streak() -> None:
    memory = SchedulerMemory(steady=True, fail_streak=5, failed_at=3.0)
    memory.deployment_started()
    assert (memory.steady, memory.fail_streak, memory.failed_at) == (False, 0, 3.0)


def test_service_groups() -> None:
    assert service_group("web") == "service:web"
    assert service_of_group("service:web") == "web" and service_of_group("family:web") is None
    assert service_of_group(None) is None
    assert is_service_group("service:web") and not is_service_group(None) and not is_service_group("web")


def test_new_service_has_no_private_members() -> None:
    params = {"desiredCount": 3, "propagateTags": "SERVICE"}
    doc = new_service("arn:svc", "web", "arn:cluster", "arn:td:1", "EC2", params, {"maximumPercent": 200},
                      "REPLICA", "arn:aws:iam::1:root", 10.0)
    assert doc["desiredCount"] == 3 and doc["propagateTags"] == "SERVICE" and doc["status"] == "ACTIVE"
    assert doc["deployments"] == [] and doc["createdAt"] == 10.0
    assert not [k for k in doc if k.startswith("_")]
