"""Portside vs moto: ECS API throughput and latency, side by side, in one run.

    python bench/bench_api.py            # full run (a few minutes at most)
    python bench/bench_api.py --quick    # smoke run (under a minute)

Starts a real `portside server` (fresh temp data dir) and `moto.server` as child
processes on free loopback ports, drives both through boto3 with the same
workload, prints a table of figures with the Portside/moto ratio, checks the
targets, and always stops both servers (SIGTERM) at the end.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import MotoServer, Peer, PortsideServer  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402

CLUSTER = "bench"
FAMILY = "bench"
INSTANCES = 100
THREADS = 4
RUN_COUNT = 10  # tasks per RunTask call (ECS's maximum)
# ECS (and Portside) refuse a container memory below 6 MiB, so the "tiny" task is cpu 1 / memory 6.
TASK_CPU, TASK_MEMORY = 1, 6
RETRY_CODES = {"UnsupportedFeatureException"}


@dataclass
class Profile:
    run_calls_per_thread: int
    describe_calls: int
    list_target: int
    stops_per_thread: int
    phase_budget_s: float  # a timed phase stops early (and says so) past this


FULL = Profile(run_calls_per_thread=50, describe_calls=50, list_target=10_000,
               stops_per_thread=100, phase_budget_s=60.0)
QUICK = Profile(run_calls_per_thread=10, describe_calls=20, list_target=10_000,
                stops_per_thread=25, phase_budget_s=10.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Figures:
    name: str
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, phase: str, exc: BaseException) -> None:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
        key = f"{phase}: {code}"
        if key not in self.errors:
            print(f"    [{self.name}] {key}: {str(exc)[:200]}", flush=True)
        self.errors[key] = self.errors.get(key, 0) + 1


# ---------------------------------------------------------------------------- workload


def identity_document(i: int, instance_id: str) -> str:
    """What moto's RegisterContainerInstance insists on (it reads `instanceId`)."""
    return json.dumps({
        "instanceId": instance_id,
        "region": "us-east-1",
        "availabilityZone": "us-east-1a",
        "instanceType": "c5.24xlarge",
        "accountId": "123456789012",
        "privateIp": f"10.0.{i // 256}.{i % 256}",
    })


def setup(peer: Peer, ecs: Any) -> str:
    ecs.create_cluster(clusterName=CLUSTER)
    for i, instance_id in enumerate(peer.ec2_instance_ids(INSTANCES)):
        ecs.register_container_instance(
            cluster=CLUSTER,
            instanceIdentityDocument=identity_document(i, instance_id),
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": 1_000_000},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 10_000_000},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
            ],
            versionInfo={"agentVersion": "1.0.0", "agentHash": "bench", "dockerVersion": "28"},
            attributes=[{"name": "ecs.availability-zone", "value": "us-east-1a"}],
        )
    out = ecs.register_task_definition(
        family=FAMILY,
        containerDefinitions=[{"name": "app", "image": "busybox", "cpu": TASK_CPU,
                               "memory": TASK_MEMORY, "essential": True,
                               "command": ["sleep", "3600"]}],
    )
    return out["taskDefinition"]["taskDefinitionArn"]


