"""`portside agent` and `portside up`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from ..agent.agent import AgentConfig
from ..agent.runner import make_runtime, run_agent
from ..agent.runtime import Runtime
from ..agent.server_client import ServerClient, ServerRefused
from ..domain.capacity_providers import CAPACITY_PROVIDER_ATTRIBUTE
from ..domain.fargate import FARGATE_ATTRIBUTE, FARGATE_CLUSTER

if TYPE_CHECKING:
    from botocore.credentials import Credentials

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
        extra_attributes={
            **({FARGATE_ATTRIBUTE: "true"} if fargate else {}),
            **({CAPACITY_PROVIDER_ATTRIBUTE: args.capacity_provider}
               if getattr(args, "capacity_provider", None) else {}),
        },
    )


def _runtime(args: argparse.Namespace) -> Runtime | None:
    try:
        return make_runtime(args.runtime)
    except Exception as exc:  # DockerUnavailable, and whatever the SDK raises instead
        print(NO_DOCKER.format(error=str(exc).splitlines()[0][:200]), file=sys.stderr)
        return None


REFUSED = (
    "portside: the server refused this agent ({error}); give the agent a key of role agent "
    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile) and check --cluster"
)


def _run_agent(endpoint: str, runtime: Runtime, config: AgentConfig, client: ServerClient) -> int:
    try:
        asyncio.run(run_agent(endpoint, runtime, config, client))
    except ServerRefused as exc:
        print(REFUSED.format(error=str(exc).splitlines()[0][:300]), file=sys.stderr)
        return 1
    return 0


def agent(args: argparse.Namespace) -> int:
    import botocore.exceptions

    try:
        client = ServerClient(args.server, args.region, args.profile)
    except botocore.exceptions.BotoCoreError as exc:  # e.g. ProfileNotFound
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    runtime = _runtime(args)
    if runtime is None:
        return 1
    fargate = bool(getattr(args, "fargate", False))
    cluster = args.cluster or (FARGATE_CLUSTER if fargate else "default")
    config = _agent_config(args, cluster, args.data_dir.expanduser(), fargate)
    return _run_agent(args.server, runtime, config, client)


def up(args: argparse.Namespace) -> int:
    """The server as a child process, the default cluster, and a local agent.

    With `--credentials FILE` the server requires those keys; `up` creates the
    cluster with the file's first admin key and runs the agent with its first
    agent key (or, lacking one, the admin key)."""
    from botocore.credentials import Credentials

    from ..protocol.auth import CredentialsFileError, first_key, load_credentials

    admin: Credentials | None = None
    agent_key: Credentials | None = None
    server_args: list[str] = []
    if args.credentials is not None:
        path = args.credentials.expanduser()
        try:
            keys = load_credentials(path)
        except CredentialsFileError as exc:
            print(f"portside: {exc}", file=sys.stderr)
            return 2
        found_admin, found_agent = first_key(keys, "admin"), first_key(keys, "agent", "admin")
        if found_admin is None:
            print(f"portside: credentials file {path} has no key of role admin, which up needs "
                  "to create the default cluster", file=sys.stderr)
            return 2
        admin = Credentials(found_admin.access_key_id, found_admin.secret)
        assert found_agent is not None
        agent_key = Credentials(found_agent.access_key_id, found_agent.secret)
        server_args = ["--credentials", str(path)]
    runtime = _runtime(args)
    if runtime is None:
        return 1
    data_dir = args.data_dir.expanduser()
    endpoint = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "portside", "server", "--port", str(args.port), "--data-dir", str(data_dir),
         *server_args, *(["--db", args.db] if args.db else [])]
    )
    try:
        if not _wait_healthy(endpoint, server):
            print("portside: the server did not start", file=sys.stderr)
            return 1
        _create_default_cluster(endpoint, admin)
        print(f"portside: ECS API on {endpoint} (state in {data_dir}); Ctrl-C stops", flush=True)
        client = ServerClient(endpoint, credentials=agent_key)
        # up's one host serves the default cluster's EC2 tasks and every cluster's Fargate tasks
        config = _agent_config(args, "default", data_dir / "agent", fargate=True)
        return _run_agent(endpoint, runtime, config, client)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_healthy(endpoint: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(endpoint + "/health", timeout=1).read()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _create_default_cluster(endpoint: str, key: Credentials | None = None) -> None:
    import boto3

    boto3.client(
        "ecs", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=key.access_key if key else os.environ.get("AWS_ACCESS_KEY_ID", "portside"),
        aws_secret_access_key=key.secret_key if key else os.environ.get("AWS_SECRET_ACCESS_KEY", "portside"),
    ).create_cluster(clusterName="default")
