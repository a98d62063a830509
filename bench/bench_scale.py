"""Scheduler scale: how placement cost grows with instances and tasks.

    python bench/bench_scale.py --quick                 # 1,000 then 10,000 instances, 20,000 tasks each (~1 min)
    python bench/bench_scale.py                         # 1,000 then 10,000 instances, 500,000 tasks each
                                                        # (1,000,000 in all)
    python bench/bench_scale.py --sizes 10000 --tasks 1000000
    python bench/bench_scale.py --quick --peer moto --sizes 1000 --tasks 5000

For each size a fresh server (`python -m portside server`, SQLite, durable: WAL
+ synchronous=FULL, a commit per RunTask) is started; N container instances
are registered through the ECS API (RegisterContainerInstance with
totalResources: the "fake runtime" is the API itself, no agent runs, so the
tasks stay PENDING, which is all placement needs); then client threads call
RunTask(count=10) until the task target is placed.  At every checkpoint (each
tenth of the target) it prints, for the window since the previous one:
placements/s, RunTask p50/p99, then DescribeTasks(100) and a ListTasks page
(p50 of 20 calls each) and the server's resident memory.

Clients are the lean SigV4-signed http.client callers of `_peers.RawClient`
(boto3's own parsing would cap the figures on a 2-core box).  Server and
clients share the machine.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import MotoServer, PortsideServer, RawClient  # noqa: E402

CLUSTER = "scale"
FAMILY = "scale"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def register(peer, instances: int, threads: int, per_instance_tasks: int) -> float:
    ids = peer.ec2_instance_ids(instances)
    cpu, memory = per_instance_tasks * 2, per_instance_tasks * 12
    resources = [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]

    def work(slice_: range) -> None:
        client = RawClient(peer.endpoint)
        for i in slice_:
            client.call("RegisterContainerInstance", {
                "cluster": CLUSTER, "totalResources": resources,
                "instanceIdentityDocument": json.dumps({"instanceId": ids[i]}),
                "versionInfo": {"agentVersion": "1.0.0", "agentHash": "bench", "dockerVersion": "28"},
                "attributes": [{"name": "ecs.availability-zone", "value": zones[i % 3]}],
            })
        client.close()

    start = time.monotonic()
    workers = [threading.Thread(target=work, args=(range(t, instances, threads),)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.monotonic() - start


def run_size(peer_cls, instances: int, tasks: int, threads: int, checkpoints: int, budget: float) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="portside-scale-") as tmp:
        peer = peer_cls(Path(tmp)).start()
        try:
            admin = RawClient(peer.endpoint)
            admin.call("CreateCluster", {"clusterName": CLUSTER})
            setup = register(peer, instances, threads, max(20, 2 * tasks // instances))
            admin.call("RegisterTaskDefinition", {"family": FAMILY, "containerDefinitions": [
                {"name": "c", "image": "busybox", "cpu": 1, "memory": 6, "essential": True}]})
            print(f"  [{peer.name}] {instances} instances registered in {setup:.1f} s "
                  f"({instances / setup:.0f}/s), server RSS {rss_mib(peer.proc.pid):.0f} MiB", flush=True)
            placed = [0]
            arns: list[str] = []
            lock = threading.Lock()
            latencies: list[float] = []
            failures = [0]
            stop_at = [0]
            deadline = time.monotonic() + budget

            def worker() -> None:
                client = RawClient(peer.endpoint)
                while True:
                    with lock:
                        if placed[0] >= stop_at[0] or time.monotonic() > deadline:
                            break
                    t0 = time.perf_counter()
                    out = client.call("RunTask", {"cluster": CLUSTER, "taskDefinition": FAMILY, "count": 10})
                    elapsed = time.perf_counter() - t0
                    with lock:
                        latencies.append(elapsed)
                        placed[0] += len(out["tasks"])
                        if out["failures"]:
                            failures[0] += 1
                        if len(arns) < 1000:
                            arns.extend(t["taskArn"] for t in out["tasks"])
                client.close()

            step = tasks // checkpoints
            for k in range(1, checkpoints + 1):
                stop_at[0] = step * k
                before, cpu0, t0 = placed[0], peer.cpu_seconds(), time.monotonic()
                latencies.clear()
                pool = [threading.Thread(target=worker) for _ in range(threads)]
                for w in pool:
                    w.start()
                for w in pool:
                    w.join()
                window = time.monotonic() - t0
                done = placed[0] - before
                row = {
                    "peer": peer.name, "instances": instances, "tasks": placed[0],
                    "placements_per_s": done / window if window else float("nan"),
                    "runtask_p50_ms": pct(latencies, 0.50) * 1000,
                    "runtask_p99_ms": pct(latencies, 0.99) * 1000,
                    "server_cpu_ms_per_call": (peer.cpu_seconds() - cpu0) * 1000 / max(1, len(latencies)),
                }
                sample = arns[:100]
                times = []
                for _ in range(20):
                    t1 = time.perf_counter()
                    admin.call("DescribeTasks", {"cluster": CLUSTER, "tasks": sample})
                    times.append(time.perf_counter() - t1)
                row["describe100_p50_ms"] = pct(times, 0.5) * 1000
                times, token = [], None
                for _ in range(20):
                    t1 = time.perf_counter()
                    params = {"cluster": CLUSTER, "maxResults": 100}
                    if token:
                        params["nextToken"] = token
                    out = admin.call("ListTasks", params)
                    times.append(time.perf_counter() - t1)
                    token = out.get("nextToken")
                row["listtasks_page_p50_ms"] = pct(times, 0.5) * 1000
                row["server_rss_mib"] = rss_mib(peer.proc.pid)
                row["calls_with_failures"] = failures[0]
                rows.append(row)
                print("  " + "  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in row.items()), flush=True)
                if time.monotonic() > deadline:
                    print(f"  [{peer.name}] budget of {budget:.0f} s spent: stopping this size early", flush=True)
                    break
        finally:
            peer.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 tasks per size")
    parser.add_argument("--sizes", default="1000,10000", help="instance counts, comma-separated")
    parser.add_argument("--tasks", type=int, default=None, help="tasks to place per size")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--checkpoints", type=int, default=None)
    parser.add_argument("--budget", type=float, default=None, help="seconds per size before stopping early")
    parser.add_argument("--peer", choices=("portside", "moto"), default="portside")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: a throwaway PostgreSQL cluster (portside.testing.postgres), "
                             "a fresh database per size")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    tasks = args.tasks or (20_000 if args.quick else 500_000)
    checkpoints = args.checkpoints or (4 if args.quick else 10)
    budget = args.budget or (120.0 if args.quick else 1800.0)
    peer_cls = MotoServer if args.peer == "moto" else PortsideServer
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        if args.db == "postgres":
            from _peers import on_postgres

            from portside.testing.postgres import fresh_database

            peer_cls = on_postgres(fresh_database())
        print(f"== {args.peer} ({args.db}): {size} instances, {tasks} tasks, {args.threads} threads", flush=True)
        rows += run_size(peer_cls, size, tasks, args.threads, checkpoints, budget)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
