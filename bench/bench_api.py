"""Portside vs moto: ECS API throughput and latency, side by side, in one run.

    python bench/bench_api.py            # full run (a few minutes at most)
    python bench/bench_api.py --quick    # smoke run (under a minute)

Starts a real `portside server` (fresh temp data dir) and `moto.server` as child
processes on free loopback ports, drives both with the same workload from four
separate client processes (one client each: boto3, the client of record, and a
"lean" SigV4 + http.client + json.loads client), prints a table of figures with
the Portside/moto ratio at a small task count and at ~10,000 tasks, checks the
targets (on the boto3 figures at ~10,000 tasks), and always stops both servers
(SIGTERM) and the client processes at the end.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import MotoServer, Peer, PortsideServer, RawClient, RawError, boto3_client, percentile  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

CLUSTER = "bench"
FAMILY = "bench"
INSTANCES = 100
PROCS = 4  # concurrent clients: separate processes, one client (one thread) each
RUN_COUNT = 10  # tasks per RunTask call (ECS's maximum)
# ECS (and Portside) refuse a container memory below 6 MiB, so the "tiny" task is cpu 1 / memory 6.
TASK_CPU, TASK_MEMORY = 1, 6
RETRY_CODES = {"UnsupportedFeatureException"}
MODES = ("boto3", "lean")
START_DELAY_S = 0.3  # every client process starts its phase at the same monotonic instant


@dataclass
class Profile:
    run_calls_per_proc: int
    describe_calls: int
    list_target: int
    stops_per_proc: int
    phase_budget_s: float  # a timed phase stops early (and says so) past this


FULL = Profile(run_calls_per_proc=75, describe_calls=40, list_target=10_000,
               stops_per_proc=200, phase_budget_s=25.0)
QUICK = Profile(run_calls_per_proc=10, describe_calls=10, list_target=10_000,
                stops_per_proc=25, phase_budget_s=5.0)




def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response["Error"]["Code"]
    if isinstance(exc, RawError):
        return exc.code
    return type(exc).__name__


@dataclass
class Figures:
    name: str
    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, phase: str, code: str, message: str, count: int = 1) -> None:
        key = f"{phase}: {code}"
        if key not in self.errors:
            print(f"    [{self.name}] {key}: {message[:200]}", flush=True)
        self.errors[key] = self.errors.get(key, 0) + count


# ---------------------------------------------------------------------------- client processes
#
# Each worker process owns one boto3 client and one lean client per endpoint and runs
# one operation loop at a time, on one thread, so no GIL is shared between the clients.

SNAKE = {"RunTask": "run_task", "DescribeTasks": "describe_tasks", "StopTask": "stop_task",
         "ListClusters": "list_clusters", "ListTasks": "list_tasks"}


def _call(client: Any, mode: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    if mode == "lean":
        return client.call(operation, params)
    return getattr(client, SNAKE[operation])(**params)


def _note(errors: dict[str, list[Any]], code: str, message: str) -> None:
    entry = errors.setdefault(code, [0, message[:300]])
    entry[0] += 1


def _op_run(client: Any, mode: str, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    arns: list[str] = []
    calls, errors = 0, {}
    params = {"cluster": CLUSTER, "taskDefinition": args["td"], "count": RUN_COUNT}
    cpu0 = time.process_time()
    for _ in range(args["calls"]):
        if time.monotonic() > deadline:
            break
        calls += 1
        try:
            out = _call(client, mode, "RunTask", params)
        except Exception as exc:  # noqa: BLE001 - counted and shown
            _note(errors, error_code(exc), str(exc))
            continue
        arns.extend(t["taskArn"] for t in out["tasks"])
        if out.get("failures"):
            _note(errors, "placement failures", str(out["failures"][:2]))
    return {"arns": arns, "calls": calls, "errors": errors, "cpu": time.process_time() - cpu0}


def _op_describe(client: Any, mode: str, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    lat: list[float] = []
    calls, errors = 0, {}
    params = {"cluster": CLUSTER, "tasks": args["arns"]}
    for _ in range(args["calls"]):
        if time.monotonic() > deadline:
            break
        calls += 1
        t0 = time.perf_counter()
        try:
            out = _call(client, mode, "DescribeTasks", params)
        except Exception as exc:  # noqa: BLE001
            _note(errors, error_code(exc), str(exc))
            continue
        lat.append(time.perf_counter() - t0)
        if len(out["tasks"]) != len(args["arns"]):
            _note(errors, "short answer", f"{len(out['tasks'])} tasks, failures {out.get('failures', [])[:2]}")
    return {"lat": lat, "calls": calls, "errors": errors}


def _op_stop(client: Any, mode: str, args: dict[str, Any], deadline: float) -> dict[str, Any]:
    done, calls, errors = 0, 0, {}
    cpu0 = time.process_time()
    for arn in args["arns"]:
        if time.monotonic() > deadline:
            break
        calls += 1
        try:
            out = _call(client, mode, "StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
        except Exception as exc:  # noqa: BLE001
            _note(errors, error_code(exc), str(exc))
            continue
        if out["task"]["desiredStatus"] != "STOPPED":
            _note(errors, "not stopped", f"desiredStatus {out['task']['desiredStatus']}")
        done += 1
    return {"done": done, "calls": calls, "errors": errors, "cpu": time.process_time() - cpu0}


OPS = {"run": _op_run, "describe": _op_describe, "stop": _op_stop}


def worker_main(conn: Any, index: int) -> None:
    """One client process: (op, endpoint, mode, args, start_at, budget) in, a result dict out."""
    clients: dict[tuple[str, str], Any] = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            break
        op, endpoint, mode, args, start_at, budget = msg
        try:
            key = (endpoint, mode)
            if op == "connect":
                old = clients.pop(key, None)
                if old is not None and mode == "lean":
                    old.close()
                client = RawClient(endpoint) if mode == "lean" else boto3_client(endpoint)
                _call(client, mode, "ListClusters", {})  # open the connection before any timing
                clients[key] = client
                conn.send({"ok": True})
                continue
            client = clients[key]
            time.sleep(max(0.0, start_at - time.monotonic()))
            result = OPS[op](client, mode, args, start_at + budget)
            result["end"] = time.monotonic()
            result["ok"] = True
            conn.send(result)
        except Exception as exc:  # noqa: BLE001 - reported by the parent
            conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    for (_, mode), client in clients.items():
        if mode == "lean":
            client.close()


class ClientPool:
    """PROCS client processes (spawned, so none inherits anything from this one)."""

    def __init__(self, n: int = PROCS) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        for i in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, i), name=f"bench-client-{i}", daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def _collect(self, conns: list[Any], timeout: float) -> list[dict[str, Any]]:
        results = []
        deadline = time.monotonic() + timeout
        for c in conns:
            if not c.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"a client process did not answer within {timeout:.0f}s")
            r = c.recv()
            if not r.get("ok"):
                raise RuntimeError(f"client process failed: {r.get('error')}")
            results.append(r)
        return results

    def connect(self, endpoint: str) -> None:
        for mode in MODES:
            for c in self.conns:
                c.send(("connect", endpoint, mode, None, 0.0, 0.0))
            self._collect(self.conns, 120)

    def run(self, endpoint: str, mode: str, op: str, per_proc: list[dict[str, Any]],
            budget: float) -> tuple[float, list[dict[str, Any]]]:
        """Run `op` in len(per_proc) processes, started together; wall time until the last ends."""
        conns = self.conns[:len(per_proc)]
        start_at = time.monotonic() + START_DELAY_S
        for c, args in zip(conns, per_proc, strict=False):
            c.send((op, endpoint, mode, args, start_at, budget))
        results = self._collect(conns, START_DELAY_S + budget + 120)
        return max(r["end"] for r in results) - start_at, results

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


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


class PeerBench:
    """The whole workload against one server."""

    def __init__(self, peer: Peer, pool: ClientPool, prof: Profile) -> None:
        self.peer, self.pool, self.prof = peer, pool, prof
        self.figs = Figures(peer.name)
        self.td = ""
        self.arns: list[str] = []  # every task created, in order
        self.alive: list[str] = []  # tasks not yet stopped (StopTask victims come from here)

    # -- helpers
    def _merge_errors(self, phase: str, results: list[dict[str, Any]]) -> None:
        for r in results:
            for code, (count, message) in r["errors"].items():
                self.figs.error(phase, code, message, count)

    def _cpu_ms_per_call(self, cpu0: float, calls: int) -> float:
        return (self.peer.cpu_seconds() - cpu0) / max(calls, 1) * 1000

    @staticmethod
    def _client_cpu_ms_per_call(results: list[dict[str, Any]], calls: int) -> float:
        """CPU the client processes spent per call (their own process time)."""
        return sum(r["cpu"] for r in results) / max(calls, 1) * 1000

    # -- phases
    def run_phase(self, key: str, mode: str, calls_per_proc: int, budget: float, label: str) -> None:
        print(f"  [{self.peer.name}] {label}: RunTask(count={RUN_COUNT}) x{PROCS} processes "
              f"x{calls_per_proc} calls, {mode}, from {len(self.arns):,} tasks", flush=True)
        cpu0 = self.peer.cpu_seconds()
        elapsed, results = self.pool.run(self.peer.endpoint, mode, "run",
                                         [{"td": self.td, "calls": calls_per_proc}] * PROCS, budget)
        calls = sum(r["calls"] for r in results)
        new = [a for r in results for a in r["arns"]]
        self._merge_errors(f"{label} RunTask/{mode}", results)
        if calls < PROCS * calls_per_proc:
            self.figs.notes.append(f"{label} RunTask/{mode} hit the {budget:.0f}s budget after {calls} calls")
        self.figs.values[f"{key}_tasks_per_s"] = len(new) / elapsed
        self.figs.values[f"{key}_cpu_ms"] = self._cpu_ms_per_call(cpu0, calls)
        self.figs.values[f"{key}_client_cpu_ms"] = self._client_cpu_ms_per_call(results, calls)
        self.arns += new
        self.alive += new

    def describe_phase(self, key: str, mode: str, label: str) -> None:
        # 100 tasks spread over everything created, so no scan gets lucky by position.
        step = max(1, len(self.arns) // 100)
        sample = self.arns[::step][:100]
        print(f"  [{self.peer.name}] {label}: DescribeTasks(100) x{self.prof.describe_calls}, {mode}, "
              f"over {len(self.arns):,} tasks", flush=True)
        cpu0 = self.peer.cpu_seconds()
        _, (res,) = self.pool.run(self.peer.endpoint, mode, "describe",
                                  [{"arns": sample, "calls": self.prof.describe_calls}], self.prof.phase_budget_s)
        self._merge_errors(f"{label} DescribeTasks/{mode}", [res])
        lat = res["lat"]
        if res["calls"] < self.prof.describe_calls:
            self.figs.notes.append(f"{label} DescribeTasks/{mode} hit the budget after {res['calls']} calls")
        self.figs.values[f"{key}_p50_ms"] = statistics.median(lat) * 1000 if lat else math.nan
        self.figs.values[f"{key}_p90_ms"] = percentile(lat, 0.9) * 1000
        self.figs.values[f"{key}_cpu_ms"] = self._cpu_ms_per_call(cpu0, res["calls"])

    def stop_phase(self, key: str, mode: str, label: str) -> None:
        per = self.prof.stops_per_proc
        victims, self.alive = self.alive[-PROCS * per:], self.alive[:-PROCS * per]
        print(f"  [{self.peer.name}] {label}: StopTask x{PROCS} processes x{per} distinct tasks, {mode}, "
              f"over {len(self.arns):,} tasks", flush=True)
        cpu0 = self.peer.cpu_seconds()
        elapsed, results = self.pool.run(self.peer.endpoint, mode, "stop",
                                         [{"arns": victims[i * per:(i + 1) * per]} for i in range(PROCS)],
                                         self.prof.phase_budget_s)
        done = sum(r["done"] for r in results)
        self._merge_errors(f"{label} StopTask/{mode}", results)
        if done < len(victims):
            self.figs.notes.append(f"{label} StopTask/{mode}: {done} of {len(victims)} stops completed")
        self.figs.values[f"{key}_per_s"] = done / elapsed
        calls = sum(r["calls"] for r in results)
        self.figs.values[f"{key}_cpu_ms"] = self._cpu_ms_per_call(cpu0, calls)
        self.figs.values[f"{key}_client_cpu_ms"] = self._client_cpu_ms_per_call(results, calls)

    def list_phase(self, ecs: Any) -> None:
        print(f"  [{self.peer.name}] ListTasks paging (maxResults=100) over {len(self.alive):,} "
              f"not-stopped tasks", flush=True)
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
                self.figs.error("ListTasks", error_code(exc), str(exc))
                break
            page_lat.append(time.perf_counter() - t0)
            pages += 1
            listed.extend(out["taskArns"])
            token = out.get("nextToken")
            if not token:
                break
        total = time.perf_counter() - t_list
        self.figs.values.update(list_total_s=total, list_pages=pages, list_arns=len(listed),
                                list_pages_per_s=pages / total if total else math.nan,
                                list_page_p50_ms=statistics.median(page_lat) * 1000 if page_lat else math.nan)
        if len(set(listed)) != len(listed):
            self.figs.notes.append(f"ListTasks returned {len(listed) - len(set(listed))} duplicate ARNs")
        if len(set(listed)) < len(self.alive):
            self.figs.notes.append(f"ListTasks listed {len(set(listed))} of {len(self.alive)} not-stopped tasks")
        if pages == 1 and len(listed) > 100:
            self.figs.notes.append(f"ListTasks ignored maxResults=100: one page of {len(listed)} ARNs")

    # -- the whole run
    def run(self, wait_for_features: float) -> Figures:
        peer, prof, figs = self.peer, self.prof, self.figs
        ecs = peer.client()
        ecs.list_clusters()
        self.pool.connect(peer.endpoint)

        t0 = time.perf_counter()
        self.td = setup(peer, ecs)
        figs.values["setup_s"] = time.perf_counter() - t0

        # A peer still being built answers UnsupportedFeature / ClientException: wait for it.
        deadline = time.monotonic() + wait_for_features
        while True:
            try:
                out = ecs.run_task(cluster=CLUSTER, taskDefinition=self.td, count=1)
                self.arns += [t["taskArn"] for t in out["tasks"]]
                self.alive += [t["taskArn"] for t in out["tasks"]]
                break
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if (code in RETRY_CODES or code == "ClientException") and time.monotonic() < deadline:
                    print(f"    [{peer.name}] RunTask not ready ({code}: {exc}); retrying in 120 s", flush=True)
                    time.sleep(120)
                    continue
                raise

        # Small cluster: a few thousand tasks.
        for mode in MODES:
            self.run_phase(f"s_run_{mode}", mode, prof.run_calls_per_proc, prof.phase_budget_s, "small")
        figs.values["s_tasks"] = len(self.arns)
        for mode in MODES:
            self.describe_phase(f"s_desc_{mode}", mode, "small")
        for mode in MODES:
            self.stop_phase(f"s_stop_{mode}", mode, "small")

        # Top up so that >= list_target tasks are not stopped, then page through them.
        missing = prof.list_target - len(self.alive)
        if missing > 0:
            per_proc = math.ceil(math.ceil(missing / RUN_COUNT) / PROCS)
            t_fill = time.perf_counter()
            before = len(self.arns)
            self.run_phase("topup", "boto3", per_proc, 4 * prof.phase_budget_s, "top-up")
            figs.values["topup_s"] = time.perf_counter() - t_fill
            figs.values["topup_tasks"] = len(self.arns) - before
        self.list_phase(ecs)

        # Big cluster: ~10,000 tasks (more for RunTask, which runs last and adds tasks).
        figs.values["l_tasks"] = len(self.arns)
        for mode in MODES:
            self.describe_phase(f"l_desc_{mode}", mode, "~10k")
        for mode in MODES:
            self.stop_phase(f"l_stop_{mode}", mode, "~10k")
        figs.values["l_run_from"] = len(self.arns)
        for mode in MODES:
            self.run_phase(f"l_run_{mode}", mode, prof.run_calls_per_proc, prof.phase_budget_s, "~10k")
        figs.values["l_run_to"] = len(self.arns)
        return figs


# ---------------------------------------------------------------------------- report

# key, label, unit, higher-is-better (None: no ratio), target ratio or None
Row = tuple[str, str, str, "bool | None", "float | None"]


def size_rows(p: str, size: str, target: bool) -> list[Row]:
    t = (lambda x: x) if target else (lambda x: None)
    return [
        (f"{p}_run_boto3_tasks_per_s", f"[{size}] RunTask (count=10), 4 client processes, boto3", "tasks/s", True,
         t(5.0)),
        (f"{p}_run_lean_tasks_per_s", f"[{size}] RunTask (count=10), 4 client processes, lean", "tasks/s", True, None),
        (f"{p}_run_boto3_cpu_ms", f"[{size}] RunTask: server CPU per call (boto3 phase)", "ms", False, None),
        (f"{p}_run_lean_cpu_ms", f"[{size}] RunTask: server CPU per call (lean phase)", "ms", False, None),
        (f"{p}_run_boto3_client_cpu_ms", f"[{size}] RunTask: client CPU per call, boto3", "ms", None, None),
        (f"{p}_run_lean_client_cpu_ms", f"[{size}] RunTask: client CPU per call, lean", "ms", None, None),
        (f"{p}_desc_boto3_p50_ms", f"[{size}] DescribeTasks(100) median, boto3", "ms", False, t(20.0)),
        (f"{p}_desc_boto3_p90_ms", f"[{size}] DescribeTasks(100) p90, boto3", "ms", False, None),
        (f"{p}_desc_lean_p50_ms", f"[{size}] DescribeTasks(100) median, lean", "ms", False, None),
        (f"{p}_desc_lean_p90_ms", f"[{size}] DescribeTasks(100) p90, lean", "ms", False, None),
        (f"{p}_desc_boto3_cpu_ms", f"[{size}] DescribeTasks(100): server CPU per call", "ms", False, None),
        (f"{p}_stop_boto3_per_s", f"[{size}] StopTask, 4 client processes, boto3", "stops/s", True, t(10.0)),
        (f"{p}_stop_lean_per_s", f"[{size}] StopTask, 4 client processes, lean", "stops/s", True, None),
        (f"{p}_stop_boto3_cpu_ms", f"[{size}] StopTask: server CPU per call (boto3 phase)", "ms", False, None),
        (f"{p}_stop_lean_cpu_ms", f"[{size}] StopTask: server CPU per call (lean phase)", "ms", False, None),
        (f"{p}_stop_boto3_client_cpu_ms", f"[{size}] StopTask: client CPU per call, boto3", "ms", None, None),
        (f"{p}_stop_lean_client_cpu_ms", f"[{size}] StopTask: client CPU per call, lean", "ms", None, None),
    ]


def rows() -> list[Row]:
    return [
        ("setup_s", "Setup: cluster + 100 instances + task def", "s", False, None),
        ("s_tasks", "[small] tasks in the cluster (Describe/Stop; RunTask ends here)", "tasks", None, None),
        *size_rows("s", "small", target=False),
        ("topup_tasks", "Top-up RunTask (boto3): tasks added", "tasks", None, None),
        ("topup_s", "Top-up RunTask (boto3): time", "s", False, None),
        ("list_arns", "ListTasks: ARNs listed (not stopped)", "tasks", None, None),
        ("list_pages", "ListTasks: pages (maxResults=100)", "pages", None, None),
        ("list_total_s", "ListTasks: whole list", "s", False, None),
        ("list_pages_per_s", "ListTasks: pages/s", "pages/s", None, None),
        ("list_page_p50_ms", "ListTasks: single page median", "ms", False, None),
        ("l_tasks", "[~10k] tasks in the cluster (Describe/Stop)", "tasks", None, None),
        ("l_run_from", "[~10k] RunTask phases start at", "tasks", None, None),
        ("l_run_to", "[~10k] RunTask phases end at", "tasks", None, None),
        *size_rows("l", "~10k", target=True),
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
    for key, label, unit, hib, target in rows():
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


def ceilings(ps: Figures, mo: Figures) -> list[str]:
    """What this machine allows at most for the throughput targets: every core
    busy with nothing but Portside's server and its clients, at the CPU per
    call each was measured to spend (and, second, with a server that cost
    nothing at all).  The clients share the cores with the server, so a target
    above the second figure cannot be met on this machine with that client."""
    cores = os.cpu_count() or 1
    lines = []
    for key, rate, what, per_call, target in (("l_run", "tasks_per_s", "RunTask (count=10)", RUN_COUNT, 5.0),
                                               ("l_stop", "per_s", "StopTask", 1, 10.0)):
        for mode in MODES:
            client = ps.values.get(f"{key}_{mode}_client_cpu_ms")
            server = ps.values.get(f"{key}_{mode}_cpu_ms")
            peer = mo.values.get(f"{key}_{mode}_{rate}")
            if not client or not server or not peer or math.isnan(client + server + peer):
                continue
            most = cores / ((client + server) / 1000) * per_call / peer  # × moto
            free = cores / (client / 1000) * per_call / peer
            lines.append(
                f"ceiling [~10k] {what}, {mode}: {cores} cores / ({client:.2f} ms client + {server:.2f} ms "
                f"server CPU per call) = {most:.1f}× moto at most; {free:.1f}× with a server costing nothing "
                f"(target ≥ {target:g}×)"
            )
    return lines


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
    pool = ClientPool(PROCS)
    with tempfile.TemporaryDirectory(prefix="portside-bench-") as tmp:
        peers: list[Peer] = [PortsideServer(Path(tmp) / "portside"), MotoServer(Path(tmp) / "moto")]
        results: dict[str, Figures] = {}
        failed = False
        try:
            for p in peers:
                p.start()
                print(f"started {p.name} on {p.endpoint} (pid {p.proc.pid})", flush=True)
            # One server at a time: on 2 cores the client processes and one server already fill the box.
            for p in peers:
                print(f"benchmarking {p.name} ...", flush=True)
                try:
                    results[p.name] = PeerBench(p, pool, prof).run(args.wait_for_features)
                except Exception as exc:  # report it, still measure the other peer
                    print(f"  [{p.name}] benchmark failed: {type(exc).__name__}: {exc}", flush=True)
                    print(f"  [{p.name}] server log tail:\n{p.log_tail()}", flush=True)
                    results[p.name] = Figures(p.name, notes=[f"benchmark failed: {type(exc).__name__}: {exc}"])
                    failed = True
        finally:
            pool.close()
            for p in peers:
                code = p.stop()
                print(f"stopped {p.name} (exit {code})", flush=True)

    ps, mo = results["portside"], results["moto"]
    table, verdicts = report(ps, mo)
    mode = "--quick" if args.quick else "full"
    print()
    print(f"Portside vs moto — {mode} run, {time.strftime('%Y-%m-%d')}, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {PROCS} client processes, total {time.perf_counter() - started:.0f}s")
    print()
    print(table)
    print()
    for label, r, target, ok in verdicts:
        shown = "n/a" if r is None else f"{r:.1f}×"
        print(f"target {label}: {shown} vs ≥ {target:g}× → {'MET' if ok else 'NOT MET'}")
    for line in ceilings(ps, mo):
        print(line)
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
