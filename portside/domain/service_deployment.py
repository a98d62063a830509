"""Service deployments and service revisions, derived from what the service
scheduler does.

The scheduler works with the `deployments` of the Service document (ids
`ecs-svc/…`, PRIMARY / ACTIVE, rolloutState).  ECS also reports every
deployment as a *service deployment* (ListServiceDeployments,
DescribeServiceDeployments) that moves a service from its source service
revisions to a target service revision (DescribeServiceRevisions), and keeps
it after it has finished.  `sync` is the pure step that brings a service's
`History` up to date with its Service document; the caller reads and writes
it in the same transaction as the service.

Rules (the ECS developer guide, "View service history using Amazon ECS
service deployments"):
- every new scheduler deployment (CreateService, UpdateService that needs one,
  forceNewDeployment) starts a service deployment, IN_PROGRESS, with a new
  service revision as its target and the revisions still running as sources;
- a rolling deployment that completes is SUCCESSFUL; one superseded by a newer
  deployment before it finished is STOPPED; one failed by the circuit breaker
  without rollback is STOPPED with the breaker's reason;
- a rollback (the circuit breaker's, or StopServiceDeployment ROLLBACK) is
  part of the deployment it undoes: ROLLBACK_IN_PROGRESS, then
  ROLLBACK_SUCCESSFUL (or ROLLBACK_FAILED), with `rollback` saying why, when,
  and which revision it went back to; it reuses that source revision;
- task counts are live while the deployment runs and frozen when it ends
  ("the number of tasks running when the deployment completed").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from . import circuit_breaker
from .documents import Doc
from .lifecycle import Lifecycle

TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
RUNNING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
MAX_KEPT = 100  # finished deployments kept per service (AWS keeps 90 days)

SUPERSEDED = "Service deployment stopped because a new service deployment started."
SERVICE_DELETED = "Service deployment stopped because the service was deleted."
CIRCUIT_BREAKER_ROLLBACK = "Rollback initiated by the deployment circuit breaker: tasks failed to start."
USER_ROLLBACK = "Rollback initiated by StopServiceDeployment."
_ROLLBACK_OF = re.compile(r"rolling back to deploymentId (ecs-svc/\d+)")

# Service members a revision carries when the service has them.
_REVISION_MEMBERS = ("capacityProviderStrategy", "launchType", "platformVersion", "platformFamily",
                     "loadBalancers", "serviceRegistries", "networkConfiguration",
                     "serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations")


@dataclass
class Revision:
    doc: Doc  # the ServiceRevision shape
    # what a rollback to this revision restores besides the task definition
    placementConstraints: list[Doc] = field(default_factory=list)
    placementStrategy: list[Doc] = field(default_factory=list)


@dataclass
class Entry:
    doc: Doc  # the ServiceDeployment shape
    targetEcsId: str  # the scheduler deployment that rolls the target out
    rollbackEcsId: str | None = None  # the scheduler deployment of its rollback


@dataclass
class History:
    """A service's deployments (oldest first), revisions by ARN, and which
    revision each scheduler deployment (ecs-svc id) runs."""

    entries: list[Entry] = field(default_factory=list)
    revisions: dict[str, Revision] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # ecs-svc id → revision ARN

    @classmethod
    def from_doc(cls, doc: Doc | None) -> History:
        if not doc:
            return cls()
        return cls(
            entries=[Entry(**e) for e in doc["entries"]],
            revisions={arn: Revision(**r) for arn, r in doc["revisions"].items()},
            links=dict(doc["links"]),
        )

    def to_doc(self) -> Doc:
        return asdict(self)

    def entry(self, arn: str) -> Entry | None:
        for e in self.entries:
            if e.doc["serviceDeploymentArn"] == arn:
                return e
        return None

    def current(self) -> Entry | None:
        return self.entries[-1] if self.entries else None


@dataclass(frozen=True)
class Names:
    """How new ids become ARNs (injected: the domain builds no ARNs itself)."""

    deployment_arn: Callable[[], str]  # a new service-deployment ARN
    revision_arn: Callable[[str], str]  # the revision ARN for an ecs-svc id


def new_revision(service: Doc, deployment: Doc, arn: str) -> Revision:
    doc: Doc = {
        "serviceRevisionArn": arn,
        "serviceArn": service["serviceArn"],
        "clusterArn": service["clusterArn"],
        "taskDefinition": deployment["taskDefinition"],
        "createdAt": deployment["createdAt"],
        "guardDutyEnabled": False,
        "loadBalancers": [],
        "serviceRegistries": [],
    }
    for member in _REVISION_MEMBERS:
        if service.get(member) is not None:
            doc[member] = service[member]
    return Revision(doc, list(service.get("placementConstraints") or []),
                    list(service.get("placementStrategy") or []))


def _summary(arn: str, counts: dict[str, list[int]]) -> Doc:
    requested, running, pending = counts.get(arn, [0, 0, 0])
    return {"arn": arn, "requestedTaskCount": requested, "runningTaskCount": running,
            "pendingTaskCount": pending}


def revision_counts(history: History, service: Doc) -> dict[str, list[int]]:
    """Revision ARN → [requested, running, pending] over the scheduler's deployments."""
    counts: dict[str, list[int]] = {}
    for d in service["deployments"]:
        arn = history.links.get(d["id"])
        if arn is None:
            continue
        c = counts.setdefault(arn, [0, 0, 0])
        c[0] += d.get("desiredCount", 0)
        c[1] += d.get("runningCount", 0)
        c[2] += d.get("pendingCount", 0)
    return counts


