"""The daemon scheduler's step: one daemon, one transaction.

Run by the service scheduler's loop (scheduler/service_reconciler.py) beside
the services, with the same machinery as a DAEMON service: the pure planner
`service_plans.plan_daemon` decides which instances get a task and which
tasks go (a daemon task leaves a DRAINING instance last; older revisions are
replaced a batch at a time), `control.launch.launch_on` starts them as
StartTask places, `control.release.stop_tasks` stops them.  What is
daemon-specific (revisions, deployments, the circuit breaker, bake time,
critical daemons) is in domain/daemon.py.
"""

from __future__ import annotations

import json
import logging

from ..control import daemons, launch, release
from ..control.context import Context
from ..control.launch_types import checked_launch
from ..domain import circuit_breaker, service_plans
from ..domain import daemon as rules
from ..domain.daemon import Daemon
from ..domain.documents import Doc
from ..domain.service import SERVICE_STOP_CODE
from ..store.failures import StoreBusy
from ..store.interface import NotLeader, StoreUnavailable

log = logging.getLogger("portside.daemons")



def stop_reason(daemon: Daemon) -> str:
    deployment = daemon.deployment() or {}
    return f"Scaling activity initiated by (daemon deployment {deployment.get('daemonDeploymentArn', '')})"


class DaemonReconciler:
    def __init__(self, ctx: Context, max_starts_per_tick: int = 250) -> None:
        self.ctx = ctx
        self.max_starts_per_tick = max_starts_per_tick

    def tick(self) -> bool:
        more = False
        for arn in daemons.to_reconcile(self.ctx):
            try:
                with self.ctx.store.fenced(self.ctx.leadership.fence):  # as the service scheduler, per daemon
                    more |= self.reconcile(arn)
            except (NotLeader, StoreUnavailable, StoreBusy):
                raise  # no other daemon would fare better
            except Exception:
                log.exception("reconciling %s failed", arn)
        return more

    def reconcile(self, arn: str) -> bool:
        ctx = self.ctx
        store = ctx.store
        with store.transaction():
            daemon = daemons.load(ctx, arn)
            if daemon is None or daemon.status not in ("ACTIVE", "DELETE_IN_PROGRESS"):
                return False
            before = json.dumps(daemon.to_record(), sort_keys=True)
            cluster = store.get_cluster(daemon.cluster_arn.rsplit("/", 1)[-1])
            if cluster is None:
                return False
            now = ctx.clock.now()
            self._count_failures(daemon, now)
            where, active, docs = daemons.instances(ctx, daemon)
            if rules.trip_breaker(daemon, len(active), now):
                log.warning("daemon %s: circuit breaker tripped", daemon.name)
            live = daemons.tasks(ctx, daemon)
            more = self._apply(daemon, cluster, live, where, active, docs, now)
            live = daemons.tasks(ctx, daemon)
            rules.advance(daemon, live, active, where, now)
            if json.dumps(daemon.to_record(), sort_keys=True) != before:
                daemons.save(ctx, daemon)
        return more

    def _count_failures(self, daemon: Daemon, now: float) -> None:
        """Tasks of the daemon that stopped by themselves (or failed their
        health check) since the last look: the circuit breaker counts them,
        and a critical daemon's instance is drained, as ECS documents."""
        stopped = self.ctx.store.service_tasks_stopped_since(daemon.cluster_arn, daemon.group,
                                                             daemon.memory.stopped_watermark)
        for task in stopped:
            daemon.memory.stopped_watermark = max(daemon.memory.stopped_watermark, task["stoppedAt"])
            failed = circuit_breaker.failed(task)
            if not failed:
                continue
            rules.count_failure(daemon, task.get("startedBy"), now)
            instance = self.ctx.placement.get_instance(task.get("containerInstanceArn") or "")  # a copy
            if daemon.settings.get("critical", True) and instance is not None and instance["status"] == "ACTIVE":
                instance["status"] = "DRAINING"
                instance["version"] += 1
                self.ctx.placement.put_instance(instance)
                log.warning("daemon %s: its task on %s stopped (%s); the instance is DRAINING (critical daemon)",
                            daemon.name, instance["containerInstanceArn"], task.get("stoppedReason"))

    def _apply(self, daemon: Daemon, cluster: Doc, live: list[service_plans.LiveTask], where: dict,
               active: list[str], docs: dict[str, Doc], now: float) -> bool:
        serving = daemon.target is not None
        leaving = [i for i in service_plans.daemon_leaving(live, active, serving) if i]
        draining = [i for i in leaving if (docs.get(i) or {}).get("status") == "DRAINING"]
        counts = self.ctx.store.instance_task_counts(draining) if serving and draining else {}
        live_on_leaving: dict[str, int] = {}
        for (instance, _status), n in counts.items():
            live_on_leaving[instance] = live_on_leaving.get(instance, 0) + n
        waiting = rules.baking(daemon, live, now)
        plan = service_plans.plan_daemon(
            serving, daemon.started_by(daemon.target) or "", 0, live, active, live_on_leaving,
            may_start=rules.may_start(daemon),
            replace_at_once=0 if waiting else rules.replace_at_once(daemon.configuration, len(active)),
        )
        old = daemon.started_by(daemon.target)
        if any(t.started_by != old for t in plan.stop):
            daemon.memory.step_open = True
        if plan.stop:
            release.stop_tasks(self.ctx, [t.arn for t in plan.stop], stop_reason(daemon), SERVICE_STOP_CODE, now)
        if plan.start_on and daemon.target is not None:
            self._launch(daemon, cluster, [docs[i] for i in plan.start_on[: self.max_starts_per_tick]])
        return len(plan.start_on) > self.max_starts_per_tick

    def _launch(self, daemon: Daemon, cluster: Doc, instances: list[Doc]) -> None:
        assert daemon.target is not None
        revision = daemon.revisions[daemon.target]
        definition = daemons.runnable_definition(self.ctx, revision["daemonTaskDefinitionArn"])
        if definition is None:
            return
        params = {"startedBy": daemon.started_by(daemon.target), "group": daemon.group,
                  "enableExecuteCommand": revision["enableExecuteCommand"], "launchType": "EC2"}
        tags = daemon.tags if revision["propagateTags"] == "DAEMON" else []
        by_provider: dict[str, list[Doc]] = {}
        for doc in instances:  # its tasks show the capacity provider of their instance
            by_provider.setdefault(doc.get("capacityProviderName") or "", []).append(doc)
        failures: list[dict[str, str]] = []
        for provider, docs in by_provider.items():
            launched = checked_launch(definition, params, "EC2", provider or None)
            failures += launch.launch_on(self.ctx, cluster, definition, params, docs, tags, launched)[1]
        if failures:
            log.info("daemon %s could not place a task: %s", daemon.name, failures[:3])
