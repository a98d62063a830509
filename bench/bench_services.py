"""The service scheduler at scale: a 1,000-task REPLICA service on 100
fake-runtime container instances, then a rolling deployment of it.

    python bench/bench_services.py              # 100 instances, 1,000 tasks
    python bench/bench_services.py --quick      # 10 instances, 100 tasks
    python bench/bench_services.py --json out.json

Starts a real `python -m portside server` (fresh temporary data dir, default
settings) and, as a second child process, this script in `--simulate-agents N`
mode: N real `portside.agent.Agent`s (the agent code of `portside agent`,
registration, long poll, task managers, reporter) with one FakeRuntime each,
in one asyncio loop sharing one signed HTTP client.  One `portside agent`
process per instance would be 100 Python interpreters, too heavy for 2 cores;
in one process the agents cost what their work costs.

Measured from the driver (a boto3 client polling DescribeServices every
0.25 s): wall time from CreateService until the service reports a COMPLETED
deployment with all tasks RUNNING (steady state), the same for an
UpdateService to a new task definition revision (rolling deployment with the
default 100 % / 200 %), and the server process's CPU seconds (user + system,
from /proc) during each phase and while idle at steady state.  Both children
get SIGTERM at the end whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _peers import PortsideServer, boto3_client  # noqa: E402

CLUSTER = "bench"
ZONES = ("local-1a", "local-1b", "local-1c")


# -- the agents' process ---------------------------------------------------------------


async def simulate(server: str, cluster: str, count: int, data_dir: Path, cpu: int, memory: int) -> None:
    from portside.agent.agent import Agent, AgentConfig
    from portside.agent.fake_runtime import FakeRuntime
    from portside.agent.server_client import ServerClient

    client = ServerClient(server)
    agents = [
        Agent(client, FakeRuntime(), AgentConfig(
            cluster=cluster, data_dir=data_dir / f"instance{i}", stop_timeout=2.0,
            availability_zone=ZONES[i % len(ZONES)], cpu_units=cpu, memory_mib=memory))
        for i in range(count)
    ]
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    try:
        for i in range(0, count, 20):
            await asyncio.gather(*(a.register() for a in agents[i:i + 20]))
        await asyncio.gather(*(a.run() for a in agents))
    except asyncio.CancelledError:
        pass
    finally:
        for a in agents:
            await a.reporter.close()
        client.close()


# -- the driver --------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a child process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_steady(ecs, name: str, count: int, revision: int, timeout: float) -> tuple[float, dict]:
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        svc = ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]
        d = svc["deployments"][0]
        if (len(svc["deployments"]) == 1 and d["rolloutState"] == "COMPLETED" and svc["runningCount"] == count
                and svc["pendingCount"] == 0 and d["taskDefinition"].endswith(f":{revision}")):
            return time.monotonic() - started, svc
        time.sleep(0.25)
    raise RuntimeError(f"not steady after {timeout:.0f} s: running {svc['runningCount']}, "
                       f"pending {svc['pendingCount']}, deployments {len(svc['deployments'])}")


def run(instances: int, tasks: int, timeout: float) -> dict[str, float]:
    figures: dict[str, float] = {"instances": instances, "tasks": tasks}
    work = Path(tempfile.mkdtemp(prefix="portside-bench-services-"))
    server = PortsideServer(work).start()
    agents = None
    try:
        ecs = boto3_client(server.endpoint)
        ecs.create_cluster(clusterName=CLUSTER)
        per_instance = -(-tasks // instances) * 2 + 2  # room for a 200 % rollout
        agents = subprocess.Popen(
            [sys.executable, __file__, "--simulate-agents", str(instances), "--server", server.endpoint,
             "--data-dir", str(work / "agents"), "--cpu", str(16 * per_instance),
             "--memory", str(32 * per_instance)],
            stdout=open(work / "agents.log", "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        def registered() -> int:
            return len(ecs.list_container_instances(cluster=CLUSTER, maxResults=100)["containerInstanceArns"])

        while registered() < min(instances, 100):
            if time.monotonic() > deadline or agents.poll() is not None:
                raise RuntimeError("agents did not register: " + (work / "agents.log").read_text()[-2000:])
            time.sleep(0.25)
        time.sleep(1.0)  # every agent polling
        for revision in (1, 2):
            ecs.register_task_definition(family="app", containerDefinitions=[{
                "name": "app", "image": "fake", "cpu": 16, "memory": 32,
                "environment": [{"name": "REVISION", "value": str(revision)}]}])
        cpu0, agents0 = server.cpu_seconds(), process_cpu(agents.pid)
        ecs.create_service(cluster=CLUSTER, serviceName="app", taskDefinition="app:1", desiredCount=tasks)
        figures["steady_s"], _ = wait_steady(ecs, "app", tasks, 1, timeout)
        figures["steady_cpu_s"] = server.cpu_seconds() - cpu0
        figures["steady_agents_cpu_s"] = process_cpu(agents.pid) - agents0

        cpu0 = server.cpu_seconds()
        time.sleep(5.0)
        figures["idle_cpu_pct"] = (server.cpu_seconds() - cpu0) / 5.0 * 100

        cpu0, agents0 = server.cpu_seconds(), process_cpu(agents.pid)
        ecs.update_service(cluster=CLUSTER, service="app", taskDefinition="app:2")
        figures["rollout_s"], svc = wait_steady(ecs, "app", tasks, 2, timeout)
        figures["rollout_cpu_s"] = server.cpu_seconds() - cpu0
        figures["rollout_agents_cpu_s"] = process_cpu(agents.pid) - agents0
        running = sum(len(p["taskArns"]) for p in ecs.get_paginator("list_tasks").paginate(
            cluster=CLUSTER, serviceName="app"))
        assert running == tasks, running
        figures["events"] = len(svc["events"])
        arns = [a for p in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, serviceName="app")
                for a in p["taskArns"]]
        per_instance: dict[str, int] = {}
        for i in range(0, len(arns), 100):
            for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]:
                per_instance[t["containerInstanceArn"]] = per_instance.get(t["containerInstanceArn"], 0) + 1
        figures["per_instance_min"] = min(per_instance.values())
        figures["per_instance_max"] = max(per_instance.values())
        figures["instances_used"] = len(per_instance)
    finally:
        if agents is not None and agents.poll() is None:
            agents.send_signal(signal.SIGTERM)
            try:
                agents.wait(timeout=20)
            except subprocess.TimeoutExpired:
                agents.kill()
        server.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 instances, 100 tasks")
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per phase")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--simulate-agents", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=1024, help=argparse.SUPPRESS)
    parser.add_argument("--memory", type=int, default=2048, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulate_agents:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        asyncio.run(simulate(args.server, CLUSTER, args.simulate_agents, args.data_dir, args.cpu, args.memory))
        return 0
    instances, tasks = (10, 100) if args.quick else (args.instances, args.tasks)
    figures = run(instances, tasks, args.timeout)
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    print(f"{tasks} tasks on {instances} fake-runtime instances")
    print(f"  CreateService → steady state   {figures['steady_s']:7.1f} s   "
          f"server CPU {figures['steady_cpu_s']:6.1f} s   agents CPU {figures['steady_agents_cpu_s']:6.1f} s")
    print(f"  idle at steady state           {'':9}   server CPU {figures['idle_cpu_pct']:6.1f} %")
    print(f"  rolling deployment → steady    {figures['rollout_s']:7.1f} s   "
          f"server CPU {figures['rollout_cpu_s']:6.1f} s   agents CPU {figures['rollout_agents_cpu_s']:6.1f} s")
    print(f"  tasks per instance after the rollout: "
          f"{figures['per_instance_min']:.0f}-{figures['per_instance_max']:.0f} "
          f"over {figures['instances_used']:.0f} instances")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