def _breaker(service: Doc, deployment: Doc | None, status: str) -> Doc:
    config = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    if not config.get("enable"):
        return {"status": "DISABLED"}
    failed = (deployment or {}).get("failedTasks", 0)
    return {"status": status, "failureCount": failed,
            "threshold": circuit_breaker.threshold(config, service.get("desiredCount", 0))}


def _finish(entry: Entry, status: str, reason: str | None, now: float) -> None:
    doc = entry.doc
    doc["status"] = status
    if reason:
        doc["statusReason"] = reason
    doc["finishedAt"] = now
    if status == "STOPPED":
        doc["stoppedAt"] = now
    doc["updatedAt"] = now
    breaker = doc.get("deploymentCircuitBreaker") or {}
    if breaker.get("status") == "MONITORING":
        breaker["status"] = "MONITORING_COMPLETE"


def start_entry(history: History, service: Doc, deployment: Doc, names: Names, now: float) -> Entry:
    """A new service deployment whose target is `deployment`'s new revision."""
    revision_arn = names.revision_arn(deployment["id"])
    history.revisions[revision_arn] = new_revision(service, deployment, revision_arn)
    history.links[deployment["id"]] = revision_arn
    for older in history.entries:
        if older.doc["status"] not in TERMINAL:
            _finish(older, "STOPPED", SUPERSEDED, now)
    counts = revision_counts(history, service)
    sources = []
    for other in service["deployments"]:
        arn = history.links.get(other["id"])
        if other["id"] != deployment["id"] and arn and arn != revision_arn and arn not in sources:
            sources.append(arn)
    config = json.loads(json.dumps(service.get("deploymentConfiguration") or {}))
    entry = Entry({
        "serviceDeploymentArn": names.deployment_arn(),
        "serviceArn": service["serviceArn"],
        "clusterArn": service["clusterArn"],
        "createdAt": deployment["createdAt"],
        "startedAt": deployment["createdAt"],
        "updatedAt": now,
        "sourceServiceRevisions": [_summary(a, counts) for a in sources],
        "targetServiceRevision": _summary(revision_arn, counts),
        "status": "IN_PROGRESS",
        "deploymentConfiguration": config,
        "deploymentCircuitBreaker": _breaker(service, deployment, "MONITORING"),
        "alarms": {"status": "DISABLED"},
    }, deployment["id"])
    history.entries.append(entry)
    return entry


def start_rollback(history: History, entry: Entry, deployment: Doc, revision_arn: str, reason: str,
                   now: float) -> None:
    """`deployment` (a new scheduler deployment) rolls `entry` back to `revision_arn`."""
    history.links[deployment["id"]] = revision_arn
    entry.rollbackEcsId = deployment["id"]
    entry.doc["status"] = "ROLLBACK_IN_PROGRESS"
    entry.doc["statusReason"] = reason
    entry.doc["rollback"] = {"reason": reason, "startedAt": now, "serviceRevisionArn": revision_arn}
    entry.doc["updatedAt"] = now


def rollback_revision(history: History, entry: Entry) -> str | None:
    """The revision a rollback of `entry` returns to: its first source revision,
    else the target of the last deployment that succeeded before it."""
    sources = entry.doc.get("sourceServiceRevisions") or []
    if sources:
        return sources[0]["arn"]
    target = entry.doc["targetServiceRevision"]["arn"]
    for older in reversed(history.entries):
        arn = older.doc["targetServiceRevision"]["arn"]
        if older.doc["status"] == "SUCCESSFUL" and arn != target:
            return arn
    return None


