"""The service scheduler's planners: pure functions from what a service's
tasks and instances are now to what one tick should do.

The reconciler (scheduler/service_reconciler.py) reads the state, asks a
planner, and applies the plan (starts, stops, the service document's counts
and statuses).  Nothing here does I/O, so every rule has a unit test without a
server (tests/scheduler/test_service_plan.py, test_service_planners.py).

- `plan_replica`: start tasks of the PRIMARY deployment up to desiredCount and
  replace older or displaced ones, within minimumHealthyPercent / maximumPercent;
- `plan_daemon`: one task of the PRIMARY deployment on every ACTIVE instance;
- `plan_rollout`: after the starts and stops, each deployment's counts, which
  deployments are gone (INACTIVE), and whether the PRIMARY has completed and
  the service is steady.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LiveTask:
    """A service's task not yet STOPPED, as the scheduler sees it."""

    arn: str
    started_by: str | None
    instance_arn: str | None
    desired: str
    last: str
    healthy: bool = True  # RUNNING and its health check passed (or it has none)

    @property
    def running(self) -> bool:
        return self.last == "RUNNING"

    @property
    def wanted(self) -> bool:
        """Not yet asked to stop."""
        return self.desired != "STOPPED"


@dataclass
class Plan:
    start: int = 0  # new tasks of the primary deployment
    stop: list[LiveTask] = field(default_factory=list)


def lower_limit(desired: int, minimum_healthy_percent: int) -> int:
    """Healthy tasks to keep: minimumHealthyPercent of desired, rounded up."""
    return math.ceil(desired * minimum_healthy_percent / 100)


def upper_limit(desired: int, maximum_percent: int) -> int:
    """Tasks allowed at once: maximumPercent of desired, rounded down."""
    return math.floor(desired * maximum_percent / 100)


# -- REPLICA ---------------------------------------------------------------------------


def plan_replica(
    desired: int,
    minimum_healthy_percent: int,
    maximum_percent: int,
    primary_id: str,
    tasks: list[LiveTask],
    usable_instances: set[str],
    may_start: bool = True,
) -> Plan:
    """What one tick does for a REPLICA service: start tasks of the primary
    deployment up to `desired` (within maximumPercent of running + pending
    tasks), stop tasks of older deployments and tasks on instances no longer
    ACTIVE (keeping minimumHealthyPercent of desired RUNNING), and stop the
    primary's surplus after a scale-in."""
    wanted = [t for t in tasks if t.wanted]
    good = [t for t in wanted if t.started_by == primary_id and t.instance_arn in usable_instances]
    old = [t for t in wanted if not (t.started_by == primary_id and t.instance_arn in usable_instances)]
    plan = Plan()
    if may_start and len(good) < desired:
        room = upper_limit(desired, maximum_percent) - len(wanted)
        plan.start = max(0, min(desired - len(good), room))
    healthy = sum(1 for t in wanted if t.running and t.healthy)
    budget = healthy - lower_limit(desired, minimum_healthy_percent)
    # Tasks not yet RUNNING cost no health: stop them first, freely.
    for t in old:
        if not t.running:
            plan.stop.append(t)
    for t in old:
        if t.running and budget > 0:
            plan.stop.append(t)
            budget -= 1
    surplus = len(good) - desired
    if surplus > 0:
        for t in sorted(good, key=lambda t: t.running):  # pending ones first
            if surplus <= 0:
                break
            if t.running:
                if budget <= 0:
                    break
                budget -= 1
            plan.stop.append(t)
            surplus -= 1
    return plan


# -- DAEMON ----------------------------------------------------------------------------


@dataclass
class DaemonPlan:
    desired: int  # the service's desiredCount: one per ACTIVE instance (0 once deleted)
    stop: list[LiveTask] = field(default_factory=list)
    start_on: list[str] = field(default_factory=list)  # instance ARNs that get a task now, in order


def _by_instance(tasks: Iterable[LiveTask]) -> dict[str | None, list[LiveTask]]:
    grouped: dict[str | None, list[LiveTask]] = {}
    for t in tasks:
        if t.wanted:
            grouped.setdefault(t.instance_arn, []).append(t)
    return grouped


def daemon_leaving(tasks: Iterable[LiveTask], active: Sequence[str], serving: bool) -> list[str | None]:
    """Instances (None: no instance) whose daemon tasks must go: no longer
    ACTIVE, or every instance once the service is being deleted."""
    active_set = set(active)
    return [i for i in _by_instance(tasks) if i not in active_set or not serving]


