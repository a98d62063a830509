"""Two revisions of Portside side by side: server CPU per call, under the same load.

    git worktree add /tmp/baseline c368472           # any older checkout
    python bench/bench_revisions.py --baseline /tmp/baseline
    python bench/bench_revisions.py --baseline /tmp/baseline --log-level WARNING
    python bench/bench_revisions.py --baseline /tmp/baseline --db postgres

Why a paired run: on a shared two-core machine, run-to-run noise (10-20 %)
is larger than the change a refactor makes, so benching one revision after the
other cannot say "within noise".  Here both servers (this checkout and the
baseline, each `python -P -m portside server` with PYTHONPATH set to its own
tree) run at once on the same data shape, and every round drives both
concurrently with the same number of client threads, so whatever else the
machine does falls on both alike.  The figure per round is the server
process's CPU time (user + system, from /proc) divided by the calls it
answered; the script prints the median per operation and the ratio
candidate / baseline.  Operations: RunTask (count 10, random placement),
DescribeTasks (100 tasks), StopTask.  With `--db postgres` each server keeps
its state in a database of its own on one throwaway PostgreSQL cluster
(`portside.testing.postgres`); the figure is still the Portside server's CPU
(PostgreSQL's backends are not counted).  See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import ROOT, PortsideServer, RawClient  # noqa: E402

CLUSTER = "bench"
INSTANCES = 200


class CheckoutServer(PortsideServer):
    """`portside server` run from a given source tree, not the installed one."""

    tree = ROOT
    extra: list[str] = []

    def command(self) -> list[str]:
        # -P: the working directory is not put on sys.path, so PYTHONPATH decides
        return [sys.executable, "-P", "-m", "portside", "server", "--port", str(self.port),
                "--data-dir", str(self.workdir / "data"), *self.extra]

    def start(self, timeout: float = 30.0) -> PortsideServer:
        before = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(self.tree)
        try:
            super().start(timeout)
        finally:
            if before is None:
                os.environ.pop("PYTHONPATH")
            else:
                os.environ["PYTHONPATH"] = before
        return self


def db_args(db: str) -> list[str]:
    """`--db` and `--key-file` for a server on a fresh PostgreSQL database; none on SQLite."""
    if db == "sqlite":
        return []
    from portside.testing import postgres

    dsn = postgres.fresh_database()
    return ["--db", dsn, "--key-file", str(postgres.key_file(dsn))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare(server: PortsideServer) -> None:
    client = RawClient(server.endpoint)
    client.call("CreateCluster", {"clusterName": CLUSTER})
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 100_000},
                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 1_000_000}]
    for i in range(INSTANCES):
        client.call("RegisterContainerInstance", {
            "cluster": CLUSTER, "totalResources": resources,
            "instanceIdentityDocument": f'{{"instanceId": "i-{i:017x}"}}'})
    client.call("RegisterTaskDefinition", {"family": "bench", "containerDefinitions": [
        {"name": "c", "image": "busybox", "cpu": 1, "memory": 6, "essential": True}]})
    client.close()


Call = Callable[[RawClient, list[str]], None]


def run_task(client: RawClient, arns: list[str]) -> None:
    answer = client.call("RunTask", {"cluster": CLUSTER, "taskDefinition": "bench", "count": 10})
    arns.extend(task["taskArn"] for task in answer["tasks"])


def describe_tasks(client: RawClient, arns: list[str]) -> None:
    client.call("DescribeTasks", {"cluster": CLUSTER, "tasks": random.sample(arns, 100)})


def stop_task(client: RawClient, arns: list[str]) -> None:
    client.call("StopTask", {"cluster": CLUSTER, "task": arns.pop()})


def round_of(servers: dict[str, PortsideServer], call: Call, arns: dict[str, list[str]],
             threads: int, calls: int) -> dict[str, float]:
    """Drive every server at once, `threads` clients each; CPU ms per call."""
    per_thread = calls // threads
    lock = threading.Lock()

    def drive(name: str) -> None:
        client = RawClient(servers[name].endpoint)
        mine: list[str] = []
        with lock:  # StopTask takes from the shared pool; give each thread its own share
            if call is stop_task:
                mine = [arns[name].pop() for _ in range(per_thread)]
        for _ in range(per_thread):
            call(client, mine if call is stop_task else arns[name])
        client.close()

    started = {name: cpu_seconds(s.proc.pid) for name, s in servers.items()}  # type: ignore[union-attr]
    workers = [threading.Thread(target=drive, args=(name,)) for name in servers for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {name: (cpu_seconds(s.proc.pid) - started[name]) * 1000 / (per_thread * threads)  # type: ignore[union-attr]
            for name, s in servers.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout of the older revision")
    parser.add_argument("--candidate", type=Path, default=ROOT, help="default: this checkout")
    parser.add_argument("--threads", type=int, default=4, help="client threads per server")
    parser.add_argument("--calls", type=int, default=400, help="calls per server per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--log-level", default=None, help="passed to both servers")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: a database each on a throwaway PostgreSQL cluster")
    args = parser.parse_args()
    extra = ["--log-level", args.log_level] if args.log_level else []
    trees = {"baseline": args.baseline.resolve(), "candidate": args.candidate.resolve()}
    with tempfile.TemporaryDirectory(prefix="portside-revisions-") as tmp:
        servers: dict[str, PortsideServer] = {}
        try:
            for name, tree in trees.items():
                server_class = type(f"{name}Server", (CheckoutServer,),
                                    {"tree": tree, "extra": extra + db_args(args.db)})
                servers[name] = server_class(Path(tmp) / name).start()
                prepare(servers[name])
            arns: dict[str, list[str]] = {name: [] for name in servers}
            print(f"baseline {trees['baseline']}  candidate {trees['candidate']}  on {args.db}  "
                  f"{args.threads} threads per server, {args.calls} calls per round, load {os.getloadavg()[0]:.1f}")
            for label, call in (("RunTask(10)", run_task), ("DescribeTasks(100)", describe_tasks),
                                ("StopTask", stop_task)):
                rounds = [round_of(servers, call, arns, args.threads, args.calls) for _ in range(args.rounds)]
                base = statistics.median(r["baseline"] for r in rounds)
                cand = statistics.median(r["candidate"] for r in rounds)
                print(f"{label:20s} baseline {base:.3f} ms  candidate {cand:.3f} ms  "
                      f"ratio {cand / base:.2f}  (server CPU per call, median of {args.rounds} rounds)", flush=True)
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
