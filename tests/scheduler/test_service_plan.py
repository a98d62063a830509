"""The service scheduler's arithmetic: rolling updates within
minimumHealthyPercent / maximumPercent, draining, scale-in, the circuit
breaker's threshold."""

from portside.domain.service import LiveTask, failure_threshold, lower_limit, plan_replica, upper_limit

A = {"i-a", "i-b"}


def tasks(n, dep, last="RUNNING", instance="i-a", desired="RUNNING", prefix=None):
    return [LiveTask(f"{prefix or dep}-{k}", dep, instance, desired, last) for k in range(n)]


def test_limits_round_as_aws_documents():
    assert lower_limit(3, 50) == 2 and upper_limit(3, 150) == 4
    assert [failure_threshold(n) for n in (1, 6, 7, 10, 1000)] == [3, 3, 4, 5, 200]


def test_fresh_service_starts_desired():
    plan = plan_replica(4, 100, 200, "new", [], A)
    assert plan.start == 4 and plan.stop == []


def test_rolling_update_100_200_starts_new_before_stopping_old():
    old = tasks(4, "old")
    plan = plan_replica(4, 100, 200, "new", old, A)
    assert plan.start == 4 and plan.stop == []
    pending_new = tasks(4, "new", last="PENDING")
    plan = plan_replica(4, 100, 200, "new", old + pending_new, A)
    assert plan.start == 0 and plan.stop == []  # nothing healthy to spare yet
    running_new = tasks(4, "new")
    plan = plan_replica(4, 100, 200, "new", old + running_new, A)
    assert sorted(t.arn for t in plan.stop) == sorted(t.arn for t in old)


def test_rolling_update_50_100_stops_first():
    old = tasks(4, "old")
    plan = plan_replica(4, 50, 100, "new", old, A)
    assert plan.start == 0 and len(plan.stop) == 2
    stopping = [LiveTask(t.arn, t.started_by, t.instance_arn, "STOPPED", "RUNNING") for t in plan.stop]
    plan = plan_replica(4, 50, 100, "new", old[2:] + stopping, A)
    assert plan.start == 2 and plan.stop == []


def test_scale_in_stops_pending_first():
    current = tasks(3, "d") + tasks(2, "d", last="PENDING", prefix="p")
    plan = plan_replica(2, 100, 200, "d", current, A)
    assert plan.start == 0
    assert [t.arn for t in plan.stop][:2] == ["p-0", "p-1"] and len(plan.stop) == 3


def test_draining_instance_replaced_first_then_stopped():
    current = tasks(2, "d", instance="i-a") + tasks(2, "d", instance="i-drain", prefix="x")
    plan = plan_replica(4, 100, 200, "d", current, A)
    assert plan.start == 2 and plan.stop == []
    plan = plan_replica(4, 100, 200, "d", current + tasks(2, "d", instance="i-b", prefix="n"), A)
    assert plan.start == 0 and sorted(t.arn for t in plan.stop) == ["x-0", "x-1"]


def test_no_starts_when_not_allowed():
    assert plan_replica(3, 100, 200, "d", [], A, may_start=False).start == 0
