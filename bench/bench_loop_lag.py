"""Event-loop lag from housekeeping: how long the server's loop is held by work
no client asked for.

    python bench/bench_loop_lag.py            # the four scenarios (~1 min)
    python bench/bench_loop_lag.py --tasks 20000 --services 1000

A probe thread sends `GET /health` over one keep-alive connection as fast as
it is answered.  /health touches neither the store nor the scheduler, so its
latency is the time the loop was busy elsewhere: its maximum over a window
is the worst stall a client saw.  Scenarios, each on a fresh server:

1. purge: N stopped tasks past retention (inserted into the database before
   the server starts), purged by the janitor on its first round;
2. lock: another process holds SQLite's write lock for 5 s while a client
   writes (CreateCluster);
3. services: S services with desiredCount 0 (nothing to do), idle for 5 s;
4. metrics: the same S services, `GET /metrics` scraped once a second for 5 s
   (its gauges read every service through the API).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import RawClient  # noqa: E402


class Server:
    def __init__(self, data: Path, *extra: str) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.data = data
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.proc = subprocess.Popen([sys.executable, "-m", "portside", "server", "--port", str(self.port),
                                      "--data-dir", str(self.data), *self.extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


class Probe:
    """GET /health in a loop; (monotonic time, latency) of every answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                conn.request("GET", "/health")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            self.samples.append((started, time.monotonic() - started))
            time.sleep(0.002)

    def worst(self, since: float = 0.0) -> tuple[float, float, int]:
        """(max, p99, count) of the latencies in ms since `since`."""
        lat = sorted(lag * 1000 for t, lag in self.samples if t >= since)
        if not lat:
            return float("nan"), float("nan"), 0
        return lat[-1], lat[min(len(lat) - 1, int(0.99 * len(lat)))], len(lat)


def purge(tmp: Path, tasks: int) -> dict[str, float]:
    data = tmp / "purge"
    server = Server(data, "--task-retention", "5").start()  # janitor every 0.5 s
    server.stop()
    db = sqlite3.connect(data / "portside.db")
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/default"
    old = time.time() - 3600
    db.executemany(
        "INSERT INTO tasks (arn, cluster_arn, family, desired_status, last_status, launch_type, stopped_at, doc) "
        "VALUES (?, ?, 'f', 'STOPPED', 'STOPPED', 'EC2', ?, '{}')",
        [(f"arn:aws:ecs:us-east-1:123456789012:task/default/{i:032x}", cluster, old) for i in range(tasks)],
    )
    db.commit()
    db.close()
    server.start()
    try:
        with Probe(server.port) as probe:
            started = time.monotonic()
            deadline = started + 30
            while time.monotonic() < deadline:
                left = sqlite3.connect(data / "portside.db").execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.05)
            took = time.monotonic() - started
            time.sleep(0.3)
        worst, p99, n = probe.worst(started)
    finally:
        server.stop()
    return {"tasks": tasks, "purged_within_s": round(took, 2), "max_ms": round(worst, 1),
            "p99_ms": round(p99, 1), "probes": n}


def lock(tmp: Path, seconds: float = 5.0) -> dict[str, float]:
    data = tmp / "lock"
    server = Server(data).start()
    try:
        client = RawClient(server.endpoint)
        client.call("CreateCluster", {"clusterName": "before"})
        holder = sqlite3.connect(data / "portside.db", isolation_level=None)
        with Probe(server.port) as probe:
            time.sleep(0.3)
            started = time.monotonic()
            holder.execute("BEGIN IMMEDIATE")
            writer = threading.Thread(target=lambda: client.call("CreateCluster", {"clusterName": "during"}))
            writer.start()
            time.sleep(seconds)
            holder.execute("ROLLBACK")
            writer.join()
            time.sleep(0.3)
        worst, p99, n = probe.worst(started)
    finally:
        server.stop()
    return {"lock_s": seconds, "max_ms": round(worst, 1), "p99_ms": round(p99, 1), "probes": n}


def services(tmp: Path, count: int) -> dict[str, float]:
    data = tmp / "services"
    server = Server(data).start()
    try:
        client = RawClient(server.endpoint)
        client.call("CreateCluster", {"clusterName": "default"})
        client.call("RegisterTaskDefinition", {"family": "idle", "containerDefinitions": [
            {"name": "c", "image": "busybox", "memory": 32}]})
        for i in range(count):
            client.call("CreateService", {"serviceName": f"s{i}", "taskDefinition": "idle", "desiredCount": 0})
        time.sleep(2)
        with Probe(server.port) as probe:
            started = time.monotonic()
            time.sleep(5)
        idle = probe.worst(started)
        with Probe(server.port) as probe:
            started = time.monotonic()
            scrape_ms = []
            for _ in range(5):
                began = time.monotonic()
                urllib.request.urlopen(server.endpoint + "/metrics", timeout=30).read()
                scrape_ms.append((time.monotonic() - began) * 1000)
                time.sleep(max(0.0, 1 - (time.monotonic() - began)))
        scraped = probe.worst(started)
    finally:
        server.stop()
    return {"services": count,
            "idle": {"max_ms": round(idle[0], 1), "p99_ms": round(idle[1], 1), "probes": idle[2]},
            "metrics": {"max_ms": round(scraped[0], 1), "p99_ms": round(scraped[1], 1), "probes": scraped[2],
                        "scrape_ms": round(max(scrape_ms), 1)}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["purge"] = purge(Path(tmp), args.tasks)
        print("purge   ", results["purge"], flush=True)
        results["lock"] = lock(Path(tmp))
        print("lock    ", results["lock"], flush=True)
        results["services"] = services(Path(tmp), args.services)
        print("services", results["services"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
