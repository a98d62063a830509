"""What placement reads on every call, kept in memory: each cluster's
container instances, what their live tasks hold (and so their free capacity),
and which task groups run where.

This is the scheduler's, not the store's: the store keeps rows (instance
documents, each task's reservation and group) and says when what it returned
may be stale (`generation`: another process committed, a transaction rolled
back); this cache derives the rest when it loads a cluster and keeps it up to
date as tasks are placed and stopped (`hold`).  Servers sharing a database say
more: what each placement and stop of the others did to which instance
(`changed_holdings`, told by each server's `hold` through `holding_changed`),
applied here as if placed here, and which instances' documents they changed
(`changed_instances`, told by `put_instance`), read again; so two servers
placing at once neither rebuild each other's whole cache nor re-read tasks.  The tasks' reservations are
the durable truth and a restart derives it all again.

Writes of instances go through `put_instance` here (written through to the
store), so the cached documents stay true.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from ..domain.documents import Doc
from ..domain.resources import Capacity, Reservation, host_port_range


class PlacementSource(Protocol):
    """What the cache needs of the store (`store.interface.Store` has it all)."""

    def generation(self) -> int: ...
    def instance_changed(self, arn: str) -> None: ...
    def changed_instances(self) -> set[str]: ...
    def holding_changed(self, instance_arn: str, reservation: Doc, group: str, times: int) -> None: ...
    def changed_holdings(self) -> list[tuple[str, Doc, str, int]]: ...
    def instance_documents(self, cluster_arn: str) -> list[tuple[str, Doc]]: ...
    def instance_documents_of(self, arns: list[str]) -> list[tuple[str, Doc]]: ...
    def live_holdings(self, cluster_arn: str) -> Iterable[tuple[str, Doc, str | None]]: ...
    def live_holdings_of(self, instance_arns: list[str]) -> Iterable[tuple[str, Doc, str | None]]: ...
    def put_instance(self, doc: Doc) -> None: ...


class PlacementCache:
    def __init__(self, source: PlacementSource) -> None:
        self._source = source
        self._generation = -1
        self._instances: dict[str, dict[str, Doc]] = {}  # cluster ARN → ARN → doc
        self._held: dict[str, Capacity] = {}  # instance ARN → what its live tasks hold
        self._free: dict[str, Capacity] = {}  # instance ARN → registered less held
        self._stale: set[str] = set()  # instances whose cached remainingResources lags _free
        # cluster ARN → task group → instance ARN → live tasks of the group there
        self._groups: dict[str, dict[str, Counter[str]]] = {}
        self._pools: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (cluster, statuses) → ARNs

    def _check(self) -> set[str]:
        """Drop everything if the store says it may be stale; reload the
        instances another server changed (returned: what was read again)."""
        generation = self._source.generation()
        if generation != self._generation:
            self._generation = generation
            self._instances.clear()
            self._held.clear()
            self._free.clear()
            self._stale.clear()
            self._groups.clear()
            self._pools.clear()
        changed = self._source.changed_instances()
        reloaded = self._reload(changed) if changed else changed
        for arn, reservation, group, times in self._source.changed_holdings():
            cluster_arn = instance_cluster(arn)
            # (a cluster not cached is read whole when needed; an instance read again already counts it)
            if cluster_arn in self._instances and arn not in reloaded:
                self._apply(cluster_arn, arn, Reservation.from_doc(reservation), group, times < 0, abs(times))
        return reloaded

    def _reload(self, arns: set[str]) -> set[str]:
        """Read again these instances' documents and live tasks (those of
        clusters cached; the others are read whole when first needed)."""
        wanted = sorted(arn for arn in arns if instance_cluster(arn) in self._instances)
        if not wanted:
            return set()
        clusters = {instance_cluster(arn) or "" for arn in wanted}
        for cluster_arn in clusters:
            groups = self._groups[cluster_arn]
            for group in list(groups):
                counts = groups[group]
                for arn in wanted:
                    counts.pop(arn, None)
                if not counts:
                    del groups[group]
            for key in [k for k in self._pools if k[0] == cluster_arn]:
                del self._pools[key]
        for arn in wanted:
            self._held.pop(arn, None)
        for holder, reservation, task_group in self._source.live_holdings_of(wanted):
            self._held.setdefault(holder, Capacity.empty()).hold(Reservation.from_doc(reservation))
            self._groups[instance_cluster(holder) or ""].setdefault(task_group or "", Counter())[holder] += 1
        docs = dict(self._source.instance_documents_of(wanted))
        for arn in wanted:
            cached = self._instances[instance_cluster(arn) or ""]
            doc = docs.get(arn)
            if doc is None:  # not (or no longer) registered
                cached.pop(arn, None)
                self._free.pop(arn, None)
                self._stale.discard(arn)
            else:
                cached[arn] = self._with_remaining(doc)
        return set(wanted)

    def _cluster_instances(self, cluster_arn: str) -> dict[str, Doc]:
        """The cluster's instance documents, cached (their `remainingResources`
        may lag: readers outside go through `_current`)."""
        self._check()
        cached = self._instances.get(cluster_arn)
        if cached is None:
            held: dict[str, Capacity] = {}
            groups: dict[str, Counter[str]] = {}
            for arn, reservation, group in self._source.live_holdings(cluster_arn):
                held.setdefault(arn, Capacity.empty()).hold(Reservation.from_doc(reservation))
                groups.setdefault(group or "", Counter())[arn] += 1
            self._held.update(held)
            self._groups[cluster_arn] = groups
            cached = self._instances[cluster_arn] = {}
            for arn, doc in self._source.instance_documents(cluster_arn):
                cached[arn] = self._with_remaining(doc)
        return cached

    def _with_remaining(self, doc: Doc) -> Doc:
        """The document with `remainingResources` as the instance's free capacity now."""
        arn = doc["containerInstanceArn"]
        free = self._free[arn] = Capacity.free(doc["registeredResources"], self._held.get(arn), host_port_range(doc))
        doc["remainingResources"] = free.to_resources()
        self._stale.discard(arn)
        return doc

    def _current(self, cached: dict[str, Doc], arn: str) -> Doc:
        """The cached document of `arn`, its remainingResources brought up to date."""
        doc = cached[arn]
        if arn in self._stale:
            doc = cached[arn] = self._with_remaining(dict(doc))
        return doc

    def get_instance(self, arn: str) -> Doc | None:
        """A shallow copy of the instance's document: callers replace its
        members (never change them in place) and put it back."""
        cluster_arn = instance_cluster(arn)
        cached = self._cluster_instances(cluster_arn) if cluster_arn else {}
        return dict(self._current(cached, arn)) if arn in cached else None

    def put_instance(self, doc: Doc) -> None:
        """Write the instance to the store and keep its cached copy true."""
        self._source.put_instance(doc)
        self._source.instance_changed(doc["containerInstanceArn"])
        cached = self._cluster_instances(doc["clusterArn"])
        before = cached.get(doc["containerInstanceArn"])
        if before is None or before["status"] != doc["status"]:  # membership changed
            for key in [k for k in self._pools if k[0] == doc["clusterArn"]]:
                del self._pools[key]
        cached[doc["containerInstanceArn"]] = self._with_remaining(dict(doc))

    def free_capacity(self, instance_arn: str) -> Capacity | None:
        """The instance's free capacity now, as a copy placement may debit."""
        cluster_arn = instance_cluster(instance_arn)
        if cluster_arn is None or instance_arn not in self._cluster_instances(cluster_arn):
            return None
        return self._free[instance_arn].copy()

    def hold(self, instance_arn: str, reservation: Reservation, group: str,
             release: bool = False, times: int = 1) -> None:
        """`times` tasks of `group` placed on (or, with release, stopped on)
        the instance: its free capacity and group counts follow.  Call it
        after writing the task rows: when the cluster is not cached yet,
        loading it derives both from those rows, and the change must not be
        applied a second time (nor when the instance was read again, another
        server having changed it, for the same reason)."""
        cluster_arn = instance_cluster(instance_arn)
        if cluster_arn is None:
            return
        reloaded = self._check()
        self._source.holding_changed(instance_arn, reservation.to_doc(), group, -times if release else times)
        if cluster_arn not in self._instances:
            self._cluster_instances(cluster_arn)
            return
        if instance_arn in reloaded:  # read again just now, from rows that hold the change already
            return
        self._apply(cluster_arn, instance_arn, reservation, group, release, times)

    def _apply(self, cluster_arn: str, instance_arn: str, reservation: Reservation, group: str,
               release: bool, times: int) -> None:
        """`hold` on a cached cluster (here, or told by another server)."""
        held = self._held.setdefault(instance_arn, Capacity.empty())
        free = self._free.get(instance_arn)  # None only for an instance not (or no longer) registered
        for _ in range(times):
            if release:
                held.unhold(reservation)
            else:
                held.hold(reservation)
                if free is not None:
                    free.reserve(reservation)
        if free is not None:
            if release:  # recounted: registered ports stay in use whatever tasks give back
                doc = self._instances[cluster_arn][instance_arn]
                self._free[instance_arn] = Capacity.free(doc["registeredResources"], held, host_port_range(doc))
            self._stale.add(instance_arn)
        counts = self._groups[cluster_arn].setdefault(group, Counter())
        counts[instance_arn] += -times if release else times
        if counts[instance_arn] <= 0:
            del counts[instance_arn]
            if not counts:
                del self._groups[cluster_arn][group]

    def list_instances(self, cluster_arn: str, statuses: tuple[str, ...]) -> list[Doc]:
        """The cluster's instances in these statuses, in registration order.
        Shared with the cache: read them, or copy before changing."""
        cached = self._cluster_instances(cluster_arn)
        return [self._current(cached, a) for a, d in list(cached.items()) if d["status"] in statuses]

    def instance_pool(self, cluster_arn: str, statuses: tuple[str, ...]) -> tuple[list[str], dict[str, Doc]]:
        """The ARNs of the cluster's instances in these statuses, in
        registration order, and the shared ARN → document map to read them
        from (read only; their remainingResources may lag: placement reads
        `free_capacity`).  The ARN list is kept until an instance joins or
        changes status, so placement need not walk every instance per call."""
        cached = self._cluster_instances(cluster_arn)
        key = (cluster_arn, statuses)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = [a for a, d in cached.items() if d["status"] in statuses]
        return pool, cached

    def group_task_counts(self, cluster_arn: str, group: str) -> dict[str, int]:
        """Instance ARN → live tasks of `group` on it."""
        self._cluster_instances(cluster_arn)
        return dict(self._groups[cluster_arn].get(group, {}))

    def task_groups_on_instances(self, cluster_arn: str, groups: Iterable[str] | None) -> dict[str, set[str]]:
        """Instance ARN → the groups of its live tasks (only `groups` when given)."""
        self._cluster_instances(cluster_arn)
        by_group = self._groups[cluster_arn]
        found: dict[str, set[str]] = {}
        for group in by_group if groups is None else groups:
            for arn in by_group.get(group, ()):
                found.setdefault(arn, set()).add(group)
        return found


def instance_cluster(arn: str) -> str | None:
    """The cluster ARN of a long-format container-instance ARN."""
    head, _, rest = arn.partition(":container-instance/")
    cluster, _, _ = rest.partition("/")
    return f"{head}:cluster/{cluster}" if head and cluster else None
