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

from ..agent.agent import AgentConfig
from ..agent.runner import make_runtime, run_agent

NO_DOCKER = (
    "portside: Docker is not reachable ({error}); start the Docker engine, set DOCKER_HOST, "
    "or run with --runtime fake"
)


def _agent_config(args: argparse.Namespace, cluster: str, data_dir: Path) -> AgentConfig:
    return AgentConfig(
        cluster=cluster,
        data_dir=data_dir,
        stop_timeout=args.stop_timeout,
        availability_zone=args.availability_zone,
        cpu_units=args.cpu_units,
        memory_mib=args.memory_mib,
    )


def _runtime(args: argparse.Namespace):
    try:
        return make_runtime(args.runtime)
    except Exception as exc:  # DockerUnavailable, and whatever the SDK raises instead
        print(NO_DOCKER.format(error=str(exc).splitlines()[0][:200]), file=sys.stderr)
        return None


def agent(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    if runtime is None:
        return 1
    config = _agent_config(args, args.cluster, args.data_dir.expanduser())
    asyncio.run(run_agent(args.server, runtime, config))
    return 0


def up(args: argparse.Namespace) -> int:
    """The server as a child process, the default cluster, and a local agent."""
    runtime = _runtime(args)
    if runtime is None:
        return 1
    data_dir = args.data_dir.expanduser()
    endpoint = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "portside", "server", "--port", str(args.port), "--data-dir", str(data_dir)]
    )
    try:
        if not _wait_healthy(endpoint, server):
            print("portside: the server did not start", file=sys.stderr)
            return 1
        _create_default_cluster(endpoint)
        print(f"portside: ECS API on {endpoint} (state in {data_dir}); Ctrl-C stops", flush=True)
        asyncio.run(run_agent(endpoint, runtime, _agent_config(args, "default", data_dir / "agent")))
        return 0
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


def _create_default_cluster(endpoint: str) -> None:
    import boto3

    boto3.client(
        "ecs", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "portside"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "portside"),
    ).create_cluster(clusterName="default")
