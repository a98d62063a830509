"""The service scheduler: a reconcile loop in the server.

Every tick (and at once when nudged: a service changed, or one of its tasks
changed status) each ACTIVE or DRAINING service that is due is compared with
its tasks in one transaction.  A service is due when a change nudged it (or
nudged every service: an instance registered, drained or left), when it is not
yet steady (a deployment under way, a task starting or failing, a throttle or
a placement to retry), and otherwise every IDLE_RECHECK_S; the tick gives the
event loop back every SLICE_S.  (Reconciling every service on every tick held
the loop 190-280 ms a second with 1,000 idle services.)  For each:

- REPLICA keeps `desiredCount` tasks of the PRIMARY deployment, starting them
  through control/launch.py (startedBy = the deployment id, group =
  `service:NAME`) and stopping older deployments' tasks and tasks on instances
  that are no longer ACTIVE, within minimumHealthyPercent / maximumPercent
  (domain/service.py has the arithmetic);
- DAEMON keeps one task of the PRIMARY deployment on every ACTIVE instance;
- tasks that stopped by themselves count against an IN_PROGRESS deployment;
  the circuit breaker fails it at its threshold and, with rollback, starts a
  deployment of the last COMPLETED task definition;
- a deployment whose tasks are all gone goes INACTIVE; a PRIMARY with exactly
  its desired tasks RUNNING and nothing else left is COMPLETED, and the
  service reports a steady state;
- a DRAINING (deleted) service becomes INACTIVE once its tasks are gone.

Everything the loop knows lives in the store (the service document and the
tasks), so a restarted server resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from ..control import launch, release, task_protection, task_tags
from ..control import service_deployments as deployment_history
from ..control.context import Context
from ..control.launch_types import fargate_pool, launch_params, on_fargate
from ..control.lookup import task_definition as resolve_task_definition
from ..control.services import not_yet_healthy, task_rows
from ..domain import circuit_breaker, health, lifecycle, service_plans
from ..domain import service as services
from ..domain import task_set as task_sets
from ..domain.documents import Doc
from ..domain.service_plans import LiveTask
from ..domain.service_record import CompletedDeployment, SchedulerMemory, service_group
from ..metrics import RECONCILE_SECONDS, SERVICES_RECONCILED
from ..store.failures import StoreBusy
from ..store.interface import NotLeader, StoreUnavailable
from .daemon_reconciler import DaemonReconciler

log = logging.getLogger("portside.services")


EVENT_TASK_IDS = 10  # task ids named in one "has started" / "has stopped" event
UNPLACEABLE_EVENT_EVERY_S = 30.0
# Tasks that keep stopping by themselves are restarted less and less often
# (ECS's service throttle): after THROTTLE_AFTER failures in a row, wait
# tick × 2^(n - THROTTLE_AFTER), at most THROTTLE_MAX_S, since the last one.
THROTTLE_AFTER = 3
THROTTLE_MAX_S = 900.0
# A steady service nothing nudged is looked at again this often (a safety net
# for a change no nudge names); one that is not steady, on every tick.
IDLE_RECHECK_S = 30.0
# The tick gives the event loop back after this much work (one service's
# transaction is a few milliseconds).
SLICE_S = 0.01


@dataclass(frozen=True)
class Reconciled:
    more: bool = False  # has more to do at once (starts beyond max_starts_per_tick)
    quiet: bool = False  # steady, nothing to do: due again only when nudged or after IDLE_RECHECK_S


class ServiceReconciler:
    def __init__(self, ctx: Context, interval: float = 1.0, max_starts_per_tick: int = 250) -> None:
        self.ctx = ctx
        self.interval = interval
        self.max_starts_per_tick = max_starts_per_tick
        self.min_gap = min(0.1, interval / 2)
        self._due: dict[str, float] = {}  # service ARN → when it is next due (absent: now)
        self._waiting_for_lock = False
        self._carried: tuple[bool, set[str]] = (False, set())  # nudges a tick could not serve (the lock)
        self.daemons = DaemonReconciler(ctx, max_starts_per_tick)  # daemons: every tick (they are few)

    async def run(self) -> None:
        nudges = self.ctx.service_wakeup
        while True:
            try:
                await asyncio.wait_for(nudges.event.wait(), self.interval)
            except TimeoutError:
                pass
            if not self.ctx.leadership.leading:  # another server runs the scheduler (control/leadership.py)
                nudges.take()
                self._due.clear()  # when this server leads again, it looks at every service
                continue
            try:
                with RECONCILE_SECONDS.time():
                    more = await self.tick()
            except (NotLeader, StoreUnavailable) as exc:  # the lease or the database is lost: not a bug
                log.warning("reconciling services stopped: %s", exc)
                self._due.clear()  # whoever leads next looks at everything
                more = False
            except Exception:  # the loop must outlive one bad tick
                log.exception("reconciling services failed")
                more = False
            if more:
                nudges.event.set()
            await asyncio.sleep(self.min_gap)

    async def tick(self) -> bool:
        """Reconcile every live service that is nudged or due, giving the loop
        back every SLICE_S; True when some has more to do now."""
        everything, nudged = self.ctx.service_wakeup.take()
        everything, nudged = everything or self._carried[0], nudged | self._carried[1]
        self._carried = (False, set())
        now = self.ctx.clock.now()
        arns = self.ctx.store.live_service_arns()
        if len(self._due) > len(arns):
            live = set(arns)
            self._due = {arn: due for arn, due in self._due.items() if arn in live}
        more = False
        slice_started = time.perf_counter()
        for arn in arns:
            if not (everything or arn in nudged or self._due.get(arn, 0.0) <= now):
                continue
            try:
                # fenced per service, not across the tick: requests served while it yields are not the leader's
                with self.ctx.store.fenced(self.ctx.leadership.fence):
                    done = self.reconcile(arn)
            except StoreBusy:  # another process holds the database's write lock: next tick
                if not self._waiting_for_lock:
                    log.warning("the service scheduler waits: another process holds the database's write lock")
                self._waiting_for_lock = True
                self._carried = (everything, nudged)
                return False
            except (NotLeader, StoreUnavailable):
                self._carried = (True, set())
                raise  # no other service would fare better
            except Exception:
                log.exception("reconciling %s failed", arn)
                done = Reconciled()
            self._waiting_for_lock = False
            SERVICES_RECONCILED.inc()
            self._due[arn] = now + IDLE_RECHECK_S if done.quiet else 0.0
            more |= done.more
            if time.perf_counter() - slice_started > SLICE_S:
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
        try:
            more |= self.daemons.tick()
        except StoreBusy:  # another process holds the database's write lock: next tick
            return more
        return more

    # -- one service ----------------------------------------------------------------

    def reconcile(self, arn: str) -> Reconciled:
        store = self.ctx.store
        with store.transaction():
            service = store.get_service(arn)
            if service is None or service["status"] not in ("ACTIVE", "DRAINING"):
                return Reconciled()
            memory = store.get_service_memory(arn)
            before = json.dumps(service, sort_keys=True), memory.to_record()
            cluster = store.get_cluster(service["clusterArn"].rsplit("/", 1)[1])
            if cluster is None:
                return Reconciled()
            now = self.ctx.clock.now()
            self._count_failures(service, memory, now)
            instances = self.ctx.placement.list_instances(service["clusterArn"], ("ACTIVE", "DRAINING"))
            active = {d["containerInstanceArn"]: d for d in instances if d["status"] == "ACTIVE"}
            if on_fargate(self.ctx, service):  # its tasks run on Portside's Fargate capacity
                active = fargate_pool(self.ctx)[1]
            live = self._live(service)
            if task_sets.is_external(service):  # the EXTERNAL controller: task sets, no deployments
                more = self._task_sets(service, memory, cluster, live, active, now)
                if (json.dumps(service, sort_keys=True), memory.to_record()) != before:
                    store.put_service(service, memory)
                return Reconciled(more)
            self._reset_on_healthy(service, memory, live, now)
            self._circuit_breaker(service, memory, now)
            if service["schedulingStrategy"] == "DAEMON":
                more = self._daemon(service, memory, cluster, live, active, now)
            else:
                more = self._replica(service, memory, cluster, live, active, now)
            self._bookkeeping(service, memory, now)
            if (json.dumps(service, sort_keys=True), memory.to_record()) != before:
                deployment_history.sync(store, self.ctx.arns, service, now, memory.lifecycle)
                store.put_service(service, memory)
        quiet = (service["status"] == "ACTIVE" and memory.steady and not memory.fail_streak and not more)
        return Reconciled(more, quiet)

    def _count_failures(self, service: Doc, memory: SchedulerMemory, now: float) -> None:
        stopped = self.ctx.store.service_tasks_stopped_since(
            service["clusterArn"], service["serviceName"], memory.stopped_watermark
        )
        if not stopped:
            return
        by_id = {d["id"]: d for d in service["deployments"]}
        for task in stopped:
            memory.stopped_watermark = max(memory.stopped_watermark, task["stoppedAt"])
            deployment = by_id.get(task.get("startedBy"))
            failed = circuit_breaker.failed(task)
            if deployment is None or not failed:
                continue
            if deployment.get("rolloutState") == "IN_PROGRESS":
                deployment["failedTasks"] = deployment.get("failedTasks", 0) + 1
                deployment["updatedAt"] = now
            memory.fail_streak += 1
            memory.failed_at = now
            if memory.fail_streak == THROTTLE_AFTER:
                services.add_event(service, f"(service {service['serviceName']}) is unable to consistently "
                                   "start tasks successfully.", now)

    def _reset_on_healthy(self, service: Doc, memory: SchedulerMemory, live: list[LiveTask], now: float) -> None:
        """resetOnHealthyTask (true unless set false): a task of the
        IN_PROGRESS deployment that reaches a healthy state (healthStatus
        HEALTHY) sets its failure count back to 0.  A task without a health
        check stays UNKNOWN, so it never resets the count: a container that
        runs for a moment and exits (`exit 1`) must still trip the breaker."""
        breaker = service["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        current = services.primary(service) if service["deployments"] else {}
        if (not breaker.get("enable") or current.get("rolloutState") != "IN_PROGRESS"
                or not health.has_check(resolve_task_definition(self.ctx, current["taskDefinition"]))):
            memory.healthy_seen = []
            return
        memory.healthy_seen, reached = circuit_breaker.newly_healthy(memory.healthy_seen, live, current["id"])
        if reached and circuit_breaker.resets_on_healthy_task(breaker) and current.get("failedTasks"):
            current["failedTasks"] = 0
            current["updatedAt"] = now

    def _throttled(self, memory: SchedulerMemory, now: float) -> bool:
        streak = memory.fail_streak
        if streak < THROTTLE_AFTER:
            return False
        delay = min(self.interval * 2 ** (streak - THROTTLE_AFTER), THROTTLE_MAX_S)
        return now < memory.failed_at + delay

    def _circuit_breaker(self, service: Doc, memory: SchedulerMemory, now: float) -> None:
        breaker = service["deploymentConfiguration"].get("deploymentCircuitBreaker") or {}
        current = services.primary(service)
        if not breaker.get("enable") or current.get("rolloutState") != "IN_PROGRESS":
            return
        if current.get("failedTasks", 0) < circuit_breaker.threshold(breaker, service["desiredCount"]):
            return
        name = service["serviceName"]
        current["rolloutState"] = "FAILED"
        current["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        current["updatedAt"] = now
        services.add_event(service, f"(service {name}) (deployment {current['id']}) deployment failed: "
                           "tasks failed to start.", now)
        last = memory.last_completed
        if breaker.get("rollback") and last and last.id != current["id"] and service["status"] == "ACTIVE":
            reason = f"ECS deployment circuit breaker: rolling back to deploymentId {last.id}."
            rollback = services.start_deployment(service, memory, last.task_definition, now, reason)
            services.add_event(service, f"(service {name}) (deployment {rollback['id']}) rolling back to "
                               f"deployment {last.id}.", now)

    # -- REPLICA ----------------------------------------------------------------------

    def _replica(self, service: Doc, memory: SchedulerMemory, cluster: Doc, live: list[LiveTask],
                 active: dict[str, Doc],
                 now: float) -> bool:
        current = services.primary(service)
        config = service["deploymentConfiguration"]
        desired = service["desiredCount"] if service["status"] == "ACTIVE" else 0
        may_start = (service["status"] == "ACTIVE" and current.get("rolloutState") != "FAILED"
                     and not self._throttled(memory, now))
        if (config.get("strategy") == "BLUE_GREEN" and service["status"] == "ACTIVE"
                and current.get("rolloutState") == "IN_PROGRESS"):
            return self._blue_green(service, memory, cluster, live, active, desired, may_start, now)
        plan = services.plan_replica(
            desired, config.get("minimumHealthyPercent", 100), config.get("maximumPercent", 200),
            current["id"], live, set(active),
            may_start=(service["status"] == "ACTIVE" and current.get("rolloutState") != "FAILED"
                       and not self._throttled(memory, now)),
        )
        self._stop(service, memory, plan.stop, now)
        count = min(plan.start, self.max_starts_per_tick)
        if count:
            self._launch(service, memory, cluster, count, now)
        return plan.start > count

    def _launch(self, service: Doc, memory: SchedulerMemory, cluster: Doc, count: int, now: float,
                of: Doc | None = None) -> None:
        """Start `count` tasks of the primary deployment (or of the task set `of`)."""
        current = of or services.primary(service)
        definition = resolve_task_definition(self.ctx, current["taskDefinition"])
        if definition is None:
            return
        params = {
            "startedBy": current["id"],
            "group": service_group(service["serviceName"]),
            "enableExecuteCommand": service.get("enableExecuteCommand", False),
            **launch_params(service),
        }
        if not on_fargate(self.ctx, service):  # Fargate places on its own capacity
            params["placementStrategy"] = service.get("placementStrategy") or services.DEFAULT_REPLICA_STRATEGY
            params["placementConstraints"] = service.get("placementConstraints") or []
        strategy = params.pop("capacityProviderStrategy", None)
        tags = task_tags.for_service(self.ctx, cluster, service, definition)
        if strategy:
            created, failures = launch.launch_by_strategy(self.ctx, cluster, definition, params, count, strategy,
                                                          tags, running=self._per_provider(service))
        else:
            created, failures = launch.launch_tasks(self.ctx, cluster, definition, params, count, tags)
        arns = [json.loads(doc)["taskArn"] for doc in created]
        self._started_events(service, memory, arns, now)
        if len(arns) < count:
            self._unplaceable(service, memory, failures, now)

    def _blue_green(self, service: Doc, memory: SchedulerMemory, cluster: Doc, live: list[LiveTask],
                    active: dict[str, Doc], desired: int, may_start: bool, now: float) -> bool:
        """A BLUE_GREEN deployment's tick (domain/lifecycle.py): green in full,
        the stages and their PAUSE hooks, then blue stopped; a hook timing out
        with ROLLBACK returns to blue."""
        current = services.primary(service)
        if memory.lifecycle is None or memory.lifecycle.deployment_id != current["id"]:
            blue = {t.started_by for t in live if t.wanted and t.started_by != current["id"]}
            memory.lifecycle = lifecycle.start(current["id"], len(blue), now)
        step = lifecycle.plan_blue_green(memory.lifecycle, service["deploymentConfiguration"], desired,
                                         current["id"], live, set(active), may_start, now)
        if step.rollback:
            if deployment_history.roll_back_blue_green(self.ctx.store, self.ctx.arns, service, memory,
                                                       step.rollback, now) is None:
                current["rolloutState"] = "FAILED"
                current["rolloutStateReason"] = step.rollback
                current["updatedAt"] = now
            return True
        self._stop(service, memory, step.stop, now)
        count = min(step.start, self.max_starts_per_tick)
        if count:
            self._launch(service, memory, cluster, count, now)
        return step.start > count

    # -- EXTERNAL (task sets) ------------------------------------------------------------

    def _task_sets(self, service: Doc, memory: SchedulerMemory, cluster: Doc, live: list[LiveTask],
                   active: dict[str, Doc], now: float) -> bool:
        plan = task_sets.plan_task_sets(service, live, set(active))
        by_set: dict[str | None, list[LiveTask]] = {}
        for t in plan.stop:
            by_set.setdefault(t.started_by, []).append(t)
        for started_by, stopping in by_set.items():  # "Scaling activity initiated by (deployment TASK SET ID)"
            self._stop(service, memory, stopping, now, reason=services.stop_reason(started_by or "unknown"))
        budget = self.max_starts_per_tick
        for task_set, count in plan.start:
            if budget <= 0:
                return True
            self._launch(service, memory, cluster, min(count, budget), now, of=task_set)
            budget -= count
        task_sets.bookkeeping(service, self._live(service), now)
        return False

    # -- DAEMON -----------------------------------------------------------------------

    def _daemon(self, service: Doc, memory: SchedulerMemory, cluster: Doc, live: list[LiveTask],
                active: dict[str, Doc], now: float) -> bool:
        current = services.primary(service)
        serving = service["status"] == "ACTIVE"
        leaving = [i for i in service_plans.daemon_leaving(live, list(active), serving) if i]
        counts = self.ctx.store.instance_task_counts(leaving) if serving and leaving else {}
        live_on_leaving: dict[str, int] = {}
        for (instance, _status), n in counts.items():
            live_on_leaving[instance] = live_on_leaving.get(instance, 0) + n
        plan = service_plans.plan_daemon(
            serving, current["id"], service["deploymentConfiguration"].get("minimumHealthyPercent", 0),
            live, list(active), live_on_leaving,
            may_start=current.get("rolloutState") != "FAILED" and not self._throttled(memory, now),
        )
        if service["desiredCount"] != plan.desired:
            service["desiredCount"] = current["desiredCount"] = plan.desired
        self._stop(service, memory, plan.stop, now)
        if plan.start_on:
            targets = [active[i] for i in plan.start_on[: self.max_starts_per_tick]]
            self._launch_daemons(service, memory, cluster, targets, now)
        return len(plan.start_on) > self.max_starts_per_tick

    def _launch_daemons(self, service: Doc, memory: SchedulerMemory, cluster: Doc, instances: list[Doc],
                        now: float) -> None:
        current = services.primary(service)
        definition = resolve_task_definition(self.ctx, current["taskDefinition"])
        if definition is None:
            return
        params = {"startedBy": current["id"], "group": service_group(service["serviceName"]),
                  "enableExecuteCommand": service.get("enableExecuteCommand", False),
                  "placementConstraints": service.get("placementConstraints"),
                  **launch_params(service)}
        # as StartTask places: on the instance named, its constraints still bind
        tags = task_tags.for_service(self.ctx, cluster, service, definition)
        created, failures = launch.launch_on(self.ctx, cluster, definition, params, instances, tags)
        self._started_events(service, memory, [json.loads(doc)["taskArn"] for doc in created], now)
        if failures:
            self._unplaceable(service, memory, failures, now)

    # -- shared -----------------------------------------------------------------------

    def _live(self, service: Doc) -> list[LiveTask]:
        """The service's tasks not yet STOPPED: those its deployments started
        (a RunTask with group `service:NAME` is listed with the service but is
        not the scheduler's to stop).  Tasks left on a deregistered instance
        are orphans no agent will report on again: replaced, never waited for."""
        rows = task_rows(self.ctx, service)
        waiting = not_yet_healthy(self.ctx, service, rows)
        return [LiveTask(*row, healthy=row[0] not in waiting) for row in rows]

    def _per_provider(self, service: Doc) -> dict[str, int]:
        """The service's live tasks per capacity provider (for the strategy's split)."""
        counts: dict[str, int] = {}
        for live in self._live(service):
            if not live.wanted:
                continue
            task = self.ctx.store.get_task(live.arn) or {}
            name = task.get("capacityProviderName")
            if name:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def _stop(self, service: Doc, memory: SchedulerMemory, doomed: list[LiveTask], now: float,
              reason: str | None = None) -> None:
        if not doomed:
            return
        reason = reason or services.stop_reason(services.primary(service)["id"])
        arns = [live.arn for live in doomed]
        kept = task_protection.protected(self.ctx, arns, now)  # scale-in protection: not until it expires
        stopped = release.stop_tasks(self.ctx, [a for a in arns if a not in kept], reason,
                                     services.SERVICE_STOP_CODE, now)
        for i in range(0, len(stopped), EVENT_TASK_IDS):
            services.add_event(service, services.stopped_message(service["serviceName"],
                                                                 stopped[i:i + EVENT_TASK_IDS]), now)
        if stopped:
            memory.steady = False

    def _started_events(self, service: Doc, memory: SchedulerMemory, arns: list[str], now: float) -> None:
        for i in range(0, len(arns), EVENT_TASK_IDS):
            services.add_event(service, services.started_message(service["serviceName"],
                                                                 arns[i:i + EVENT_TASK_IDS]), now)
        if arns:
            memory.steady = False

    def _unplaceable(self, service: Doc, memory: SchedulerMemory, failures: list[dict[str, str]],
                     now: float) -> None:
        message = services.unplaceable_message(service["serviceName"], failures)
        if (message == memory.unplaceable_message
                and now - memory.unplaceable_at < UNPLACEABLE_EVENT_EVERY_S):
            return  # the same news at most every 30 s
        memory.unplaceable_message, memory.unplaceable_at = message, now
        services.add_event(service, message, now)

    def _bookkeeping(self, service: Doc, memory: SchedulerMemory, now: float) -> None:
        """Counts per deployment; INACTIVE deployments, COMPLETED rollouts,
        steady state, and the end of a deleted service (service_plans.plan_rollout)."""
        current = services.primary(service)
        step = service_plans.plan_rollout(service["status"], service["desiredCount"], service["deployments"],
                                          self._live(service), memory.steady, memory.fail_streak,
                                          memory.settled_since, now,
                                          max(service_plans.STABLE_AFTER_S, 3 * self.interval))
        memory.settled_since = step.settled_since
        by_id = {d["id"]: d for d in service["deployments"]}
        service["deployments"] = [by_id[i] for i in step.kept]
        for deployment_id, wanted in step.desired.items():
            by_id[deployment_id]["desiredCount"] = wanted
        for deployment in service["deployments"]:
            counts = step.counts[deployment["id"]]
            if (deployment["runningCount"], deployment["pendingCount"]) != counts:
                deployment["runningCount"], deployment["pendingCount"] = counts
                deployment["updatedAt"] = now
        service["runningCount"], service["pendingCount"] = step.running, step.pending
        if service["status"] == "DRAINING":
            if step.drained:
                service["status"] = "INACTIVE"
                for deployment in service["deployments"]:
                    if deployment is not current:
                        deployment["status"] = "INACTIVE"
            return
        name = service["serviceName"]
        if not lifecycle.completing(memory.lifecycle, current["id"]):  # BLUE_GREEN: only after CLEAN_UP
            step.completed = step.settled = step.became_steady = False
        if step.completed:
            current["rolloutState"] = "COMPLETED"
            current["rolloutStateReason"] = f"ECS deployment {current['id']} completed."
            current["updatedAt"] = now
            memory.last_completed = CompletedDeployment(current["id"], current["taskDefinition"])
            services.add_event(service, f"(service {name}) (deployment {current['id']}) deployment completed.", now)
        if step.settled:
            memory.fail_streak = 0
        if step.became_steady:
            memory.steady = True
            services.add_event(service, services.steady_message(name), now)
        elif not step.settled:
            memory.steady = False
