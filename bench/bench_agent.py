"""RunTask → RUNNING through Portside vs plain `docker run -d`, side by side, in one run.

    python bench/bench_agent.py            # 20 sequential runs each + 3 bursts of 20 each
    python bench/bench_agent.py --quick    # 5 sequential runs each + 1 burst of 20 each

Starts a real `portside server` and `portside agent --runtime docker` (fresh temp
dirs) as child processes, builds the local busybox test image the way
tests/conftest.py does (docker import; no registry needed), and times:

- sequential: Portside = from the RunTask call until DescribeTasks (polled every
  ~10 ms) shows lastStatus RUNNING; Docker = the `docker run -d` CLI process, from
  spawn to exit (it exits once the container is started).  Alternated, one of each.
- burst of 20: Portside = RunTask(count=10) twice, until DescribeTasks shows all 20
  RUNNING; Docker = 20 concurrent `docker run -d`, until the last one exits.

Prints median/p90 and Portside's overhead over Docker (target ≤ 10 %), plus a
breakdown of where Portside's time goes (from the task's own timestamps and Docker's
container Created/StartedAt).  Always stops the tasks, removes every container it
made, and stops the agent and server (SIGTERM) at the end.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docker  # noqa: E402
import docker.errors  # noqa: E402
from _peers import ROOT, PortsideServer, RawClient, percentile  # noqa: E402

from portside.agent.agent import registered_instance  # noqa: E402
from portside.testing.images import TEST_IMAGE, ensure_test_image  # noqa: E402

IMAGE = TEST_IMAGE
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
MEMORY_MIB = 32
CLUSTER = "default"
FAMILY = "bench-agent"
POLL_S = 0.010  # DescribeTasks polling interval
BURST = 20
TARGET_OVERHEAD = 0.10
RUN_LABEL = "com.portside.bench-agent"  # on the plain `docker run` containers, for cleanup




# ---------------------------------------------------------------------------- the image


def ensure_image(client: docker.DockerClient) -> None:
    ensure_test_image(client, IMAGE)


# ---------------------------------------------------------------------------- Portside side


class Agent:
    """`portside agent --runtime docker` as a child process."""

    def __init__(self, endpoint: str, data_dir: Path) -> None:
        self.endpoint, self.data_dir = endpoint, data_dir
        self.log_path = data_dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portside", "agent", "--server", self.endpoint, "--cluster", CLUSTER,
             "--data-dir", str(self.data_dir), "--runtime", "docker", "--stop-timeout", "2"],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
        return self

    @property
    def instance_arn(self) -> str | None:
        return registered_instance(self.data_dir)

    def wait_registered(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"agent exited:\n{self.log_tail()}")
            if self.instance_arn:
                return self.instance_arn
            time.sleep(0.05)
        raise RuntimeError(f"agent did not register:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=5)
        return proc.returncode


class Portside:
    def __init__(self, endpoint: str) -> None:
        self.ecs = RawClient(endpoint)  # polling DescribeTasks; see run_and_wait
        from _peers import boto3_client

        self.boto = boto3_client(endpoint)
        self.td = ""

    def setup(self) -> None:
        self.boto.create_cluster(clusterName=CLUSTER)
        self.td = self.boto.register_task_definition(
            family=FAMILY,
            containerDefinitions=[{"name": "app", "image": IMAGE, "memory": MEMORY_MIB,
                                   "essential": True, "command": COMMAND}],
        )["taskDefinition"]["taskDefinitionArn"]

    def run_and_wait(self, count_calls: list[int], timeout: float = 60) -> tuple[float, list[dict[str, Any]], float]:
        """RunTask (boto3, as a user calls it) once per entry of `count_calls`, back to back,
        then poll DescribeTasks every POLL_S until every task is RUNNING.
        → (seconds from the first RunTask call to the poll that saw all RUNNING,
           the tasks as last described, epoch time of the first call)."""
        t_epoch = time.time()
        t0 = time.perf_counter()
        arns: list[str] = []
        for count in count_calls:
            out = self.boto.run_task(cluster=CLUSTER, taskDefinition=self.td, count=count)
            if out.get("failures"):
                raise RuntimeError(f"RunTask failures: {out['failures']}")
            arns += [t["taskArn"] for t in out["tasks"]]
        deadline = t0 + timeout
        while True:
            # The lean client polls: boto3's response parsing would add its own milliseconds
            # to every poll and coarsen the measurement, which is about the server and agent.
            tasks = self.ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": arns})["tasks"]
            now = time.perf_counter()
            if all(t["lastStatus"] == "RUNNING" for t in tasks) and len(tasks) == len(arns):
                return now - t0, tasks, t_epoch
            bad = [t for t in tasks if t["lastStatus"] in ("STOPPED", "DEPROVISIONING")]
            if bad:
                raise RuntimeError(f"task stopped before RUNNING: {bad[0].get('stoppedReason')} "
                                   f"{[c.get('reason') for c in bad[0].get('containers', [])]}")
            if now > deadline:
                raise RuntimeError(f"tasks not RUNNING after {timeout}s: {[t['lastStatus'] for t in tasks]}")
            time.sleep(POLL_S)

    def stop_all(self, arns: list[str], timeout: float = 60) -> None:
        for arn in arns:
            try:
                self.boto.stop_task(cluster=CLUSTER, task=arn, reason="bench done")
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                print(f"  StopTask {arn}: {exc}", flush=True)
        deadline = time.monotonic() + timeout
        pending = list(arns)
        while pending and time.monotonic() < deadline:
            still = []
            for i in range(0, len(pending), 100):
                out = self.ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": pending[i:i + 100]})
                still += [t["taskArn"] for t in out["tasks"] if t["lastStatus"] != "STOPPED"]
            pending = still
            if pending:
                time.sleep(0.2)
        if pending:
            print(f"  {len(pending)} tasks not STOPPED after {timeout}s", flush=True)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def docker_times(dclient: docker.DockerClient, runtime_id: str) -> tuple[float | None, float | None]:
    """Docker's own Created and State.StartedAt of a container, as epoch seconds."""
    try:
        attrs = dclient.api.inspect_container(runtime_id)
    except Exception:  # noqa: BLE001 - best effort
        return None, None
    return (_epoch(attrs["Created"][:26].rstrip("Z") + "+00:00"),
            _epoch(attrs["State"]["StartedAt"][:26].rstrip("Z") + "+00:00"))


