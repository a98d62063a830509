"""`portside agent`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..agent.agent import AgentConfig
from ..agent.runner import lock_data_dir, make_runtime, run_agent
from ..agent.runtime import Runtime
from ..agent.server_client import ServerClient, ServerRefused
from ..domain.capacity_providers import CAPACITY_PROVIDER_ATTRIBUTE
from ..domain.fargate import FARGATE_ATTRIBUTE, FARGATE_CLUSTER
from ..lockfile import LockHeld
from .process import exit_now

if TYPE_CHECKING:
    pass

NO_DOCKER = (
    "portside: Docker is not reachable ({error}); start the Docker engine, set DOCKER_HOST, "
    "or run with --runtime fake"
)


def _agent_config(args: argparse.Namespace, cluster: str, data_dir: Path, fargate: bool = False) -> AgentConfig:
    return AgentConfig(
        cluster=cluster,
        data_dir=data_dir,
        stop_timeout=args.stop_timeout,
        availability_zone=args.availability_zone,
        cpu_units=args.cpu_units,
        memory_mib=args.memory_mib,
        host_port_range=args.host_port_range,
        extra_attributes={
            **({FARGATE_ATTRIBUTE: "true"} if fargate else {}),
            **({CAPACITY_PROVIDER_ATTRIBUTE: args.capacity_provider}
               if getattr(args, "capacity_provider", None) else {}),
        },
    )


def runtime_or_none(kind: str) -> Runtime | None:
    """The runtime, or None after one line on stderr saying Docker is not there."""
    try:
        return make_runtime(kind)
    except Exception as exc:  # DockerUnavailable, and whatever the SDK raises instead
        print(NO_DOCKER.format(error=str(exc).splitlines()[0][:200]), file=sys.stderr)
        return None


REFUSED = (
    "portside: the server refused this agent ({error}); give the agent a key of role agent "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile) and check --cluster"
)


def agent(args: argparse.Namespace) -> int:
    """Exit codes: 0 after a signal or when the instance was deregistered,
    1 when the server or Docker refuses, 2 for bad settings or a data dir
    another agent holds."""
    import botocore.exceptions

    try:
        client = ServerClient(args.server, args.region, args.profile)
    except botocore.exceptions.BotoCoreError as exc:  # e.g. ProfileNotFound
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    data_dir = args.data_dir.expanduser()
    try:
        lock = lock_data_dir(data_dir)
    except LockHeld as exc:
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    if args.metrics_port is not None:
        from ..agent.metrics import serve

        try:
            serve(args.metrics_port)
        except OSError as exc:
            print(f"portside: cannot serve the agent's metrics on 127.0.0.1:{args.metrics_port}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 2
    runtime = runtime_or_none(args.runtime)
    if runtime is None:
        return 1
    if args.runtime == "docker":
        from ..agent.docker_runtime import DockerRuntime
        from ..agent.host_claim import HostClaimed, claim

        assert isinstance(runtime, DockerRuntime)
        whole = args.cpu_units is None or args.memory_mib is None
        try:
            host_claim = claim(runtime.engine_id(), whole, args.host_port_range)  # noqa: F841 (held for life)
        except HostClaimed as exc:
            print(f"portside: {exc}", file=sys.stderr)
            return 2
    fargate = bool(getattr(args, "fargate", False))
    cluster = args.cluster or (FARGATE_CLUSTER if fargate else "default")
    config = _agent_config(args, cluster, data_dir, fargate)
    # Not asyncio.run: its clean-up waits for every leftover task and worker
    # thread, and Docker calls blocked on running containers would hold it.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_agent(args.server, runtime, config, client))
        code = 0
    except ServerRefused as exc:
        print(REFUSED.format(error=str(exc).splitlines()[0][:300]), file=sys.stderr)
        code = 1
    lock.release()
    exit_now(code)
    return code
