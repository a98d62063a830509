"""Daemons (CreateDaemon and friends): the record Portside keeps for one,
its deployments and revisions, and the pure rules that move them.

A daemon runs exactly one task on every ACTIVE container instance of its
capacity providers.  The per-instance work is the DAEMON service planner's
(`service_plans.plan_daemon`); what is daemon-specific lives here:

- each CreateDaemon / UpdateDaemon makes a *daemon revision* (the task
  definition and the task settings, immutable) and a *daemon deployment*
  that rolls it out; a daemon's tasks carry `startedBy` = their revision's
  `ecs-daemon/ID`, so which revision a task runs is read from the task;
- a deployment is PENDING, then IN_PROGRESS, SUCCESSFUL once every instance
  runs one RUNNING (and healthy) task of its target and nothing else of the
  daemon is left, after the bake time; STOPPED when a newer deployment
  supersedes it, or when the circuit breaker trips with nothing to roll
  back to; ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL when it trips after an
  earlier revision (the target becomes that revision again);
- instances are replaced a batch at a time: at most `drainPercent` of the
  instances (at least one) without a healthy daemon task at once, and after
  each batch the deployment waits `bakeTimeInMinutes` before the next (and
  before it is SUCCESSFUL);
- DeleteDaemon starts a deployment with no target that stops every task;
  the daemon is gone (DaemonNotFoundException) once they have stopped.

The record is kept in the store's records (kind `daemon`); the scheduler's
memory is a typed member of it, never a member of a wire document.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .documents import Doc
from .service import failure_threshold, new_deployment_id
from .service_plans import LiveTask

STARTED_BY_PREFIX = "ecs-daemon/"
DEFAULT_DRAIN_PERCENT = 25.0  # the console's default; the API documents 0.0-100.0
TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
MAX_KEPT = 100  # deployments kept per daemon
GONE = "DELETED"  # a deleted daemon whose tasks have stopped: not shown, its deployments still are

SUPERSEDED = "Daemon deployment stopped because a new daemon deployment started."
COMPLETED = "Daemon deployment completed successfully."
BREAKER_STOPPED = "Daemon deployment circuit breaker: tasks failed to start."
BREAKER_ROLLBACK = "Rollback initiated by the deployment circuit breaker: tasks failed to start."
ROLLED_BACK = "Daemon deployment rolled back successfully."
DELETING = "Daemon deployment started because the daemon is being deleted."


@dataclass
class DaemonMemory:
    """What the scheduler remembers of a daemon across ticks and restarts."""

    client_token: str | None = None  # CreateDaemon's: a retry with it is answered, not refused
    stopped_watermark: float = 0.0  # the daemon's tasks stopped up to here are counted already
    bake_until: float | None = None  # the deployment waits (bakeTimeInMinutes) until then
    step_open: bool = False  # instances are being replaced since the last bake


@dataclass
class Daemon:
    arn: str
    cluster_arn: str
    name: str
    status: str  # ACTIVE, DELETE_IN_PROGRESS (shown), DELETED (not shown)
    created_at: float
    updated_at: float
    task_definition: str  # the daemon task definition ARN of the latest revision
    capacity_providers: list[str]  # capacity provider ARNs
    configuration: Doc  # DaemonDeploymentConfiguration
    settings: Doc  # propagateTags, enableECSManagedTags, enableExecuteCommand, critical
    target: str | None = None  # the revision ARN its tasks are made from (None: being deleted)
    deployments: list[Doc] = field(default_factory=list)  # DaemonDeployment documents, oldest first
    revisions: dict[str, Doc] = field(default_factory=dict)  # DaemonRevision documents by ARN
    tags: list[dict[str, str]] = field(default_factory=list)  # propagated to its tasks with propagateTags DAEMON
    memory: DaemonMemory = field(default_factory=DaemonMemory)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Daemon:
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        known["memory"] = DaemonMemory(**known.get("memory", {}))
        return cls(**known)

    @property
    def group(self) -> str:
        return "daemon:" + self.name

    def deployment(self) -> Doc | None:
        return self.deployments[-1] if self.deployments else None

    def started_by(self, revision_arn: str | None) -> str | None:
        return STARTED_BY_PREFIX + revision_arn.rsplit("/", 1)[-1] if revision_arn else None

    def revision_of(self, started_by: str | None) -> str | None:
        for arn in self.revisions:
            if self.started_by(arn) == started_by:
                return arn
        return None

    def detail(self) -> Doc:
        """The DaemonDetail members kept (currentRevisions are counted when shown)."""
        doc: Doc = {"daemonArn": self.arn, "clusterArn": self.cluster_arn, "status": self.status,
                    "createdAt": self.created_at, "updatedAt": self.updated_at}
        current = self.deployment()
        if current is not None:
            doc["deploymentArn"] = current["daemonDeploymentArn"]
        return doc

    def answer(self) -> Doc:
        """What CreateDaemon, UpdateDaemon and DeleteDaemon answer."""
        shown = self.detail()
        shown.pop("clusterArn")
        return shown


def new_revision(daemon: Daemon, arn: str, definition: Doc, now: float) -> Doc:
    """The DaemonRevision of the daemon's settings now, from its daemon task definition document."""
    return {
        "daemonRevisionArn": arn,
        "clusterArn": daemon.cluster_arn,
        "daemonArn": daemon.arn,
        "daemonTaskDefinitionArn": definition["daemonTaskDefinitionArn"],
        "createdAt": now,
        "containerImages": [{"containerName": c.get("name", ""), "image": c["image"]}
                            for c in definition["containerDefinitions"]],
        "propagateTags": daemon.settings.get("propagateTags", "NONE"),
        "enableECSManagedTags": bool(daemon.settings.get("enableECSManagedTags")),
        "enableExecuteCommand": bool(daemon.settings.get("enableExecuteCommand")),
        "critical": bool(daemon.settings.get("critical", True)),
    }


