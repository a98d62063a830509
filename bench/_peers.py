"""The two servers the benchmark compares, each a child process on a free loopback port.

`PortsideServer` runs `python -m portside server` on a fresh data dir;
`MotoServer` runs `python -m moto.server`.  Both hand out boto3 ECS clients
(us-east-1, dummy keys, retries off) and stop with SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    """One server under test: a child process plus a way to build clients for it."""

    name = "?"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        return self.endpoint + "/"

    def start(self, timeout: float = 30.0) -> Peer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(self.ready_url(), timeout=1).read()
                return self
            except urllib.error.HTTPError:
                return self  # it answers HTTP: up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start in {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(timeout=5)
        elif proc is not None:
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux /proc; NaN elsewhere)."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except (OSError, AttributeError):
            return float("nan")
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def raw(self) -> RawClient:
        return RawClient(self.endpoint)

    def ec2_instance_ids(self, n: int) -> list[str]:
        """EC2 instance ids for `n` container instances to register with."""
        return [f"i-{i:017x}" for i in range(n)]

    def client(self, service: str = "ecs") -> Any:
        return boto3_client(self.endpoint, service)


def boto3_client(endpoint: str, service: str = "ecs") -> Any:
    """A boto3 client for `endpoint` (us-east-1, dummy keys, retries off).  A session
    per client: boto3's default session is not safe to share across threads while
    building clients, and each bench client owns its connection."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="AKIDPORTSIDEBENCH",
        aws_secret_access_key="bench-secret",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=120,
            connect_timeout=10,
            max_pool_connections=4,
        ),
    )


class RawError(RuntimeError):
    """A non-200 answer to a RawClient call; `code` is the AWS error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RawClient:
    """The "lean" client: SigV4-signed (botocore's `SigV4Auth`) ECS JSON 1.1 calls over
    one persistent `http.client` connection (reopened transparently when a server
    closes it after an answer, as moto's HTTP/1.0 werkzeug server does), answers as
    plain `json.loads` dicts: what a request costs without boto3's serialization
    and response parsing."""

    def __init__(self, endpoint: str) -> None:
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        self.endpoint = endpoint
        host, port = endpoint.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.signer = SigV4Auth(Credentials("AKIDPORTSIDEBENCH", "bench-secret"), "ecs", REGION)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        from botocore.awsrequest import AWSRequest

        body = json.dumps(params)
        req = AWSRequest("POST", self.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{operation}",
        })
        self.signer.add_auth(req)
        headers = dict(req.headers.items())
        try:
            self.conn.request("POST", "/", body=body, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed an idle keep-alive connection before reading this request
            # (urllib3 under boto3 retries the same way): reconnect once.
            self.conn.close()
            self.conn.request("POST", "/", body=body, headers=headers)
            resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            try:
                code = str(json.loads(data).get("__type", "")).rsplit("#", 1)[-1] or f"HTTP{resp.status}"
            except ValueError:
                code = f"HTTP{resp.status}"
            raise RawError(code, f"{operation}: HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


class PortsideServer(Peer):
    name = "portside"
    db: str | None = None  # a PostgreSQL DSN (`--db`), else SQLite in the data dir
    key_file: str | None = None  # `--key-file`: servers sharing a PostgreSQL database share it

    def command(self) -> list[str]:
        return [sys.executable, "-m", "portside", "server", "--port", str(self.port),
                "--data-dir", str(self.workdir / "data"), *(["--db", self.db] if self.db else []),
                *(["--key-file", self.key_file] if self.key_file else [])]


def on_postgres(dsn: str, label: str = "portside-pg") -> type[PortsideServer]:
    """A PortsideServer class whose servers keep their state in `dsn` (and
    share the key file that seals its secrets, as servers sharing a database must)."""
    from portside.testing.postgres import key_file

    return type("PostgresPortsideServer", (PortsideServer,), {"db": dsn, "name": label,
                                                             "key_file": str(key_file(dsn))})


class MotoServer(Peer):
    name = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready_url(self) -> str:
        return self.endpoint + "/moto-api/"

    def ec2_instance_ids(self, n: int) -> list[str]:
        """moto's RegisterContainerInstance looks the instanceIdentityDocument's
        instanceId up in its own EC2 backend, so the instances must exist there."""
        ec2 = self.client("ec2")
        out = ec2.run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n, InstanceType="c5.24xlarge")
        return [i["InstanceId"] for i in out["Instances"]]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
