"""Daemon rules (domain/daemon.py) and the daemon planner's batch limit, without a server."""

from portside.domain import daemon as rules
from portside.domain.service_plans import LiveTask, plan_daemon

REV1 = "arn:aws:ecs:us-east-1:1:daemon-revision/c/d/111"
REV2 = "arn:aws:ecs:us-east-1:1:daemon-revision/c/d/222"
CP = "arn:aws:ecs:us-east-1:1:capacity-provider/mi"


def make(target=REV2, sources=(REV1,)):
    d = rules.Daemon("arn:d", "arn:c", "d", "ACTIVE", 0.0, 0.0, "td:1", [CP], {"drainPercent": 25.0}, {})
    for arn in (REV1, REV2):
        d.revisions[arn] = {"daemonRevisionArn": arn}
    rules.start_deployment(d, "arn:dep", target, list(sources), 0.0)
    return d


def test_replace_at_once_is_drain_percent_at_least_one():
    assert rules.replace_at_once({"drainPercent": 25.0}, 2) == 1
    assert rules.replace_at_once({"drainPercent": 50.0}, 8) == 4
    assert rules.replace_at_once({}, 8) == 2  # default 25 %
    assert rules.replace_at_once({"drainPercent": 0.0}, 8) == 1


def test_plan_daemon_replaces_one_instance_at_a_time():
    old = [LiveTask(f"t{i}", "old", f"i{i}", "RUNNING", "RUNNING") for i in range(4)]
    plan = plan_daemon(True, "new", 0, old, [f"i{i}" for i in range(4)], {}, replace_at_once=1)
    assert len(plan.stop) == 1 and plan.start_on == []
    # the one being replaced is not healthy yet: nothing more goes
    stopping = [LiveTask("t0", "old", "i0", "STOPPED", "RUNNING")] + old[1:]
    plan = plan_daemon(True, "new", 0, stopping, [f"i{i}" for i in range(4)], {}, replace_at_once=1)
    assert plan.start_on == ["i0"] and plan.stop == []


def test_settled_and_breaker_rollback():
    d = make()
    new = d.started_by(REV2)
    live = [LiveTask("a", new, "i1", "RUNNING", "RUNNING"), LiveTask("b", new, "i2", "RUNNING", "RUNNING")]
    assert rules.settled(d, live, ["i1", "i2"]) and not rules.settled(d, live, ["i1", "i2", "i3"])
    for _ in range(3):
        rules.count_failure(d, new, 1.0)
    assert rules.trip_breaker(d, 2, 2.0)
    deployment = d.deployment()
    assert deployment["status"] == "ROLLBACK_IN_PROGRESS" and d.target == REV1
    assert deployment["rollback"]["rollbackTargetDaemonRevisionArn"] == REV1
    old = d.started_by(REV1)
    back = [LiveTask("c", old, "i1", "RUNNING", "RUNNING"), LiveTask("e", old, "i2", "RUNNING", "RUNNING")]
    rules.advance(d, back, ["i1", "i2"], {}, 3.0)
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL"


def test_breaker_without_source_stops_the_deployment():
    d = make(target=REV1, sources=())
    for _ in range(3):
        rules.count_failure(d, d.started_by(REV1), 1.0)
    assert rules.trip_breaker(d, 1, 2.0)
    assert d.deployment()["status"] == "STOPPED" and not rules.may_start(d)


def test_record_round_trip():
    d = make()
    assert rules.Daemon.from_record(d.to_record()) == d