def breakdown(task: dict[str, Any], t_call: float, t_seen: float, dclient: docker.DockerClient,
              burst: bool = False) -> dict[str, float]:
    """Where one task's time went, from its own timestamps and Docker's (all one host clock).

    pullStartedAt/pullStoppedAt are not used: the agent sends them through botocore's
    JSON serializer, which truncates timestamps to whole seconds."""
    created, started = _epoch(task.get("createdAt")), _epoch(task.get("startedAt"))
    runtime_id = (task.get("containers") or [{}])[0].get("runtimeId")
    d_created, d_started = docker_times(dclient, runtime_id) if runtime_id else (None, None)
    seen = "all 20 seen RUNNING by the poll (slowest task)" if burst else "seen by the DescribeTasks poll"
    marks = [("RunTask call → task created (server)", t_call, created),
             ("task created → Docker Created (poll wake-up, image check, create request)", created, d_created),
             ("Docker Created → Docker StartedAt (create + start in dockerd)", d_created, d_started),
             ("Docker StartedAt → task RUNNING (inspect, SubmitTaskStateChange)", d_started, started),
             (f"task RUNNING → {seen}", started, t_seen)]
    return {label: (b - a) * 1000 for label, a, b in marks if a is not None and b is not None}


# ---------------------------------------------------------------------------- Docker side


def docker_run(name: str) -> tuple[float, str, float]:
    """One `docker run -d` CLI process → (seconds from spawn to exit (container started),
    container id, epoch time of the spawn)."""
    cmd = ["docker", "run", "-d", "--name", name, "--label", f"{RUN_LABEL}=1",
           "--memory", f"{MEMORY_MIB}m", IMAGE, *COMMAND]
    t_epoch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"docker run failed: {proc.stderr.strip()[:300]}")
    return elapsed, proc.stdout.strip(), t_epoch


def docker_breakdown(dclient: docker.DockerClient, runtime_id: str, t_call: float, elapsed: float) -> dict[str, float]:
    d_created, d_started = docker_times(dclient, runtime_id)
    if d_created is None or d_started is None:
        return {}
    return {"CLI spawned → Docker Created (CLI start-up, create request)": (d_created - t_call) * 1000,
            "Docker Created → Docker StartedAt (create + start in dockerd)": (d_started - d_created) * 1000,
            "Docker StartedAt → CLI exited": (t_call + elapsed - d_started) * 1000}


