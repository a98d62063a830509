"""UpdateContainerAgent and SubmitAttachmentStateChanges.

Portside's agent reports its version in `versionInfo.agentVersion`; the
newest agent this server knows is its own version.  UpdateContainerAgent
answers as ECS does for an agent that is up to date
(`NoUpdateAvailableException`); for an older one it records
`agentUpdateStatus` PENDING, and the update is UPDATED once the agent
registers again reporting the newer version (an agent cannot replace itself
here: the operator installs the new version and restarts it).
"""

from __future__ import annotations

from ..control import container_agent
from ..domain.documents import Doc
from ..protocol.dispatch import operation
from .context import Context


@operation("UpdateContainerAgent")
def update_container_agent(ctx: Context, params: Doc) -> Doc:
    instance = container_agent.request_update(ctx, params.get("cluster"), params["containerInstance"])
    return {"containerInstance": instance}


@operation("SubmitAttachmentStateChanges")
def submit_attachment_state_changes(ctx: Context, params: Doc) -> Doc:
    container_agent.attachments_changed(ctx, params.get("cluster"), params["attachments"])
    return {"acknowledgment": "ACK"}
