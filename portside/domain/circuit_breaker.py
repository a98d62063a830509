"""The deployment circuit breaker's two knobs, as the ECS API documents them
(DeploymentCircuitBreaker): `thresholdConfiguration` (how many failed tasks
fail a deployment) and `resetOnHealthyTask` (whether a task reaching a
healthy state sets the failure count back to 0; the default is true).

Pure: the service scheduler (scheduler/service_reconciler.py) counts the
failures and remembers which of the deployment's tasks it has seen healthy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from . import health
from .documents import Doc
from .service import CIRCUIT_BREAKER_MAX, CIRCUIT_BREAKER_MIN
from .service_plans import LiveTask

# Stop codes of tasks that stopped by themselves (not stopped by the scheduler or a user).
SELF_STOPPED = ("TaskFailedToStart", "EssentialContainerExited")


def failed(task: Doc) -> bool:
    """Whether a stopped task counts as a failure for the circuit breaker and
    the launch throttle: it stopped by itself, or for failing its health check."""
    return task.get("stopCode") in SELF_STOPPED or task.get("stoppedReason") == health.HEALTH_CHECK_FAILED


THRESHOLD_TYPES = ("COUNT", "BOUNDED_PERCENT", "UNBOUNDED_PERCENT")
DEFAULT_TYPE, DEFAULT_VALUE = "BOUNDED_PERCENT", 50


def threshold(breaker: Doc, desired_count: int) -> int:
    """How many failed tasks fail the deployment: `value` itself (COUNT), or
    `value` % of the desired count, rounded up (BOUNDED_PERCENT: within
    [3, 200], the default 50 % giving the classic 0.5 × desired count;
    UNBOUNDED_PERCENT: at least 1)."""
    config = breaker.get("thresholdConfiguration") or {}
    kind = config.get("type") or DEFAULT_TYPE
    value = config.get("value", DEFAULT_VALUE)
    if kind == "COUNT":
        return max(1, int(value))
    scaled = math.ceil(value * desired_count / 100)
    if kind == "UNBOUNDED_PERCENT":
        return max(1, scaled)
    return min(CIRCUIT_BREAKER_MAX, max(CIRCUIT_BREAKER_MIN, scaled))


def threshold_problem(breaker: Doc) -> str | None:
    """Why a thresholdConfiguration cannot be used (None: it can)."""
    config = breaker.get("thresholdConfiguration")
    if config is None:
        return None
    if config.get("type") not in THRESHOLD_TYPES:
        return f"deploymentCircuitBreaker.thresholdConfiguration.type must be one of {', '.join(THRESHOLD_TYPES)}."
    if not isinstance(config.get("value"), int) or config["value"] < 1:
        return "deploymentCircuitBreaker.thresholdConfiguration.value must be at least 1."
    return None


def resets_on_healthy_task(breaker: Doc) -> bool:
    """resetOnHealthyTask, true unless set to false (AWS's default)."""
    return breaker.get("resetOnHealthyTask") is not False


def newly_healthy(seen: Iterable[str], live: list[LiveTask], deployment_id: str) -> tuple[list[str], bool]:
    """The deployment's tasks healthy now (RUNNING, and their health check
    passed if they have one), and whether one of them was not healthy when
    the scheduler last looked: a task that *reached* a healthy state."""
    now = sorted(t.arn for t in live if t.started_by == deployment_id and t.running and t.healthy)
    return now, bool(set(now) - set(seen))
