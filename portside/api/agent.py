"""The calls a container agent makes: DiscoverPollEndpoint,
SubmitTaskStateChange, SubmitContainerStateChange.

The reports are applied by control/report.py: they move tasks and containers
forward only, so agents can retry freely (at least once).
"""

from __future__ import annotations

from typing import Any

from ..control import report
from ..domain.status import REPORTED
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import require_cluster
from .context import Context


@operation("DiscoverPollEndpoint")
def discover_poll_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    try:
        require_cluster(ctx, params.get("cluster"))
    except errors.ClusterNotFoundException as exc:  # not an error this operation declares
        raise errors.ClientException(exc.message) from exc
    endpoint = ctx.config.endpoint
    return {"endpoint": endpoint, "telemetryEndpoint": endpoint, "serviceConnectEndpoint": endpoint}


def _check_statuses(*statuses: Any) -> None:
    """Reported statuses are ECS statuses (the model has them as plain strings)."""
    for status in statuses:
        if status is not None and status not in REPORTED:
            raise errors.InvalidParameterException(f"Unknown status {str(status)[:64]!r}.")


@operation("SubmitContainerStateChange")
def submit_container_state_change(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_statuses(params.get("status"))
    report.container_changed(ctx, params)
    return {"acknowledgment": "ACK"}


@operation("SubmitTaskStateChange")
def submit_task_state_change(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_statuses(params.get("status"), *(c.get("status") for c in params.get("containers", [])))
    report.task_changed(ctx, params)
    return {"acknowledgment": "ACK"}
