"""The agent's side of `portside logs` (control/container_output.py): asked
on its exec channel, it dials back to the session like an ECS Exec session
and sends one container's output as STDOUT frames, then EXIT (or ERROR):
from Docker's log while the container exists (followed, when asked, until it
stops), else the copy kept after its removal (agent/output_keeper.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..domain import execute_command as frames
from .output_keeper import OutputKeeper
from .runtime import LABEL_CONTAINER_NAME, LABEL_INSTANCE, LABEL_TASK_ARN

CHUNK = 64 * 1024


class OutputUnavailable(Exception):
    """Nothing to send: the message says why."""


async def send_output(stream: Any, request: dict[str, Any], instance_arn: str, docker_client: Any | None,
                      keeper: OutputKeeper) -> None:
    task_arn, name = str(request["taskArn"]), str(request["containerName"])
    if docker_client is not None:
        labels = [f"{LABEL_TASK_ARN}={task_arn}", f"{LABEL_CONTAINER_NAME}={name}", f"{LABEL_INSTANCE}={instance_arn}"]
        found = await asyncio.to_thread(docker_client.api.containers, all=True, filters={"label": labels})
        if found:
            await _from_docker(stream, docker_client.api, found[0]["Id"], bool(request.get("follow")))
            return
    kept = await asyncio.to_thread(keeper.read, task_arn, name)
    if kept is None:
        raise OutputUnavailable(f"No output of the container {name} is kept on its instance (it printed nothing, "
                                "its log driver keeps none, or it was removed too long ago).")
    for start in range(0, len(kept), CHUNK):
        await stream.send(frames.frame(frames.STDOUT, kept[start:start + CHUNK]))


async def _from_docker(stream: Any, api: Any, container_id: str, follow: bool) -> None:
    """Docker's log of the container, read on a thread; closed when the
    session's stream closes (a client that stopped following)."""
    loop = asyncio.get_running_loop()
    opened: list[Any] = []

    def pump() -> None:
        output = api.logs(container_id, stdout=True, stderr=True, stream=True, follow=follow)
        opened.append(output)
        for chunk in output:
            asyncio.run_coroutine_threadsafe(stream.send(frames.frame(frames.STDOUT, chunk)), loop).result()

    closed = asyncio.ensure_future(stream.wait_closed())
    reading = asyncio.ensure_future(asyncio.to_thread(pump))
    try:
        await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
        if opened and hasattr(opened[0], "close"):
            with contextlib.suppress(Exception):
                opened[0].close()  # ends a follow blocked on a quiet container
    if reading.done():
        reading.result()  # Docker's refusal (a log driver it cannot read back) is the session's error
    else:
        reading.cancel()
