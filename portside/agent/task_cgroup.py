"""A task's own cgroup, as the ECS agent makes one on Linux for EC2: the
task-level `cpu` and `memory` bound the task as a whole, its containers
inside it (Docker's `--cgroup-parent /ecs/TASK_ID`).

- memory: the cgroup's hard limit (`memory.limit_in_bytes`, v2 `memory.max`);
- cpu: a CFS quota of cpu/1024 CPUs per 100 ms period (`cpu.cfs_quota_us`,
  v2 `cpu.max`), as the ECS agent's `BuildLinuxResourceSpec` does.

Written straight into the cgroup filesystem Docker uses (cgroupfs driver,
v1 or v2); Docker (runc) then makes each container's cgroup below it.  With
the systemd cgroup driver the task's limits cannot be set this way: the task
is refused a cgroup and its containers keep their own limits (logged).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("portside.agent.cgroup")

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def parent_name(task_arn: str) -> str:
    """Docker's cgroup parent for a task: `/ecs/TASK_ID`."""
    return f"/ecs/{task_arn.rsplit('/', 1)[-1]}"


def _unified() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def create(parent: str, cpu_units: int | None, memory_mib: int | None) -> None:
    """Make the task's cgroup with its limits (OSError when the cgroup
    filesystem refuses)."""
    relative = parent.strip("/")
    quota = max(1000, cpu_units * PERIOD_US // 1024) if cpu_units else None
    if _unified():
        _enable_controllers(relative)
        group = ROOT / relative
        group.mkdir(parents=True, exist_ok=True)
        if memory_mib:
            (group / "memory.max").write_text(str(memory_mib * 1024 * 1024))
        if quota:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        return
    if memory_mib:
        group = ROOT / "memory" / relative
        group.mkdir(parents=True, exist_ok=True)
        (group / "memory.limit_in_bytes").write_text(str(memory_mib * 1024 * 1024))
    if quota:
        group = ROOT / "cpu" / relative
        group.mkdir(parents=True, exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(quota))


def _enable_controllers(relative: str) -> None:
    """cgroup v2: the cpu and memory controllers offered down to the task's group."""
    here = ROOT
    for part in Path(relative).parts:
        control = here / "cgroup.subtree_control"
        for controller in ("+memory", "+cpu"):
            try:
                control.write_text(controller)
            except OSError:
                pass  # already on, or not available here: the limit write says which
        here = here / part
        here.mkdir(exist_ok=True)


def remove(parent: str) -> None:
    """Remove the task's (now empty) cgroup in every hierarchy runc made it in."""
    relative = parent.strip("/")
    roots = [ROOT] if _unified() else [p for p in ROOT.iterdir() if p.is_dir()]
    for root in roots:
        group = root / relative
        if group.is_dir():
            for child in sorted(group.rglob("*"), reverse=True):  # containers' groups Docker left
                if child.is_dir():
                    _rmdir(child)
            _rmdir(group)


def _rmdir(path: Path) -> None:
    try:
        os.rmdir(path)
    except OSError as exc:
        log.debug("cgroup %s not removed: %s", path, exc)
