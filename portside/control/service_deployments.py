"""Keeping each service's deployment history (service deployments and
service revisions) in step with its scheduler deployments.

Called in the same transaction as every change to a service's deployments
(CreateService, UpdateService, DeleteService, each reconcile of the service
scheduler, StopServiceDeployment), so the history is committed with the change
it describes.  The rules are in domain/service_deployment.py.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..arns import Arns
from ..domain import service_deployment as history_rules
from ..domain.service_deployment import History, Names

Doc = dict[str, Any]

KIND = "service-history"


def names(arns: Arns, service: Doc) -> Names:
    cluster = service["clusterArn"].rsplit("/", 1)[-1]
    name = service["serviceName"]
    return Names(
        deployment_arn=lambda: arns.service_deployment(cluster, name, secrets.token_urlsafe(16)),
        revision_arn=lambda ecs_id: arns.service_revision(cluster, name, ecs_id.rsplit("/", 1)[-1]),
    )


def load(store: Any, service_arn: str) -> History:
    return History.from_doc(store.records.get(KIND, service_arn))


def save(store: Any, service: Doc, history: History) -> None:
    store.records.put(KIND, service["serviceArn"], service["clusterArn"], service["status"], history.to_doc())


def forget(store: Any, service_arn: str) -> None:
    """A service created again under the same name starts a new history."""
    store.records.delete(KIND, service_arn)


def sync(store: Any, arns: Arns, service: Doc, now: float) -> History:
    """Record what the service's deployments did since the last sync.  The
    history depends on the service document alone, so callers sync only when
    they change that document (and a rolled-back change is synced again when
    it is made again)."""
    history = load(store, service["serviceArn"])
    before = history.to_doc()
    history_rules.sync(history, service, names(arns, service), now)
    if history.to_doc() != before:
        save(store, service, history)
    return history


def current(store: Any, service: Doc) -> Doc:
    """The Service members `currentServiceDeployment` and `currentServiceRevisions`."""
    history = load(store, service["serviceArn"])
    entry = history.current()
    if entry is None:
        return {}
    counts = history_rules.revision_counts(history, service)
    revisions = []
    for d in service["deployments"]:
        arn = history.links.get(d["id"])
        if arn and arn not in revisions:
            revisions.append(arn)
    return {
        "currentServiceDeployment": entry.doc["serviceDeploymentArn"],
        "currentServiceRevisions": [
            {"arn": a, "requestedTaskCount": counts[a][0], "runningTaskCount": counts[a][1],
             "pendingTaskCount": counts[a][2]} for a in revisions
        ],
    }