def plan_daemon(
    serving: bool,
    primary_id: str,
    minimum_healthy_percent: int,
    tasks: list[LiveTask],
    active: Sequence[str],
    live_on_leaving: Mapping[str, int],
    may_start: bool = True,
    replace_at_once: int | None = None,
) -> DaemonPlan:
    """What one tick does for a DAEMON service.

    `active` are the cluster's ACTIVE instances (in the order they are tried),
    `live_on_leaving` the number of live tasks of any kind on each instance
    `daemon_leaving` names (read only while `serving`).  A daemon task leaves
    a DRAINING instance last, after the instance's other tasks; on an ACTIVE
    instance the PRIMARY's task is kept (one), older deployments' tasks are
    replaced within minimumHealthyPercent, and an instance without one gets
    one when `may_start`.  `replace_at_once` (a daemon's drainPercent), when
    given, bounds the instances without a healthy task instead of
    minimumHealthyPercent."""
    desired = len(active) if serving else 0
    plan = DaemonPlan(desired)
    by_instance = _by_instance(tasks)
    for instance in daemon_leaving(tasks, active, serving):
        here = by_instance[instance]
        if serving and instance is not None and live_on_leaving.get(instance, 0) > len(here):
            continue  # others still run there: the daemon task goes last
        plan.stop.extend(here)
    if not serving:
        return plan
    healthy = sum(1 for group in by_instance.values() for t in group if t.running and t.healthy)
    lower = lower_limit(desired, minimum_healthy_percent) if replace_at_once is None else desired - replace_at_once
    budget = healthy - lower
    for instance in active:
        here = by_instance.get(instance, [])
        mine = [t for t in here if t.started_by == primary_id]
        others = [t for t in here if t.started_by != primary_id]
        if mine:
            plan.stop.extend(mine[1:] + others)
        elif others:
            for t in others:
                if t.running:
                    if budget <= 0:
                        break
                    budget -= 1
                plan.stop.append(t)
        elif may_start:
            plan.start_on.append(instance)
    return plan


# -- the rollout step --------------------------------------------------------------------

# After tasks stopped by themselves (a failure streak), the service counts as
# settled (streak reset, rollout COMPLETED, a steady state announced) only once
# its tasks have all been RUNNING this long: a container that crashes at once
# is RUNNING for a moment, and a tick that saw that moment used to reset the
# streak, so a crash loop on Docker was never throttled (157 restarts a minute).
STABLE_AFTER_S = 10.0


@dataclass
class RolloutStep:
    """A service's deployments after one tick's starts and stops."""

    kept: list[str]  # ids of the deployments still listed, PRIMARY first; the others are INACTIVE
    desired: dict[str, int]  # an older deployment's desiredCount: its tasks still wanted
    counts: dict[str, tuple[int, int]]  # (running, pending) per kept deployment
    drained: bool = False  # a deleted (DRAINING) service with no task left: INACTIVE
    settled: bool = False  # the PRIMARY alone, exactly desiredCount RUNNING and healthy, nothing stopping
    completed: bool = False  # the PRIMARY's rollout is COMPLETED by this step
    became_steady: bool = False  # settled now and not before: the steady-state event
    settled_since: float | None = None  # after failures: since when it looks settled (see STABLE_AFTER_S)

    @property
    def running(self) -> int:
        return sum(r for r, _ in self.counts.values())

    @property
    def pending(self) -> int:
        return sum(p for _, p in self.counts.values())


def plan_rollout(
    status: str,
    desired_count: int,
    deployments: Sequence[Mapping[str, Any]],
    tasks: list[LiveTask],
    was_steady: bool,
    fail_streak: int = 0,
    settled_since: float | None = None,
    now: float = 0.0,
    stable_after_s: float = STABLE_AFTER_S,
) -> RolloutStep:
    """`deployments` are the service's, PRIMARY first (read, never changed);
    `tasks` its live tasks after this tick's starts and stops.  With a failure
    streak, the service settles only after `stable_after_s` of looking settled
    since `settled_since` (the step says since when, for the next tick)."""
    primary = deployments[0]
    kept = [primary["id"]]
    desired: dict[str, int] = {}
    for deployment in deployments[1:]:
        theirs = [t for t in tasks if t.started_by == deployment["id"]]
        if theirs:  # otherwise its tasks are gone: INACTIVE, and no longer listed
            kept.append(deployment["id"])
            desired[deployment["id"]] = sum(1 for t in theirs if t.wanted)
    by_started: dict[str | None, tuple[int, int]] = {}
    for t in tasks:
        running, pending = by_started.get(t.started_by, (0, 0))
        if t.running:
            running += 1
        elif t.wanted:
            pending += 1
        by_started[t.started_by] = (running, pending)
    step = RolloutStep(kept, desired, {i: by_started.get(i, (0, 0)) for i in kept})
    if status == "DRAINING":
        step.drained = not tasks
        return step
    running, pending = step.counts[primary["id"]]
    step.settled = (len(kept) == 1 and pending == 0 and running == desired_count
                    and all(t.started_by == primary["id"] and t.wanted and t.healthy for t in tasks))
    if step.settled and fail_streak:
        step.settled_since = now if settled_since is None else settled_since
        step.settled = now - step.settled_since >= stable_after_s
    step.completed = step.settled and primary.get("rolloutState") == "IN_PROGRESS"
    step.became_steady = step.settled and not was_steady
    return step
