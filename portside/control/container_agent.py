"""What an agent's own life asks of the control plane beyond its tasks:
agent updates (UpdateContainerAgent) and attachment state reports
(SubmitAttachmentStateChanges)."""

from __future__ import annotations

from .. import __version__
from ..domain.documents import Doc
from ..protocol import errors
from .context import Context
from .lookup import instance_arn, require_cluster

LATEST_AGENT_VERSION = __version__
UPDATING = ("PENDING", "STAGING", "STAGED", "UPDATING")
# an attachment's statuses in the order they happen; a report never moves one back
ATTACHMENT_ORDER = ("PRECREATED", "ATTACHING", "ATTACHED", "DETACHING", "DETACHED", "DELETED")
ATTACHMENT_STATUSES = ATTACHMENT_ORDER + ("FAILED",)


def version_key(version: str) -> tuple[int, ...] | None:
    """`1.2.3` as (1, 2, 3); None when it is not a dotted version."""
    try:
        return tuple(int(p) for p in version.strip().lstrip("v").split("."))
    except ValueError:
        return None


def request_update(ctx: Context, cluster_name: str | None, identifier: str) -> Doc:
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, cluster_name)
        arn = instance_arn(ctx, cluster, identifier)
        instance = ctx.placement.get_instance(arn) if arn else None
        if instance is None or instance["status"] == "INACTIVE":
            raise errors.InvalidParameterException("The specified container instance could not be found.")
        if instance.get("agentUpdateStatus") in UPDATING:
            raise errors.UpdateInProgressException(
                "There's already a current Amazon ECS container agent update in progress on the container "
                "instance that's specified.")
        reported = version_key((instance.get("versionInfo") or {}).get("agentVersion") or "")
        if reported is None:
            raise errors.MissingVersionException(
                "Amazon ECS can't determine the current version of the Amazon ECS container agent on the "
                "container instance and doesn't have enough information to proceed with an update.")
        latest = version_key(LATEST_AGENT_VERSION)
        assert latest is not None
        if reported >= latest:
            raise errors.NoUpdateAvailableException(
                "There's no update available for this Amazon ECS container agent. The agent is already "
                "running the latest version.")
        instance["agentUpdateStatus"] = "PENDING"
        instance["version"] = instance.get("version", 0) + 1
        ctx.placement.put_instance(instance)
    return ctx.placement.get_instance(instance["containerInstanceArn"]) or instance


def registered_version(instance: Doc) -> None:
    """An agent registered again: a pending update is UPDATED once it reports
    the latest version."""
    if instance.get("agentUpdateStatus") not in UPDATING:
        return
    reported = version_key((instance.get("versionInfo") or {}).get("agentVersion") or "")
    latest = version_key(LATEST_AGENT_VERSION)
    if reported is not None and latest is not None and reported >= latest:
        instance["agentUpdateStatus"] = "UPDATED"


def attachments_changed(ctx: Context, cluster_name: str | None, changes: list[Doc]) -> None:
    """Each reported attachment (`attachmentArn` ending in its id) of a task
    in the cluster moves forward to its reported status."""
    store = ctx.store
    with store.transaction():
        try:
            cluster = require_cluster(ctx, cluster_name)
        except errors.ClusterNotFoundException as exc:  # what the agent's call declares
            raise errors.ClientException(exc.message) from exc
        for change in changes:
            status = change["status"]
            if status not in ATTACHMENT_STATUSES:
                raise errors.InvalidParameterException(
                    f"Invalid attachment status {status[:32]!r}; valid: {', '.join(ATTACHMENT_STATUSES)}.")
            attachment_id = change["attachmentArn"].rsplit("/", 1)[-1]
            task = store.task_with_attachment(cluster["clusterArn"], attachment_id)
            if task is None:
                raise errors.InvalidParameterException(
                    f"The attachment {change['attachmentArn'][:200]} was not found in the cluster.")
            for attachment in task.get("attachments") or []:
                if attachment.get("id") == attachment_id and _forward(attachment.get("status"), status):
                    attachment["status"] = status
            store.put_task(task)


def _forward(current: str | None, new: str) -> bool:
    if new == "FAILED":
        return current not in ("DETACHED", "DELETED", "FAILED")
    if current not in ATTACHMENT_ORDER:
        return current != "FAILED"
    return ATTACHMENT_ORDER.index(new) > ATTACHMENT_ORDER.index(current)