def parallel(clients: list[Any], work: Callable[[int, Any, float], Any], budget_s: float) -> tuple[float, list[Any]]:
    """Run `work(index, client, deadline)` on one thread per client, started together; wall time."""
    barrier = threading.Barrier(len(clients) + 1)
    results: list[Any] = [None] * len(clients)
    box: dict[str, float] = {}

    def body(i: int, client: Any) -> None:
        barrier.wait()
        results[i] = work(i, client, box["deadline"])

    threads = [threading.Thread(target=body, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    box["deadline"] = start + budget_s
    barrier.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - start, results


def run_tasks(figs: Figures, phase: str, clients: list[Any], td: str, calls_per_thread: int,
              budget_s: float) -> tuple[float, list[str], int]:
    """`calls_per_thread` RunTask(count=10) calls per client thread → (seconds, task ARNs, calls made)."""

    def work(_: int, ecs: Any, deadline: float) -> tuple[list[str], int]:
        arns, calls = [], 0
        for _ in range(calls_per_thread):
            if time.perf_counter() > deadline:
                break
            calls += 1
            try:
                out = ecs.run_task(cluster=CLUSTER, taskDefinition=td, count=RUN_COUNT)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                figs.error(phase, exc)
                continue
            arns.extend(t["taskArn"] for t in out["tasks"])
            if out.get("failures"):
                figs.error(phase, RuntimeError(f"placement failures {out['failures'][:2]}"))
        return arns, calls

    elapsed, results = parallel(clients, work, budget_s)
    arns = [a for r, _ in results for a in r]
    return elapsed, arns, sum(c for _, c in results)


def bench_peer(peer: Peer, prof: Profile, wait_for_features: float) -> Figures:
    figs = Figures(peer.name)
    ecs = peer.client()
    clients = [peer.client() for _ in range(THREADS)]
    for c in clients:  # open each client's connection before any timing
        c.list_clusters()

    # 1. setup ---------------------------------------------------------------------
    t0 = time.perf_counter()
    td = setup(peer, ecs)
    figs.values["setup_s"] = time.perf_counter() - t0

    # A peer still being built answers UnsupportedFeature / ClientException: wait for it.
    deadline = time.monotonic() + wait_for_features
    while True:
        try:
            out = ecs.run_task(cluster=CLUSTER, taskDefinition=td, count=1)
            warm = [t["taskArn"] for t in out["tasks"]]
            break
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if (code in RETRY_CODES or code == "ClientException") and time.monotonic() < deadline:
                print(f"    [{peer.name}] RunTask not ready ({code}: {exc}); retrying in 120 s", flush=True)
                time.sleep(120)
                continue
            raise

    # 2. RunTask throughput ----------------------------------------------------------
    print(f"  [{peer.name}] RunTask x{THREADS} threads x{prof.run_calls_per_thread} calls (count={RUN_COUNT})", flush=True)
    cpu0 = peer.cpu_seconds()
    elapsed, arns, calls = run_tasks(figs, "RunTask", clients, td, prof.run_calls_per_thread, prof.phase_budget_s)
    figs.values["run_cpu_ms_per_call"] = (peer.cpu_seconds() - cpu0) / max(calls, 1) * 1000
    if calls < THREADS * prof.run_calls_per_thread:
        figs.notes.append(f"RunTask hit the {prof.phase_budget_s:.0f}s budget after {calls} calls")
    figs.values["run_tasks_per_s"] = len(arns) / elapsed
    figs.values["run_calls_per_s"] = calls / elapsed
    all_arns = warm + arns
    figs.values["tasks_at_describe"] = len(all_arns)

    # 3. DescribeTasks(100) latency ----------------------------------------------------
    print(f"  [{peer.name}] DescribeTasks(100) x{prof.describe_calls} over {len(all_arns)} tasks", flush=True)
    sample = arns[:100] if len(arns) >= 100 else all_arns[:100]
    lat = []
    phase_end = time.perf_counter() + prof.phase_budget_s
    cpu0 = peer.cpu_seconds()
    for _ in range(prof.describe_calls):
        if time.perf_counter() > phase_end:
            figs.notes.append(f"DescribeTasks hit the budget after {len(lat)} calls")
            break
        t0 = time.perf_counter()
        try:
            out = ecs.describe_tasks(cluster=CLUSTER, tasks=sample)
        except Exception as exc:  # noqa: BLE001
            figs.error("DescribeTasks", exc)
            continue
        lat.append(time.perf_counter() - t0)
        if len(out["tasks"]) != len(sample):
            figs.error("DescribeTasks", RuntimeError(
                f"{len(out['tasks'])} tasks / {len(out.get('failures', []))} failures for {len(sample)} ARNs"))
    figs.values["describe_cpu_ms_per_call"] = (peer.cpu_seconds() - cpu0) / max(len(lat), 1) * 1000
    figs.values["describe_p50_ms"] = statistics.median(lat) * 1000 if lat else math.nan
    figs.values["describe_p90_ms"] = percentile(lat, 0.9) * 1000
    # The same calls without boto3: its parsing of 100 tasks costs milliseconds on its own.
    raw, raw_lat = peer.raw(), []
    try:
        for _ in range(len(lat)):
            t0 = time.perf_counter()
            try:
                raw.call("DescribeTasks", {"cluster": CLUSTER, "tasks": sample})
            except Exception as exc:  # noqa: BLE001
                figs.error("DescribeTasks(raw)", exc)
                continue
            raw_lat.append(time.perf_counter() - t0)
    finally:
        raw.close()
    figs.values["describe_raw_p50_ms"] = statistics.median(raw_lat) * 1000 if raw_lat else math.nan

    # 4. ListTasks over >= list_target tasks ------------------------------------------
    missing = prof.list_target - len(all_arns)
    if missing > 0:
        calls_needed = math.ceil(missing / RUN_COUNT)
        per_thread = math.ceil(calls_needed / THREADS)
        print(f"  [{peer.name}] topping up to {prof.list_target} tasks ({per_thread * THREADS} RunTask calls)", flush=True)
        t_fill, more, _ = run_tasks(figs, "RunTask(top-up)", clients, td, per_thread, 4 * prof.phase_budget_s)
        all_arns += more
        figs.values["topup_tasks_per_s"] = len(more) / t_fill
    print(f"  [{peer.name}] ListTasks paging (maxResults=100) over {len(all_arns)} tasks", flush=True)
    pages, page_lat, listed = 0, [], []
    token = None
    t_list = time.perf_counter()
    while True:
        kw: dict[str, Any] = {"cluster": CLUSTER, "maxResults": 100}
        if token:
            kw["nextToken"] = token
        t0 = time.perf_counter()
        try:
            out = ecs.list_tasks(**kw)
        except Exception as exc:  # noqa: BLE001
            figs.error("ListTasks", exc)
            break
        page_lat.append(time.perf_counter() - t0)
        pages += 1
        listed.extend(out["taskArns"])
        token = out.get("nextToken")
        if not token:
            break
    total = time.perf_counter() - t_list
    figs.values.update(list_total_s=total, list_pages=pages, list_arns=len(listed),
                       list_pages_per_s=pages / total if total else math.nan,
                       list_page_p50_ms=statistics.median(page_lat) * 1000 if page_lat else math.nan)
    if len(set(listed)) != len(listed):
        figs.notes.append(f"ListTasks returned {len(listed) - len(set(listed))} duplicate ARNs")
    if len(set(listed)) < len(all_arns):
        figs.notes.append(f"ListTasks listed {len(set(listed))} of {len(all_arns)} tasks")
    if pages == 1 and len(listed) > 100:
        figs.notes.append(f"ListTasks ignored maxResults=100: one page of {len(listed)} ARNs")

    # 5. StopTask throughput ------------------------------------------------------------
    per_thread = prof.stops_per_thread
    victims = all_arns[-THREADS * per_thread:]
    print(f"  [{peer.name}] StopTask x{THREADS} threads x{per_thread} distinct tasks", flush=True)

    def stop(i: int, client: Any, deadline: float) -> int:
        done = 0
        for arn in victims[i * per_thread:(i + 1) * per_thread]:
            if time.perf_counter() > deadline:
                break
            try:
                out = client.stop_task(cluster=CLUSTER, task=arn, reason="bench")
            except Exception as exc:  # noqa: BLE001
                figs.error("StopTask", exc)
                continue
            if out["task"]["desiredStatus"] != "STOPPED":
                figs.error("StopTask", RuntimeError(f"desiredStatus {out['task']['desiredStatus']}"))
            done += 1
        return done

    cpu0 = peer.cpu_seconds()
    elapsed, done = parallel(clients, stop, prof.phase_budget_s)
    figs.values["stop_cpu_ms_per_call"] = (peer.cpu_seconds() - cpu0) / max(sum(done), 1) * 1000
    if sum(done) < len(victims):
        figs.notes.append(f"StopTask: {sum(done)} of {len(victims)} stops completed")
    figs.values["stops_per_s"] = sum(done) / elapsed
    return figs


# ---------------------------------------------------------------------------- report

# key, label, unit, higher-is-better (None: no ratio), target ratio or None
ROWS: list[tuple[str, str, str, bool | None, float | None]] = [
    ("setup_s", "Setup: cluster + 100 instances + task def", "s", False, None),
    ("run_tasks_per_s", "RunTask (count=10, 4 threads)", "tasks/s", True, 5.0),
    ("run_calls_per_s", "RunTask calls", "calls/s", True, None),
    ("run_cpu_ms_per_call", "RunTask: server CPU per call", "ms", False, None),
    ("tasks_at_describe", "Tasks existing during DescribeTasks", "tasks", None, None),
    ("describe_p50_ms", "DescribeTasks(100) median", "ms", False, 20.0),
    ("describe_p90_ms", "DescribeTasks(100) p90", "ms", False, None),
    ("describe_raw_p50_ms", "DescribeTasks(100) median, raw HTTP client", "ms", False, None),
    ("describe_cpu_ms_per_call", "DescribeTasks(100): server CPU per call", "ms", False, None),
    ("topup_tasks_per_s", "RunTask top-up (4 threads)", "tasks/s", True, None),
    ("list_arns", "ListTasks: ARNs listed", "tasks", None, None),
    ("list_pages", "ListTasks: pages (maxResults=100)", "pages", None, None),
    ("list_total_s", "ListTasks: whole list", "s", False, None),
    ("list_pages_per_s", "ListTasks: pages/s", "pages/s", None, None),
    ("list_page_p50_ms", "ListTasks: single page median", "ms", False, None),
    ("stops_per_s", "StopTask (4 threads)", "stops/s", True, 10.0),
    ("stop_cpu_ms_per_call", "StopTask: server CPU per call", "ms", False, None),
]


def fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if abs(v) >= 1000 or float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(p: float | None, m: float | None, higher_better: bool | None) -> float | None:
    if higher_better is None or p is None or m is None or not p or not m:
        return None
    if math.isnan(p) or math.isnan(m):
        return None
    return p / m if higher_better else m / p


def report(ps: Figures, mo: Figures) -> tuple[str, list[tuple[str, float | None, float, bool]]]:
    lines = [
        "| Figure | Unit | Portside | moto | Ratio (×, >1 = Portside better) |",
        "|---|---|---:|---:|---:|",
    ]
    verdicts = []
    for key, label, unit, hib, target in ROWS:
        p, m = ps.values.get(key), mo.values.get(key)
        if p is None and m is None:
            continue
        r = ratio(p, m, hib)
        cell = "—" if r is None else f"{r:.1f}×"
        if target is not None:
            ok = r is not None and r >= target
            cell += f" (target ≥ {target:g}×: {'met' if ok else 'NOT met'})"
            verdicts.append((label, r, target, ok))
        lines.append(f"| {label} | {unit} | {fmt(p)} | {fmt(m)} | {cell} |")
    return "\n".join(lines), verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    parser.add_argument("--wait-for-features", type=float, default=0.0,
                        help="seconds to keep retrying (every 120 s) while Portside answers "
                             "UnsupportedFeature/ClientException to RunTask (default: 0)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here as JSON")
    args = parser.parse_args(argv)
    prof = QUICK if args.quick else FULL

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="portside-bench-") as tmp:
        peers: list[Peer] = [PortsideServer(Path(tmp) / "portside"), MotoServer(Path(tmp) / "moto")]
        results: dict[str, Figures] = {}
        failed = False
        try:
            for p in peers:
                p.start()
                print(f"started {p.name} on {p.endpoint} (pid {p.proc.pid})", flush=True)
            # One server at a time: on 2 cores the client threads and one server already fill the box.
            for p in peers:
                print(f"benchmarking {p.name} ...", flush=True)
                try:
                    results[p.name] = bench_peer(p, prof, args.wait_for_features)
                except Exception as exc:  # report it, still measure the other peer
                    print(f"  [{p.name}] benchmark failed: {type(exc).__name__}: {exc}", flush=True)
                    print(f"  [{p.name}] server log tail:\n{p.log_tail()}", flush=True)
                    results[p.name] = Figures(p.name, notes=[f"benchmark failed: {type(exc).__name__}: {exc}"])
                    failed = True
        finally:
            for p in peers:
                code = p.stop()
                print(f"stopped {p.name} (exit {code})", flush=True)

    ps, mo = results["portside"], results["moto"]
    table, verdicts = report(ps, mo)
    mode = "--quick" if args.quick else "full"
    print()
    print(f"Portside vs moto — {mode} run, {time.strftime('%Y-%m-%d')}, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} CPUs, total {time.perf_counter() - started:.0f}s")
    print()
    print(table)
    print()
    for label, r, target, ok in verdicts:
        shown = "n/a" if r is None else f"{r:.1f}×"
        print(f"target {label}: {shown} vs ≥ {target:g}× → {'MET' if ok else 'NOT MET'}")
    for f in (ps, mo):
        for note in f.notes:
            print(f"note [{f.name}]: {note}")
        for key, n in f.errors.items():
            print(f"errors [{f.name}] {key}: {n}")
    if args.json:
        args.json.write_text(json.dumps({f.name: {"values": f.values, "notes": f.notes, "errors": f.errors}
                                         for f in (ps, mo)}, indent=2))
    if failed:
        return 2
    return 0 if all(ok for *_, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