def _finish(deployment: Doc, status: str, reason: str, now: float) -> None:
    deployment["status"] = status
    deployment["statusReason"] = reason
    deployment["finishedAt"] = now
    if status == "STOPPED":
        deployment["stoppedAt"] = now
    breaker = deployment.get("circuitBreaker") or {}
    if breaker.get("status") == "MONITORING":
        breaker["status"] = "MONITORING_COMPLETE"


def _revision_detail(arn: str) -> Doc:
    return {"arn": arn, "capacityProviders": [], "totalRunningInstanceCount": 0,
            "totalWithoutDaemonInstanceCount": 0, "totalDrainingInstanceCount": 0}


def start_deployment(daemon: Daemon, arn: str, target: str | None, sources: list[str], now: float,
                     reason: str | None = None) -> Doc:
    """A new deployment to `target` (None: the daemon is being deleted); the
    one under way, if any, is STOPPED."""
    for older in daemon.deployments:
        if older["status"] not in TERMINAL:
            _finish(older, "STOPPED", SUPERSEDED, now)
    deployment: Doc = {
        "daemonDeploymentArn": arn,
        "clusterArn": daemon.cluster_arn,
        "status": "PENDING",
        "sourceDaemonRevisions": [_revision_detail(s) for s in sources],
        "circuitBreaker": {"status": "MONITORING" if target else "DISABLED", "failureCount": 0, "threshold": 0},
        "alarms": {"status": "DISABLED"},
        "deploymentConfiguration": dict(daemon.configuration),
        "createdAt": now,
    }
    if target is not None:
        deployment["targetDaemonRevision"] = _revision_detail(target)
    if reason:
        deployment["statusReason"] = reason
    daemon.deployments.append(deployment)
    del daemon.deployments[:-MAX_KEPT]
    daemon.target = target
    daemon.updated_at = now
    daemon.memory.bake_until = None
    daemon.memory.step_open = False
    return deployment


def new_ids() -> str:
    """A new deployment or revision id (digits: it ends an ARN)."""
    return new_deployment_id().rsplit("/", 1)[-1]


def replace_at_once(configuration: Doc, instances: int) -> int:
    """Instances replaced at once: drainPercent of them, at least one."""
    percent = configuration.get("drainPercent")
    percent = DEFAULT_DRAIN_PERCENT if percent is None else percent
    return max(1, math.floor(instances * percent / 100))


def bake_seconds(configuration: Doc) -> float:
    return 60.0 * (configuration.get("bakeTimeInMinutes") or 0)


@dataclass(frozen=True)
class Where:
    """An instance of the daemon's providers, as the bookkeeping sees it."""

    provider: str  # capacity provider ARN
    active: bool


