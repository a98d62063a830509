"""Builds an agent from its settings and runs it until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

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


async def run_agent(server: str, runtime: Runtime, config: AgentConfig,
                    client: ServerClient | None = None) -> None:
    """Raises ServerRefused when the server will not register this agent (e.g.
    its key is refused)."""
    client = client or ServerClient(server)
    agent = Agent(client, runtime, config)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel if main else agent.stop)
    try:
        await agent.register()
        log.warning("agent registered %s in cluster %s", agent.instance_arn, config.cluster)
        await agent.run()
    except asyncio.CancelledError:
        pass
    finally:
        await agent.reporter.close()
        await runtime.close()
        client.close()