def sync(history: History, service: Doc, names: Names, now: float) -> None:
    """Bring `history` up to date with the service's scheduler deployments."""
    by_id = {d["id"]: d for d in service["deployments"]}
    for deployment in reversed(service["deployments"]):  # oldest first
        if deployment["id"] in history.links:
            continue
        rolled_back = _ROLLBACK_OF.search(deployment.get("rolloutStateReason") or "")
        undone = _undone_by(history) if rolled_back else None
        if rolled_back and undone is not None:
            revision = history.links.get(rolled_back.group(1))
            if revision is None:  # history began after that deployment
                revision = names.revision_arn(deployment["id"])
                history.revisions[revision] = new_revision(service, deployment, revision)
            start_rollback(history, undone, deployment, revision, CIRCUIT_BREAKER_ROLLBACK, now)
            breaker = undone.doc.get("deploymentCircuitBreaker") or {}
            if breaker.get("status") != "DISABLED":
                breaker["status"] = "TRIGGERED"
                failed = by_id.get(undone.targetEcsId, {}).get("failedTasks")
                # (its deployment may be gone already: the breaker tripped at its threshold)
                breaker["failureCount"] = failed if failed is not None else breaker.get("threshold", 0)
        else:
            start_entry(history, service, deployment, names, now)
    counts = revision_counts(history, service)
    for entry in history.entries:
        if entry.doc["status"] in TERMINAL:
            continue
        _advance(entry, service, by_id, counts, now)
    _prune(history)


def show_lifecycle(history: History, stages: Lifecycle | None) -> None:
    """A BLUE_GREEN deployment's `lifecycleStage` and `lifecycleHookDetails`
    (its PAUSE hooks), on the service deployment it belongs to (or whose
    rollback it is)."""
    if stages is None:
        return
    for entry in history.entries:
        if stages.deployment_id in (entry.targetEcsId, entry.rollbackEcsId):
            if entry.rollbackEcsId != stages.deployment_id:
                entry.doc["lifecycleStage"] = stages.shown_stage()
            if stages.hooks:
                entry.doc["lifecycleHookDetails"] = [h.detail() for h in stages.hooks]


def _undone_by(history: History) -> Entry | None:
    """The service deployment a circuit-breaker rollback undoes: the current
    one (the breaker only fails the PRIMARY deployment, whose tasks may all be
    gone by now, so the scheduler no longer lists it)."""
    entry = history.current()
    return entry if entry is not None and entry.doc["status"] == "IN_PROGRESS" else None


def _advance(entry: Entry, service: Doc, by_id: dict[str, Doc], counts: dict[str, list[int]],
             now: float) -> None:
    doc = entry.doc
    before = json.dumps(doc, sort_keys=True)
    target = by_id.get(entry.targetEcsId)
    doc["targetServiceRevision"] = _summary(doc["targetServiceRevision"]["arn"], counts)
    doc["sourceServiceRevisions"] = [_summary(s["arn"], counts) for s in doc["sourceServiceRevisions"]]
    if target is not None and doc.get("deploymentCircuitBreaker", {}).get("status") != "DISABLED":
        doc["deploymentCircuitBreaker"]["failureCount"] = target.get("failedTasks", 0)
    if json.dumps(doc, sort_keys=True) != before:
        doc["updatedAt"] = now
    if service["status"] != "ACTIVE":
        _finish(entry, "STOPPED", SERVICE_DELETED, now)
        return
    status = doc["status"]
    if status == "IN_PROGRESS":
        if target is None:
            _finish(entry, "STOPPED", SUPERSEDED, now)
        elif target.get("rolloutState") == "COMPLETED":
            _finish(entry, "SUCCESSFUL", target.get("rolloutStateReason"), now)
        elif target.get("rolloutState") == "FAILED":
            doc["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
            _finish(entry, "STOPPED", target.get("rolloutStateReason"), now)
    elif status == "ROLLBACK_IN_PROGRESS":
        rollback = by_id.get(entry.rollbackEcsId or "")
        if rollback is None:
            _finish(entry, "ROLLBACK_FAILED", SUPERSEDED, now)
        elif rollback.get("rolloutState") == "COMPLETED":
            _finish(entry, "ROLLBACK_SUCCESSFUL", "Service deployment rolled back successfully.", now)
        elif rollback.get("rolloutState") == "FAILED":
            _finish(entry, "ROLLBACK_FAILED", rollback.get("rolloutStateReason"), now)


def _prune(history: History) -> None:
    """Keep the latest MAX_KEPT deployments and the revisions they name."""
    if len(history.entries) <= MAX_KEPT:
        return
    history.entries = history.entries[-MAX_KEPT:]
    named = set(history.links.values())
    for e in history.entries:
        named.add(e.doc["targetServiceRevision"]["arn"])
        named.update(s["arn"] for s in e.doc["sourceServiceRevisions"])
    history.revisions = {a: r for a, r in history.revisions.items() if a in named}
    ecs_ids = {e.targetEcsId for e in history.entries} | {e.rollbackEcsId for e in history.entries}
    history.links = {i: a for i, a in history.links.items() if i in ecs_ids}


def brief(entry: Entry) -> Doc:
    """The ServiceDeploymentBrief shape ListServiceDeployments answers with."""
    doc = entry.doc
    shown: Doc = {k: doc[k] for k in ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt", "createdAt",
                                 "finishedAt", "status", "statusReason") if k in doc}
    shown["targetServiceRevisionArn"] = doc["targetServiceRevision"]["arn"]
    return shown