def count_revisions(daemon: Daemon, live: list[LiveTask], instances: dict[str, Where]) -> dict[str, Doc]:
    """Per revision ARN: running / stopping tasks per capacity provider ARN
    (the `capacityProviders` of its DaemonRevisionDetail and
    DaemonDeploymentRevisionDetail)."""
    per: dict[str, dict[str, list[int]]] = {}
    for t in live:
        revision = daemon.revision_of(t.started_by)
        where = instances.get(t.instance_arn or "")
        if revision is None or where is None:
            continue
        running_stopping = per.setdefault(revision, {}).setdefault(where.provider, [0, 0])
        if t.running and t.wanted:
            running_stopping[0] += 1
        elif not t.wanted:
            running_stopping[1] += 1
    return {arn: {p: tuple(c) for p, c in providers.items()} for arn, providers in per.items()}


def without_daemon(daemon: Daemon, live: list[LiveTask], instances: dict[str, Where]) -> dict[str, int]:
    """ACTIVE instances per provider ARN with no RUNNING task of the target revision."""
    target = daemon.started_by(daemon.target)
    served = {t.instance_arn for t in live if t.started_by == target and t.running and t.wanted}
    counts: dict[str, int] = {p: 0 for p in daemon.capacity_providers}
    for arn, where in instances.items():
        if where.active and arn not in served:
            counts[where.provider] = counts.get(where.provider, 0) + 1
    return counts


def _detail_counts(revision: str, counts: dict[str, Doc], without: dict[str, int] | None,
                   providers: list[str]) -> Doc:
    detail = _revision_detail(revision)
    mine = counts.get(revision, {})
    for provider in providers:
        running, stopping = mine.get(provider, (0, 0))
        lacking = (without or {}).get(provider, 0)
        detail["capacityProviders"].append({"arn": provider, "runningInstanceCount": running,
                                            "withoutDaemonInstanceCount": lacking,
                                            "drainingInstanceCount": stopping})
        detail["totalRunningInstanceCount"] += running
        detail["totalWithoutDaemonInstanceCount"] += lacking
        detail["totalDrainingInstanceCount"] += stopping
    return detail


def current_revisions(daemon: Daemon, live: list[LiveTask], instances: dict[str, Where]) -> list[Doc]:
    """DescribeDaemon's `currentRevisions`: the target, then every revision still running tasks."""
    counts = count_revisions(daemon, live, instances)
    without = without_daemon(daemon, live, instances)
    shown = []
    order = ([daemon.target] if daemon.target else []) + [r for r in counts if r != daemon.target]
    for revision in order:
        detail = _detail_counts(revision, counts, without if revision == daemon.target else None,
                                daemon.capacity_providers)
        shown.append({
            "arn": revision,
            "capacityProviders": [{"arn": p["arn"], "runningCount": p["runningInstanceCount"],
                                   "withoutDaemonCount": p["withoutDaemonInstanceCount"]}
                                  for p in detail["capacityProviders"]],
            "totalRunningCount": detail["totalRunningInstanceCount"],
            "totalWithoutDaemonCount": detail["totalWithoutDaemonInstanceCount"],
        })
    return shown


def settled(daemon: Daemon, live: list[LiveTask], active: list[str]) -> bool:
    """Every ACTIVE instance runs one healthy task of the target, and nothing
    else of the daemon is left (being deleted: no task at all)."""
    wanted = [t for t in live]
    if daemon.target is None:
        return not wanted
    mine = daemon.started_by(daemon.target)
    if any(t.started_by != mine or not t.wanted or not (t.running and t.healthy) for t in wanted):
        return False
    return sorted(t.instance_arn or "" for t in wanted) == sorted(active)


def in_flight(daemon: Daemon, live: list[LiveTask]) -> bool:
    """Some instance is between its old task and a RUNNING, healthy new one."""
    mine = daemon.started_by(daemon.target)
    return any((t.started_by == mine and t.wanted and not (t.running and t.healthy))
               or (t.started_by != mine and not t.wanted) for t in live)


def count_failure(daemon: Daemon, started_by: str | None, now: float) -> None:
    """A task of the daemon stopped by itself: the current deployment counts it when it is its target's."""
    deployment = daemon.deployment()
    if deployment is None or deployment["status"] not in ("PENDING", "IN_PROGRESS"):
        return
    if started_by != daemon.started_by(daemon.target):
        return
    breaker = deployment["circuitBreaker"]
    breaker["failureCount"] = breaker.get("failureCount", 0) + 1


