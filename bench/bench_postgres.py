"""RunTask / StopTask / DescribeTasks on PostgreSQL beside SQLite, through one
server and through two servers sharing one database (issue 16).

    python bench/bench_postgres.py            # 8 s per phase
    python bench/bench_postgres.py --seconds 4

For each setup — one server on SQLite, one on PostgreSQL, two on one PostgreSQL
database (the clients split between them) — a fresh cluster of 100 container
instances (registered through the API, no agent: tasks stay PENDING) and one
task definition; then, each for `--seconds`: RunTask(count=10) from 4 lean
client threads (SigV4 over http.client, `_peers.RawClient`), DescribeTasks of
100 tasks (median of 50 calls), StopTask from 4 threads.  PostgreSQL is a
throwaway cluster (portside.testing.postgres) with its default durability
(fsync, synchronous_commit on); SQLite is WAL with full fsync.  Clients,
servers and PostgreSQL share the machine.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import PortsideServer, RawClient, on_postgres  # noqa: E402

THREADS = 4
INSTANCES = 100


def _setup(endpoint: str) -> None:
    admin = RawClient(endpoint)
    admin.call("CreateCluster", {"clusterName": "default"})
    for i in range(INSTANCES):
        admin.call("RegisterContainerInstance", {
            "cluster": "default",
            "instanceIdentityDocument": f'{{"instanceId": "i-{i:017x}", "region": "us-east-1"}}',
            "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1_000_000},
                               {"name": "MEMORY", "type": "INTEGER", "integerValue": 1_000_000}]})
    admin.call("RegisterTaskDefinition", {"family": "b", "containerDefinitions": [
        {"name": "c", "image": "busybox", "cpu": 1, "memory": 6, "essential": True}]})


def _phase(endpoints: list[str], seconds: float, step) -> tuple[int, list[str]]:
    """Run `step(client, made)` from THREADS threads spread over the endpoints; (items done, ARNs made)."""
    done = [0]
    made: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(i: int) -> None:
        client = RawClient(endpoints[i % len(endpoints)])
        while time.monotonic() < stop_at:
            n, arns = step(client, i)
            with lock:
                done[0] += n
                made.extend(arns)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], made


def measure(label: str, endpoints: list[str], seconds: float) -> dict[str, float]:
    _setup(endpoints[0])

    def run(client: RawClient, _: int) -> tuple[int, list[str]]:
        out = client.call("RunTask", {"taskDefinition": "b", "count": 10})
        return len(out["tasks"]), [t["taskArn"] for t in out["tasks"]]

    placed, arns = _phase(endpoints, seconds, run)
    reader = RawClient(endpoints[-1])
    latencies = []
    for i in range(50):
        batch = arns[i * 100 % max(1, len(arns) - 100):][:100]
        started = time.perf_counter()
        reader.call("DescribeTasks", {"tasks": batch})
        latencies.append((time.perf_counter() - started) * 1000)
    queue = list(arns)
    queue_lock = threading.Lock()

    def stop(client: RawClient, _: int) -> tuple[int, list[str]]:
        with queue_lock:
            if not queue:
                time.sleep(0.01)
                return 0, []
            arn = queue.pop()
        client.call("StopTask", {"task": arn})
        return 1, []

    stopped, _ = _phase(endpoints, seconds, stop)
    row = {"RunTask tasks/s": placed / seconds, "DescribeTasks(100) median ms": statistics.median(latencies),
           "StopTask/s": stopped / seconds}
    print(f"{label:<28} " + "  ".join(f"{k} {v:,.1f}" for k, v in row.items()), flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    args = parser.parse_args()
    from portside.testing.postgres import fresh_database

    with tempfile.TemporaryDirectory(prefix="portside-bench-pg-") as tmp:
        root = Path(tmp)
        setups = [("1 server, SQLite", [PortsideServer(root / "sqlite")])]
        dsn_one, dsn_two = fresh_database(), fresh_database()
        setups.append(("1 server, PostgreSQL", [on_postgres(dsn_one)(root / "pg1")]))
        two = on_postgres(dsn_two)
        setups.append(("2 servers, one PostgreSQL", [two(root / "pg2a"), two(root / "pg2b")]))
        rows = {}
        for label, servers in setups:
            try:
                for server in servers:
                    server.start()
                rows[label] = measure(label, [s.endpoint for s in servers], args.seconds)
            finally:
                for server in servers:
                    server.stop()
        ratio = rows["1 server, PostgreSQL"]["RunTask tasks/s"] / rows["1 server, SQLite"]["RunTask tasks/s"]
        print(f"RunTask on PostgreSQL / SQLite: {ratio:.2f} (target: at least 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
