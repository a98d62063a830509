"""A task's container output on the console's task page, loaded (and
refreshed) as a fragment: the awslogs stream's newest events for a container
with the awslogs driver, else what its agent has (Docker's log, or the copy
kept after the container's removal), as `portside logs` shows them."""

from __future__ import annotations

from typing import Any

from ...control.container_output import OutputRequest
from ...protocol import errors
from ...protocol.model import LOGS
from ..exec_stream import collect_output
from ..inproc import ApiError, call, call_service
from .pages import h, logs_url

SHOWN_BYTES = 64 * 1024
SHOWN_EVENTS = 500


async def container_logs(ctx: Any, cluster: str, task: str, container: str) -> str:
    refresh = (f'<button type="button" hx-get="{h(logs_url(cluster, task, container))}" '
               'hx-target="closest div.logs" hx-swap="innerHTML">Refresh</button>')
    try:
        found = call(ctx, "DescribeTasks", cluster=cluster, tasks=[task])["tasks"]
        if not found:
            return f'<div class="error">Task {h(task)} was not found in {h(cluster)}.</div>'
        definition = call(ctx, "DescribeTaskDefinition", taskDefinition=found[0]["taskDefinitionArn"])
        containers = definition["taskDefinition"]["containerDefinitions"]
        configuration = next((c.get("logConfiguration") or {} for c in containers if c["name"] == container), {})
        if configuration.get("logDriver") == "awslogs":
            source, text = _from_stream(ctx, found[0]["taskArn"], container, configuration.get("options") or {})
        else:
            output, why = await collect_output(ctx, OutputRequest(cluster, found[0]["taskArn"], container, False),
                                               SHOWN_BYTES)
            if why is not None:
                return f'<p class="muted small">{h(why)}</p>{refresh}'
            source, text = "as its agent keeps it (the last 1 MiB, also after the container is removed)", \
                output.decode(errors="replace")
    except ApiError as exc:
        return f'<div class="error">{h(exc.code)}: {h(exc.message)}</div>{refresh}'
    except errors.ECSError as exc:
        return f'<p class="muted small">{h(exc.message)}</p>{refresh}'
    shown = text[-SHOWN_BYTES:]
    return (f'<p class="muted small">{h(source)}</p><pre class="output">{h(shown) or "(no output yet)"}</pre>'
            f'{refresh}')


def _from_stream(ctx: Any, task_arn: str, container: str, options: dict[str, str]) -> tuple[str, str]:
    prefix = options.get("awslogs-stream-prefix")
    group = options.get("awslogs-group", "")
    if not prefix:
        return f"CloudWatch Logs group {group}: the stream is named after the container's id (no prefix)", ""
    stream = f"{prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"
    try:
        events = call_service(ctx, LOGS.target_prefix, "GetLogEvents", logGroupName=group, logStreamName=stream,
                              limit=SHOWN_EVENTS)["events"]
    except ApiError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        events = []
    return f"CloudWatch Logs {group} › {stream}", "\n".join(e["message"] for e in events)
