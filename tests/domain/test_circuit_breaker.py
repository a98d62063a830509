"""The circuit breaker's threshold and reset rules (pure), as the ECS API
reference documents DeploymentCircuitBreaker and ThresholdConfiguration."""

import pytest

from portside.domain import circuit_breaker as cb
from portside.domain.service_plans import LiveTask


@pytest.mark.parametrize("config, desired, expected", [
    ({}, 1, 3), ({}, 7, 4), ({}, 1000, 200),  # the default: BOUNDED_PERCENT 50, within [3, 200]
    ({"type": "BOUNDED_PERCENT", "value": 50}, 10, 5),
    ({"type": "BOUNDED_PERCENT", "value": 10}, 10, 3),  # bounded below
    ({"type": "BOUNDED_PERCENT", "value": 100}, 1000, 200),  # and above
    ({"type": "UNBOUNDED_PERCENT", "value": 10}, 10, 1),
    ({"type": "UNBOUNDED_PERCENT", "value": 100}, 1000, 1000),
    ({"type": "UNBOUNDED_PERCENT", "value": 25}, 0, 1),
    ({"type": "COUNT", "value": 1}, 500, 1),
    ({"type": "COUNT", "value": 7}, 1, 7),
])
def test_threshold(config, desired, expected):
    breaker = {"enable": True, "rollback": False}
    if config:
        breaker["thresholdConfiguration"] = config
    assert cb.threshold(breaker, desired) == expected


@pytest.mark.parametrize("config, named", [
    ({"type": "COUNT", "value": 0}, "value must be at least 1"),
    ({"type": "PERCENT", "value": 5}, "type must be one of"),
])
def test_threshold_problems(config, named):
    assert named in cb.threshold_problem({"thresholdConfiguration": config})
    assert cb.threshold_problem({"enable": True}) is None


def test_reset_on_healthy_task_defaults_to_true():
    assert cb.resets_on_healthy_task({"enable": True, "rollback": False})
    assert cb.resets_on_healthy_task({"resetOnHealthyTask": True})
    assert not cb.resets_on_healthy_task({"resetOnHealthyTask": False})


def test_a_task_reaching_a_healthy_state_is_noticed_once():
    def task(arn, last="RUNNING", healthy=True, deployment="d1"):
        return LiveTask(arn, deployment, "i", "RUNNING", last, healthy)

    seen, reached = cb.newly_healthy([], [task("a", last="PENDING"), task("b", healthy=False)], "d1")
    assert (seen, reached) == ([], False)
    seen, reached = cb.newly_healthy(seen, [task("a"), task("b", healthy=False), task("x", deployment="d0")], "d1")
    assert (seen, reached) == (["a"], True)
    seen, reached = cb.newly_healthy(seen, [task("a"), task("b", healthy=False)], "d1")
    assert (seen, reached) == (["a"], False)  # still healthy: not again
    seen, reached = cb.newly_healthy(seen, [task("b")], "d1")
    assert (seen, reached) == (["b"], True)
