"""Builds an agent from its settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from ..lockfile import DirLock
from .agent import Agent, AgentConfig
from .fake_runtime import FakeRuntime
from .runtime import Runtime
from .server_client import ServerClient

log = logging.getLogger("portside.agent")


def make_runtime(kind: str, fake_speed: float = 1.0) -> Runtime:
    """The runtime by name; DockerUnavailable when Docker does not answer."""
    if kind == "fake":
        return FakeRuntime(speed=fake_speed)
    from .docker_runtime import DockerRuntime

    return DockerRuntime()


def lock_data_dir(data_dir: Path) -> DirLock:
    """One agent per agent data dir (its checkpoint names one container
    instance); LockHeld names the agent that has it."""
    return DirLock(data_dir / "agent.lock", "portside agent").acquire()


async def run_agent(server: str, runtime: Runtime, config: AgentConfig,
                    client: ServerClient | None = None) -> None:
    """Runs until SIGTERM/SIGINT (containers keep running, to be adopted by the
    next agent) or until the instance is deregistered.  A second signal exits
    at once.  Raises ServerRefused when the server will not register this
    agent (e.g. its key is refused).

    A signal does not wait for the agent's loop to unwind by itself: the loop
    is cancelled and given `STOP_GRACE_S`, and whatever is still pending then
    is left to the process exit (the next agent picks up from the checkpoint
    and the containers' labels, as after a `kill -9`)."""
    client = client or ServerClient(server)
    agent = Agent(client, runtime, config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(sig: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(sig).name)
            logging.shutdown()
            os._exit(128 + sig)
        log.info("%s: stopping; containers keep running (a second signal exits at once)",
                 signal.Signals(sig).name)
        agent.stop()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    main = asyncio.ensure_future(_register_and_run(agent))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([main, stopped], return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            main.result()  # ServerRefused, or a bug, surfaces here
        else:
            main.cancel()
            await asyncio.wait([main], timeout=STOP_GRACE_S)
    finally:
        stopped.cancel()
        for manager in list(agent.managers.values()):
            manager.cancel()
        await agent.reporter.close()
        await runtime.close()
        client.close()


STOP_GRACE_S = 2.0


async def _register_and_run(agent: Agent) -> None:
    await agent.register()
    log.info("agent registered %s in cluster %s", agent.instance_arn, agent.cluster)
    await agent.run()
