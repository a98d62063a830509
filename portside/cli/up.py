"""`portside up`: the server and a local agent as two supervised children.

The children run in process groups of their own, so a terminal's Ctrl-C
reaches `up` alone, which forwards one SIGTERM to each (a second Ctrl-C
forwards a second, and they exit at once).  They die with `up` however it
dies (PR_SET_PDEATHSIG), and when one of them dies `up` says so, stops the
other and exits non-zero; the agent stopping by itself because its instance
was deregistered leaves the API serving.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from .process import die_with_parent

log = logging.getLogger("portside.up")

STOP_GRACE_S = 15.0  # how long stopping children may take before they are killed


@dataclass
class _Keys:
    """The keys `up` uses: the admin key creates the default cluster, the
    agent key runs the agent (both None on an open server)."""

    admin: tuple[str, str] | None = None
    agent: tuple[str, str] | None = None
    server_args: list[str] = field(default_factory=list)


def _keys(args: argparse.Namespace) -> _Keys | str:
    """The keys from --credentials, or the one-line reason they cannot be used."""
    from ..protocol.auth import CredentialsFileError, first_key, load_credentials

    if args.credentials is None:
        return _Keys()
    path = args.credentials.expanduser()
    try:
        keys = load_credentials(path)
    except CredentialsFileError as exc:
        return str(exc)
    admin, agent = first_key(keys, "admin"), first_key(keys, "agent", "admin")
    if admin is None or agent is None:
        return (f"credentials file {path} has no key of role admin, which up needs to create the "
                "default cluster")
    return _Keys((admin.access_key_id, admin.secret), (agent.access_key_id, agent.secret),
                 ["--credentials", str(path)])


class _Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.signals = 0

    def on_signal(self, sig: int, frame: object) -> None:
        self.signals += 1
        if self.signals == 1:
            log.info("%s: stopping the server and the agent (a second signal exits at once)",
                     signal.Signals(sig).name)
        self.terminate()  # a second time makes them exit at once
        if self.signals > 1:
            logging.shutdown()
            os._exit(128 + sig)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        parent = os.getpid()
        child = subprocess.Popen([sys.executable, "-m", "portside", *argv], env=env, process_group=0,
                                 preexec_fn=lambda: die_with_parent(parent))
        self.children[name] = child
        return child

    def terminate(self) -> None:
        """One SIGTERM to each live child per call."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def stop_all(self) -> None:
        if not self.signals:  # else on_signal has sent theirs already
            self.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("the %s (pid %d) did not stop in %.0f s; killing it", name, child.pid, STOP_GRACE_S)
                child.kill()
                child.wait()


def _how(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def up(args: argparse.Namespace) -> int:
    keys = _keys(args)
    if isinstance(keys, str):
        print(f"portside: {keys}", file=sys.stderr)
        return 2
    if args.runtime == "docker" and not _docker_reachable():
        return 1
    data_dir = args.data_dir.expanduser()
    connect_host = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host
    endpoint = f"http://{'[' + connect_host + ']' if ':' in connect_host else connect_host}:{args.port}"
    logging_args = ["--log-level", args.log_level, "--log-format", args.log_format]

    sup = _Supervisor()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, sup.on_signal)
    try:
        server = sup.spawn("server", ["server", "--host", args.host, "--port", str(args.port),
                                      "--data-dir", str(data_dir), "--region", args.region,
                                      *keys.server_args, *logging_args,
                                      *(["--db", args.db] if args.db else []),
                                      *(["--metrics-token", str(args.metrics_token)] if args.metrics_token else []),
                                      *(["--key-file", str(args.key_file)] if args.key_file else [])])
        if not _wait_healthy(endpoint, server, sup):
            if sup.signals:
                return 0
            code = server.poll()
            if code is None:
                log.error("the server did not answer on %s in 30 s", endpoint)
            return 1
        try:
            _create_default_cluster(endpoint, args.region, keys.admin)
        except Exception as exc:  # the server died or was stopped meanwhile
            if sup.signals:
                return 0
            log.error("creating the default cluster failed: %s", str(exc).splitlines()[0][:300])
            return 1
        env = dict(os.environ)
        if keys.agent:
            env.pop("AWS_SESSION_TOKEN", None)
            env.pop("AWS_PROFILE", None)
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = keys.agent
        # up's one host serves the default cluster's EC2 tasks and every cluster's Fargate tasks
        agent_args = ["agent", "--server", endpoint, "--cluster", "default", "--fargate",
                      "--data-dir", str(data_dir / "agent"),
                      "--region", args.region, "--runtime", args.runtime, "--stop-timeout", str(args.stop_timeout),
                      "--availability-zone", args.availability_zone, *logging_args]
        if args.cpu_units is not None:
            agent_args += ["--cpu-units", str(args.cpu_units)]
        if args.memory_mib is not None:
            agent_args += ["--memory-mib", str(args.memory_mib)]
        if args.host_port_range is not None:
            agent_args += ["--host-port-range", "-".join(map(str, args.host_port_range))]
        agent = sup.spawn("agent", agent_args, env)
        print(f"portside: ECS API on {endpoint}, console on {endpoint}/ui (state in {data_dir}); Ctrl-C stops",
              file=sys.stderr, flush=True)
        return _supervise(sup, server, agent)
    finally:
        sup.stop_all()


def _supervise(sup: _Supervisor, server: subprocess.Popen[bytes], agent: subprocess.Popen[bytes]) -> int:
    agent_done = False
    while not sup.signals:
        code = server.poll()
        if code is not None:
            log.error("the server (pid %d) %s; stopping", server.pid, _how(code))
            return 1
        code = None if agent_done else agent.poll()
        if code is not None:
            if code == 0:  # not asked to stop: its instance was deregistered
                log.warning("the local agent stopped (its container instance was deregistered); "
                            "the API keeps serving")
                agent_done = True
            else:
                log.error("the local agent (pid %d) %s; stopping", agent.pid, _how(code))
                return 1
        time.sleep(0.2)
    return 0


def _docker_reachable() -> bool:
    import asyncio

    from .agent_commands import runtime_or_none

    runtime = runtime_or_none("docker")
    if runtime is None:
        return False
    asyncio.run(runtime.close())
    return True


def _wait_healthy(endpoint: str, server: subprocess.Popen[bytes], sup: _Supervisor) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None and not sup.signals:
        try:
            urllib.request.urlopen(endpoint + "/health", timeout=1).read()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _create_default_cluster(endpoint: str, region: str, key: tuple[str, str] | None) -> None:
    import boto3

    boto3.client(
        "ecs", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key[0] if key else os.environ.get("AWS_ACCESS_KEY_ID", "portside"),
        aws_secret_access_key=key[1] if key else os.environ.get("AWS_SECRET_ACCESS_KEY", "portside"),
    ).create_cluster(clusterName="default")
