"""BLUE_GREEN deployments without a load balancer, and the PAUSE lifecycle
hooks that stop them at a stage, as pure functions.

A BLUE_GREEN deployment walks ECS's lifecycle stages (the ServiceDeployment
`lifecycleStage`): RECONCILE_SERVICE (only when more than one revision runs),
PRE_SCALE_UP, SCALE_UP (the green revision's tasks are started in full,
whatever maximumPercent says, and must all be RUNNING and healthy),
POST_SCALE_UP, the traffic stages (TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
PRE_PRODUCTION_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
POST_PRODUCTION_TRAFFIC_SHIFT: there is no load balancer here, so no traffic
moves and they pass at once), BAKE_TIME (both revisions run for
bakeTimeInMinutes), CLEAN_UP (the blue revision's tasks are stopped); the
deployment completes once only green is left.  A rollback before CLEAN_UP
returns to blue, whose tasks are still running.

A PAUSE hook pauses the deployment when it enters each of the hook's
`lifecycleStages`: the hook run is AWAITING_ACTION (with a `hookId`) until
ContinueServiceDeployment continues it (SUCCEEDED) or rolls the deployment
back, or its `timeoutConfiguration` (default 1440 minutes, ROLLBACK) takes
its action (TIMED_OUT).  AWS_LAMBDA hooks cannot run here and are refused.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from .documents import Doc
from .service_plans import LiveTask

STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
          "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")
NO_PAUSE = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")  # AWS: PAUSE hooks cannot be set there
DEFAULT_TIMEOUT_MINUTES = 1440
DEFAULT_TIMEOUT_ACTION = "ROLLBACK"
HOOK_TIMED_OUT = "Service deployment rolled back because lifecycle hook {hook} timed out."
HOOK_ROLLBACK = "Rollback initiated by ContinueServiceDeployment."


@dataclass
class HookRun:
    """One PAUSE hook paused at one stage of one deployment."""

    hook_id: str
    stage: str
    status: str  # AWAITING_ACTION, SUCCEEDED, FAILED, TIMED_OUT
    expires_at: float
    timeout_action: str

    def detail(self) -> Doc:
        """The LifecycleHookDetails shape."""
        return {"hookId": self.hook_id, "targetType": "PAUSE", "status": self.status,
                "expiresAt": self.expires_at, "timeoutAction": self.timeout_action}


@dataclass
class Lifecycle:
    """Where a BLUE_GREEN deployment is (kept in the scheduler's memory)."""

    deployment_id: str
    stage: str
    stage_at: float
    hooks: list[HookRun] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Lifecycle:
        return cls(record["deployment_id"], record["stage"], record["stage_at"],
                   [HookRun(**h) for h in record.get("hooks") or []])

    def awaiting(self) -> list[HookRun]:
        return [h for h in self.hooks if h.status == "AWAITING_ACTION"]

    def shown_stage(self) -> str:
        """The `lifecycleStage` reported: the ServiceDeployment shape has no
        PRE_PRODUCTION_TRAFFIC_SHIFT, so the stage before it is shown."""
        return "POST_TEST_TRAFFIC_SHIFT" if self.stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" else self.stage


def hooks_problem(config: Doc) -> str | None:
    """Why `deploymentConfiguration.lifecycleHooks` cannot be run here (None: they can)."""
    hooks = config.get("lifecycleHooks") or []
    if hooks and config.get("strategy") != "BLUE_GREEN":
        return ("Lifecycle hooks run at the stages of a BLUE_GREEN deployment: set "
                "deploymentConfiguration.strategy to BLUE_GREEN to use them.")
    for hook in hooks:
        kind = hook.get("targetType") or "AWS_LAMBDA"
        if kind == "AWS_LAMBDA":
            return ("AWS_LAMBDA lifecycle hooks are not supported by Portside: there is no AWS Lambda here to "
                    "invoke. Use targetType PAUSE and ContinueServiceDeployment.")
        for member in ("hookTargetArn", "roleArn", "hookDetails"):
            if hook.get(member) is not None:
                return f"{member} is not applicable to a lifecycle hook of targetType PAUSE."
        stages = hook.get("lifecycleStages") or []
        if not stages:
            return "A lifecycle hook must name its lifecycleStages."
        for stage in stages:
            if stage in NO_PAUSE:
                return f"PAUSE hooks cannot be configured at the {stage} lifecycle stage."
        timeout = hook.get("timeoutConfiguration") or {}
        minutes = timeout.get("timeoutInMinutes")
        if minutes is not None and minutes < 1:
            return "timeoutConfiguration.timeoutInMinutes must be at least 1."
    return None


def start(deployment_id: str, revisions_running: int, now: float) -> Lifecycle:
    """A new BLUE_GREEN deployment: RECONCILE_SERVICE only when more than one revision runs."""
    return Lifecycle(deployment_id, "RECONCILE_SERVICE" if revisions_running > 1 else "PRE_SCALE_UP", now)


@dataclass
class Step:
    start: int = 0  # green tasks to start now
    stop: list[LiveTask] = field(default_factory=list)
    rollback: str | None = None  # the reason, when a hook's timeout rolls the deployment back


def _open_hooks(lifecycle: Lifecycle, hooks: list[Doc], now: float) -> None:
    """Entering a stage: one AWAITING_ACTION run for each PAUSE hook of it."""
    if any(h.stage == lifecycle.stage for h in lifecycle.hooks):
        return  # opened already (and maybe resolved)
    for hook in hooks:
        if lifecycle.stage in (hook.get("lifecycleStages") or []):
            timeout = hook.get("timeoutConfiguration") or {}
            minutes = timeout.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES
            lifecycle.hooks.append(HookRun("ecs-pause-" + secrets.token_urlsafe(32), lifecycle.stage,
                                           "AWAITING_ACTION", now + 60.0 * minutes,
                                           timeout.get("action") or DEFAULT_TIMEOUT_ACTION))


def plan_blue_green(lifecycle: Lifecycle, config: Doc, desired: int, primary_id: str, tasks: list[LiveTask],
                    usable_instances: set[str], may_start: bool, now: float) -> Step:
    """One tick of a BLUE_GREEN deployment (the PRIMARY is green, every other
    deployment's tasks are blue): move through the stages as far as they let
    it, and say what to start and stop.  `lifecycle` is changed in place."""
    step = Step()
    hooks = [h for h in config.get("lifecycleHooks") or [] if (h.get("targetType") or "AWS_LAMBDA") == "PAUSE"]
    wanted = [t for t in tasks if t.wanted]
    green = [t for t in wanted if t.started_by == primary_id and t.instance_arn in usable_instances]
    displaced = [t for t in wanted if t.started_by == primary_id and t.instance_arn not in usable_instances]
    blue = [t for t in wanted if t.started_by != primary_id]
    step.stop.extend(displaced)
    scaled = STAGES.index(lifecycle.stage) >= STAGES.index("SCALE_UP")
    while True:
        _open_hooks(lifecycle, hooks, now)
        for run in lifecycle.awaiting():
            if now >= run.expires_at:
                run.status = "TIMED_OUT"
                if run.timeout_action == "ROLLBACK":
                    step.rollback = HOOK_TIMED_OUT.format(hook=run.hook_id)
                    return step
        if lifecycle.awaiting():
            break
        stage = lifecycle.stage
        if stage == "SCALE_UP":
            scaled = True
            if len(green) < desired or not all(t.running and t.healthy for t in green):
                break
        elif stage == "BAKE_TIME":
            if now < lifecycle.stage_at + 60.0 * (config.get("bakeTimeInMinutes") or 0):
                break
        elif stage == "CLEAN_UP":
            step.stop.extend(blue)
            break
        lifecycle.stage = STAGES[STAGES.index(stage) + 1]
        lifecycle.stage_at = now
    if scaled and may_start and len(green) < desired:
        step.start = desired - len(green)
    return step


def completing(lifecycle: Lifecycle | None, primary_id: str) -> bool:
    """Whether the PRIMARY may complete: a BLUE_GREEN deployment only at CLEAN_UP."""
    return lifecycle is None or lifecycle.deployment_id != primary_id or lifecycle.stage == "CLEAN_UP"