def trip_breaker(daemon: Daemon, instances: int, now: float) -> bool:
    """The circuit breaker (always on for daemons): at its threshold the
    deployment rolls back to its first source revision, or stops when it has
    none.  True when it tripped now."""
    deployment = daemon.deployment()
    if deployment is None or deployment["status"] not in ("PENDING", "IN_PROGRESS"):
        return False
    breaker = deployment["circuitBreaker"]
    breaker["threshold"] = failure_threshold(instances)
    if breaker["failureCount"] < breaker["threshold"]:
        return False
    breaker["status"] = "TRIGGERED"
    sources = [s["arn"] for s in deployment["sourceDaemonRevisions"]]
    if not sources:
        _finish(deployment, "STOPPED", BREAKER_STOPPED, now)
        return True
    deployment["status"] = "ROLLBACK_IN_PROGRESS"
    deployment["statusReason"] = BREAKER_ROLLBACK
    deployment["rollback"] = {"reason": BREAKER_ROLLBACK, "startedAt": now,
                              "rollbackTargetDaemonRevisionArn": sources[0],
                              "rollbackCapacityProviders": list(daemon.capacity_providers)}
    daemon.target = sources[0]
    daemon.updated_at = now
    daemon.memory.bake_until = None
    return True


def may_start(daemon: Daemon) -> bool:
    """A deployment stopped by the circuit breaker starts no more tasks of its target."""
    deployment = daemon.deployment()
    return not (deployment is not None and deployment["status"] == "STOPPED"
                and deployment.get("statusReason") == BREAKER_STOPPED)


def advance(daemon: Daemon, live: list[LiveTask], active: list[str], instances: dict[str, Where],
            now: float) -> None:
    """After a tick's starts and stops: the deployment's counts, its end
    (after the bake time), and a deleted daemon's end."""
    deployment = daemon.deployment()
    if deployment is None:
        return
    if deployment["status"] == "PENDING":
        deployment["status"] = "IN_PROGRESS"
        deployment["startedAt"] = now
    if deployment["status"] in TERMINAL:
        return
    counts = count_revisions(daemon, live, instances)
    target = deployment.get("targetDaemonRevision")
    if target is not None:
        deployment["targetDaemonRevision"] = _detail_counts(
            target["arn"], counts, without_daemon(daemon, live, instances), daemon.capacity_providers)
    deployment["sourceDaemonRevisions"] = [_detail_counts(s["arn"], counts, None, daemon.capacity_providers)
                                           for s in deployment["sourceDaemonRevisions"]]
    if not settled(daemon, live, active):
        return
    if daemon.target is None:  # deleted, and its tasks are gone
        _finish(deployment, "SUCCESSFUL", COMPLETED, now)
        daemon.status = GONE
        daemon.updated_at = now
        return
    bake = bake_seconds(daemon.configuration)
    if bake and daemon.memory.bake_until is None:
        daemon.memory.bake_until = now + bake
    if daemon.memory.bake_until is not None and now < daemon.memory.bake_until:
        return
    if deployment["status"] == "ROLLBACK_IN_PROGRESS":
        _finish(deployment, "ROLLBACK_SUCCESSFUL", ROLLED_BACK, now)
    else:
        _finish(deployment, "SUCCESSFUL", COMPLETED, now)
    daemon.memory.bake_until = None


def baking(daemon: Daemon, live: list[LiveTask], now: float) -> bool:
    """Between two batches of replacements: once a batch has no instance in
    flight, the next waits bakeTimeInMinutes.  True while it waits."""
    bake = bake_seconds(daemon.configuration)
    if not bake or daemon.target is None:
        return False
    memory = daemon.memory
    if memory.bake_until is not None:
        if now < memory.bake_until:
            return True
        memory.bake_until = None
    if memory.step_open and not in_flight(daemon, live):
        memory.step_open = False
        memory.bake_until = now + bake
        return True
    return False


def summary(daemon: Daemon) -> Doc:
    """The DaemonSummary shape."""
    return {"daemonArn": daemon.arn, "status": daemon.status, "createdAt": daemon.created_at,
            "updatedAt": daemon.updated_at}


def deployment_summary(daemon: Daemon, deployment: Doc) -> Doc:
    """The DaemonDeploymentSummary shape."""
    shown: Doc = {"daemonDeploymentArn": deployment["daemonDeploymentArn"], "daemonArn": daemon.arn,
                  "clusterArn": daemon.cluster_arn}
    for member in ("status", "statusReason", "createdAt", "startedAt", "stoppedAt", "finishedAt"):
        if deployment.get(member) is not None:
            shown[member] = deployment[member]
    if deployment.get("targetDaemonRevision"):
        shown["targetDaemonRevisionArn"] = deployment["targetDaemonRevision"]["arn"]
    return shown
