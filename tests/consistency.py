"""The store's book-keeping, checked through the public ECS API only (so it
holds whatever the store looks like inside):

  every container instance's remaining CPU and MEMORY equal its registered
  ones less what its live tasks (lastStatus != STOPPED) reserve, which is never
  negative, its PORTS and
  PORTS_UDP in use are the registered ones plus the live tasks' static host
  ports, no two live tasks on one instance hold the same host port, and its
  running/pending task counts match its live tasks.

What a task reserves comes from DescribeTasks and DescribeTaskDefinition: the
task-level cpu/memory when set, else the sum over its containers of cpu and of
memoryReservation-or-memory (as run, overrides applied), plus the static host
ports of its definition (hostPort; containerPort too in host network mode).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

_BEFORE_RUNNING = ("PROVISIONING", "PENDING", "ACTIVATING")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNITS = {"cpu": {"": 1, "vcpu": 1024}, "memory": {"": 1, "gb": 1024, "mb": 1, "mib": 1, "gib": 1024}}


def task_size(value: Any, kind: str) -> int | None:
    """A task-level cpu ("1024", "1 vCPU") or memory ("512", "2 GB") in units/MiB."""
    if value is None:
        return None
    match = _SIZE.match(str(value))
    if not match:
        raise AssertionError(f"unparseable task {kind} {value!r}")
    scale = _UNITS[kind].get(match.group(2).lower())
    if scale is None:
        raise AssertionError(f"unparseable task {kind} {value!r}")
    return int(Decimal(match.group(1)) * scale)


def _integer(resources: list[dict[str, Any]], name: str) -> int:
    for r in resources:
        if r["name"] == name:
            return int(r.get("integerValue") or r.get("longValue") or r.get("doubleValue") or 0)
    return 0


def _ports(resources: list[dict[str, Any]], name: str) -> set[int]:
    for r in resources:
        if r["name"] == name:
            return {int(p) for p in r.get("stringSetValue", [])}
    return set()


def _pages(call, key: str, **params) -> list[str]:
    out, token = [], None
    while True:
        page = call(**params, **({"nextToken": token} if token else {}))
        out += page[key]
        token = page.get("nextToken")
        if not token:
            return out


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class StoreChecker:
    """Keeps task definitions it has seen (immutable but for their status)."""

    def __init__(self, ecs) -> None:
        self.ecs = ecs
        self._definitions: dict[str, dict[str, Any]] = {}

    def definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._definitions:
            self._definitions[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return self._definitions[arn]

    def reservation(self, task: dict[str, Any]) -> tuple[int, int, list[int], list[int]]:
        definition = self.definition(task["taskDefinitionArn"])
        cpu = task_size(task.get("cpu"), "cpu")
        memory = task_size(task.get("memory"), "memory")
        if cpu is None:
            cpu = sum(int(c.get("cpu") or 0) for c in task["containers"])
        if memory is None:
            memory = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in task["containers"])
        mode = definition.get("networkMode", "bridge")
        tcp, udp = [], []
        if mode in ("bridge", "host"):
            for c in definition["containerDefinitions"]:
                for m in c.get("portMappings", []):
                    port = m.get("hostPort") or (m.get("containerPort") if mode == "host" else None)
                    if port:
                        (udp if m.get("protocol") == "udp" else tcp).append(int(port))
        return cpu, memory, tcp, udp

    def problems(self, clusters: list[str] | None = None) -> list[str]:
        """Every broken invariant, as a sentence; [] when the books balance."""
        ecs, found = self.ecs, []
        for cluster in clusters or _pages(ecs.list_clusters, "clusterArns"):
            instance_arns = _pages(ecs.list_container_instances, "containerInstanceArns", cluster=cluster)
            if not instance_arns:
                continue
            instances = [
                i for chunk in _chunks(instance_arns, 100)
                for i in ecs.describe_container_instances(cluster=cluster, containerInstances=chunk)[
                    "containerInstances"]
            ]
            task_arns = sorted({
                arn for desired in ("RUNNING", "STOPPED")
                for arn in _pages(ecs.list_tasks, "taskArns", cluster=cluster, desiredStatus=desired)
            })
            live: dict[str, list[dict[str, Any]]] = {}
            for chunk in _chunks(task_arns, 100):
                for task in ecs.describe_tasks(cluster=cluster, tasks=chunk)["tasks"]:
                    if task["lastStatus"] != "STOPPED":
                        live.setdefault(task.get("containerInstanceArn", ""), []).append(task)
            for instance in instances:
                found += self._instance_problems(instance, live.get(instance["containerInstanceArn"], []))
        return found

    def _instance_problems(self, instance: dict[str, Any], tasks: list[dict[str, Any]]) -> list[str]:
        arn = instance["containerInstanceArn"]
        registered, remaining = instance["registeredResources"], instance["remainingResources"]
        cpu = memory = 0
        tcp: list[int] = []
        udp: list[int] = []
        out = []
        for task in tasks:
            t_cpu, t_memory, t_tcp, t_udp = self.reservation(task)
            if t_cpu < 0 or t_memory < 0:
                out.append(f"{task['taskArn']}: reserves a negative amount (cpu {t_cpu}, memory {t_memory})")
            cpu, memory = cpu + t_cpu, memory + t_memory
            tcp += t_tcp
            udp += t_udp
        running = sum(t["lastStatus"] == "RUNNING" for t in tasks)
        pending = sum(t["lastStatus"] in _BEFORE_RUNNING for t in tasks)
        if (instance.get("runningTasksCount", 0), instance.get("pendingTasksCount", 0)) != (running, pending):
            out.append(f"{arn}: counts running/pending {instance.get('runningTasksCount')}/"
                       f"{instance.get('pendingTasksCount')} != live tasks {running}/{pending}")
        want_cpu, want_memory = _integer(registered, "CPU") - cpu, _integer(registered, "MEMORY") - memory
        if _integer(remaining, "CPU") != want_cpu:
            out.append(f"{arn}: remaining CPU {_integer(remaining, 'CPU')} != registered - live tasks = {want_cpu}")
        if _integer(remaining, "MEMORY") != want_memory:
            out.append(f"{arn}: remaining MEMORY {_integer(remaining, 'MEMORY')} != {want_memory}")
        for name, held in (("PORTS", tcp), ("PORTS_UDP", udp)):
            if len(held) != len(set(held)):
                out.append(f"{arn}: two live tasks hold one {name} port: {sorted(held)}")
            want = _ports(registered, name) | set(held)
            if _ports(remaining, name) != want:
                out.append(f"{arn}: {name} in use {sorted(_ports(remaining, name))} != {sorted(want)}")
        return out


def assert_consistent(ecs, clusters: list[str] | None = None) -> None:
    problems = StoreChecker(ecs).problems(clusters)
    assert problems == [], "\n".join(problems)