def docker_burst(n: int) -> float:
    names = [f"bench-agent-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        list(pool.map(docker_run, names))  # raises if any failed
    return time.perf_counter() - t0


def docker_cleanup(dclient: docker.DockerClient) -> int:
    removed = 0
    for c in dclient.containers.list(all=True, filters={"label": RUN_LABEL}):
        try:
            c.remove(force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    return removed


def check_running(dclient: docker.DockerClient) -> int:
    return sum(1 for c in dclient.containers.list(filters={"label": RUN_LABEL}) if c.status == "running")


# ---------------------------------------------------------------------------- the run


def overhead(p: float, d: float) -> float:
    return (p / d - 1) * 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 sequential runs each, 1 burst")
    parser.add_argument("--runs", type=int, default=None, help="sequential runs each (default 20)")
    parser.add_argument("--bursts", type=int, default=None, help="bursts of 20 each (default 3)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here as JSON")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 20)
    bursts = args.bursts or (1 if args.quick else 3)

    started = time.perf_counter()
    dclient = docker.from_env()
    dclient.ping()
    ensure_image(dclient)
    docker_version = dclient.version().get("Version", "?")
    docker_cleanup(dclient)  # leftovers of an interrupted run

    seq_p: list[float] = []
    seq_d: list[float] = []
    burst_p: list[float] = []
    burst_d: list[float] = []
    parts: dict[str, list[float]] = {}
    dparts: dict[str, list[float]] = {}
    burst_parts: dict[str, list[float]] = {}
    all_arns: list[str] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="portside-bench-agent-") as tmp:
        server = PortsideServer(Path(tmp) / "server")
        agent: Agent | None = None
        ps: Portside | None = None
        instance_arn = None
        try:
            server.start()
            print(f"started portside server on {server.endpoint} (pid {server.proc.pid})", flush=True)
            ps = Portside(server.endpoint)
            ps.setup()
            agent = Agent(server.endpoint, Path(tmp) / "agent").start()
            instance_arn = agent.wait_registered()
            print(f"agent registered {instance_arn} (pid {agent.proc.pid}); Docker {docker_version}", flush=True)

            # Warm-up, not measured: one of each (first-call costs: imports, connections, caches).
            _, tasks, _ = ps.run_and_wait([1])
            all_arns += [t["taskArn"] for t in tasks]
            docker_run(f"bench-agent-warm-{uuid.uuid4().hex[:8]}")

            print(f"sequential: {runs} × (Portside RunTask→RUNNING, then docker run -d), alternated", flush=True)
            for i in range(runs):
                elapsed, tasks, t_call = ps.run_and_wait([1])
                t_seen = t_call + elapsed
                all_arns += [t["taskArn"] for t in tasks]
                seq_p.append(elapsed)
                for k, v in breakdown(tasks[0], t_call, t_seen, dclient).items():
                    parts.setdefault(k, []).append(v)
                d_elapsed, d_id, d_call = docker_run(f"bench-agent-{uuid.uuid4().hex[:10]}")
                seq_d.append(d_elapsed)
                for k, v in docker_breakdown(dclient, d_id, d_call, d_elapsed).items():
                    dparts.setdefault(k, []).append(v)
                print(f"  {i + 1:2d}: portside {seq_p[-1] * 1000:7.1f} ms   docker run -d {seq_d[-1] * 1000:7.1f} ms",
                      flush=True)

            for b in range(bursts):
                # a clean host for each burst: nothing of the previous phase still running
                ps.stop_all(all_arns)
                docker_cleanup(dclient)
                time.sleep(1.0)
                elapsed, tasks, t_call = ps.run_and_wait([10, 10])
                all_arns += [t["taskArn"] for t in tasks]
                burst_p.append(elapsed)
                for t in tasks:
                    for k, v in breakdown(t, t_call, t_call + elapsed, dclient, burst=True).items():
                        burst_parts.setdefault(k, []).append(v)
                ps.stop_all(all_arns)
                time.sleep(1.0)
                burst_d.append(docker_burst(BURST))
                running = check_running(dclient)
                if running != BURST:
                    print(f"  warning: {running} of {BURST} plain containers running after the burst", flush=True)
                docker_cleanup(dclient)
                print(f"burst {b + 1}: portside {burst_p[-1] * 1000:.0f} ms (2 × RunTask count=10 → all 20 RUNNING)"
                      f"   docker {burst_d[-1] * 1000:.0f} ms (20 concurrent docker run -d)", flush=True)
        except Exception as exc:  # noqa: BLE001 - report, then clean up
            failed = True
            print(f"benchmark failed: {type(exc).__name__}: {exc}", flush=True)
            if agent is not None:
                print(f"agent log tail:\n{agent.log_tail()}", flush=True)
            print(f"server log tail:\n{server.log_tail()}", flush=True)
        finally:
            if ps is not None and all_arns and server.proc is not None:
                try:
                    ps.stop_all(all_arns)
                except Exception as exc:  # noqa: BLE001
                    print(f"stopping tasks failed: {exc}", flush=True)
            if agent is not None:
                print(f"stopped agent (exit {agent.stop()})", flush=True)
            print(f"stopped portside server (exit {server.stop()})", flush=True)
            removed = docker_cleanup(dclient)
            if instance_arn:  # any container of the agent's that survived (should be none)
                label = f"com.portside.container-instance-arn={instance_arn}"
                for c in dclient.containers.list(all=True, filters={"label": label}):
                    c.remove(force=True)
                    removed += 1
            print(f"removed {removed} leftover containers", flush=True)

    def ms(v: float) -> str:
        return "—" if math.isnan(v) else f"{v * 1000:.0f}"

    print()
    print(f"Portside agent vs docker run -d — {runs} sequential runs, {len(burst_p)} bursts of {BURST}, "
          f"{time.strftime('%Y-%m-%d')}, Docker {docker_version}, {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, total {time.perf_counter() - started:.0f}s")
    print()
    print("| Figure | Portside (ms) | docker run -d (ms) | Portside overhead (target ≤ 10 %) |")
    print("|---|---:|---:|---:|")
    verdicts = []
    for label, pv, dv, target in [
        ("sequential, median", statistics.median(seq_p) if seq_p else math.nan,
         statistics.median(seq_d) if seq_d else math.nan, True),
        ("sequential, p90", percentile(seq_p, 0.9), percentile(seq_d, 0.9), False),
        ("sequential, min", min(seq_p, default=math.nan), min(seq_d, default=math.nan), False),
        (f"burst of {BURST}, median of {len(burst_p)}", statistics.median(burst_p) if burst_p else math.nan,
         statistics.median(burst_d) if burst_d else math.nan, True),
    ]:
        o = overhead(pv, dv) if pv == pv and dv == dv else math.nan
        cell = "—" if math.isnan(o) else f"{o:+.0f} %"
        if target:
            ok = not math.isnan(o) and o <= TARGET_OVERHEAD * 100
            cell += f" ({'met' if ok else 'NOT met'})"
            verdicts.append((label, o, ok))
        print(f"| {label} | {ms(pv)} | {ms(dv)} | {cell} |")
    if burst_p:
        print(f"| bursts, each | {' / '.join(ms(v) for v in burst_p)} | {' / '.join(ms(v) for v in burst_d)} | |")
    print()
    for title, data in (("Portside, sequential", parts), ("docker run -d, sequential", dparts),
                        (f"Portside, burst (all {BURST} tasks of every burst)", burst_parts)):
        if not data:
            continue
        print(f"Where the time goes — {title} (median / p90 ms):")
        for k, v in data.items():
            print(f"  {k:<78} {statistics.median(v):7.1f} / {percentile(v, 0.9):7.1f}")
        print()
    for label, o, ok in verdicts:
        print(f"target {label}: overhead {o:+.0f} % vs ≤ {TARGET_OVERHEAD * 100:.0f} % → {'MET' if ok else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps({"sequential_portside_s": seq_p, "sequential_docker_s": seq_d,
                                         "burst_portside_s": burst_p, "burst_docker_s": burst_d,
                                         "breakdown_ms": parts, "docker_breakdown_ms": dparts,
                                         "burst_breakdown_ms": burst_parts}, indent=2))
    if failed:
        return 2
    return 0 if verdicts and all(ok for *_, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
