"""`GET /metrics`: Prometheus text, from prometheus-client.

Counters and histograms are counted where things happen (`portside/metrics.py`);
the state gauges (tasks by cluster and last status, services' desired and
running counts, deployments in progress, container instances and connected
agents) are read at scrape time through the API's own operations (`inproc`),
so they always agree with what DescribeServices and friends answer.  On
PostgreSQL the connection pool's figures (`PostgresStore.pool_stats`, from
psycopg_pool's own counters) are read at scrape time too.

Who may scrape: anyone on loopback when the server has no `--credentials`
(the API is open there too); with them, `Authorization: Bearer TOKEN` with the
token of `--metrics-token FILE`, or a SigV4-signed GET by an admin key.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..metrics import REGISTRY
from ..protocol import errors
from ..protocol.auth import Authenticator, is_loopback_host
from ..store.interface import PoolStats
from .inproc import call, chunks

log = logging.getLogger("portside.server")


@dataclass
class StateSnapshot:
    """The cluster state a scrape reports, gathered before prometheus-client
    formats it (its collectors are synchronous)."""

    tasks: list[tuple[str, str, int]] = field(default_factory=list)  # cluster, lastStatus, count
    instances: list[tuple[str, str, int]] = field(default_factory=list)  # cluster, status, count
    agents: list[tuple[str, int]] = field(default_factory=list)  # cluster, connected
    # cluster, service name, desiredCount, runningCount, pendingCount
    services: list[tuple[str, str, int, int, int]] = field(default_factory=list)
    rolling: list[tuple[str, int]] = field(default_factory=list)  # cluster, deployments IN_PROGRESS
    pool: PoolStats | None = None  # the PostgreSQL connection pool (None on SQLite: no pool)


async def gather_state(ctx: Any) -> StateSnapshot:
    """Read the state through the API, one page or batch per loop turn.

    With a thousand services a scrape makes a hundred DescribeServices calls;
    done in one go they held the event loop for ~300 ms, every request waiting
    behind them.  Between calls the loop serves others (and a COMMIT in flight
    ends: `store.settled()`, as before any request)."""
    snapshot = StateSnapshot()
    snapshot.pool = ctx.store.pool_stats()  # None on SQLite

    async def api(operation: str, **params: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        await ctx.store.settled()
        return call(ctx, operation, **params)

    async def every(operation: str, key: str, **params: Any) -> list[str]:
        items: list[str] = []
        token = None
        while True:
            answer = await api(operation, **params, **({"nextToken": token} if token else {}))
            items += answer.get(key, [])
            token = answer.get("nextToken")
            if not token:
                return items

    for cluster_arn in await every("ListClusters", "clusterArns", maxResults=100):
        name = cluster_arn.rpartition("/")[2]
        await ctx.store.settled()
        snapshot.tasks += [(name, status, count)
                           for status, count in sorted(ctx.store.cluster_task_counts(cluster_arn).items())]
        by_status: dict[str, int] = {}
        connected = 0
        instance_arns = await every("ListContainerInstances", "containerInstanceArns",
                                    cluster=cluster_arn, maxResults=100)
        for batch in chunks(instance_arns, 100):
            described = await api("DescribeContainerInstances", cluster=cluster_arn, containerInstances=batch)
            for instance in described["containerInstances"]:
                by_status[instance["status"]] = by_status.get(instance["status"], 0) + 1
                connected += bool(instance.get("agentConnected"))
        snapshot.instances += [(name, status, count) for status, count in sorted(by_status.items())]
        snapshot.agents.append((name, connected))
        in_progress = 0
        service_arns = await every("ListServices", "serviceArns", cluster=cluster_arn, maxResults=100)
        for batch in chunks(service_arns, 10):
            for service in (await api("DescribeServices", cluster=cluster_arn, services=batch))["services"]:
                snapshot.services.append((name, service["serviceName"], service.get("desiredCount", 0),
                                          service.get("runningCount", 0), service.get("pendingCount", 0)))
                in_progress += sum(d.get("rolloutState") == "IN_PROGRESS" for d in service.get("deployments", []))
        snapshot.rolling.append((name, in_progress))
    return snapshot


class StateCollector(Collector):
    """The cluster state of one scrape's snapshot, as gauges."""

    def __init__(self, snapshot: StateSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("portside_tasks", "Live tasks (not yet STOPPED) by cluster and lastStatus.",
                                  labels=["cluster", "last_status"])
        instances = GaugeMetricFamily("portside_container_instances", "Container instances by cluster and status.",
                                      labels=["cluster", "status"])
        agents = GaugeMetricFamily("portside_agents_connected", "Container instances whose agent is connected.",
                                   labels=["cluster"])
        desired = GaugeMetricFamily("portside_service_desired_tasks", "A service's desiredCount.",
                                    labels=["cluster", "service"])
        running = GaugeMetricFamily("portside_service_running_tasks", "A service's runningCount.",
                                    labels=["cluster", "service"])
        pending = GaugeMetricFamily("portside_service_pending_tasks", "A service's pendingCount.",
                                    labels=["cluster", "service"])
        rolling = GaugeMetricFamily("portside_deployments_in_progress",
                                    "Deployments whose rolloutState is IN_PROGRESS, by cluster.", labels=["cluster"])
        state = self.snapshot
        for cluster, status, count in state.tasks:
            tasks.add_metric([cluster, status], count)
        for cluster, status, count in state.instances:
            instances.add_metric([cluster, status], count)
        for cluster, connected in state.agents:
            agents.add_metric([cluster], connected)
        for cluster, service, desired_count, running_count, pending_count in state.services:
            desired.add_metric([cluster, service], desired_count)
            running.add_metric([cluster, service], running_count)
            pending.add_metric([cluster, service], pending_count)
        for cluster, in_progress in state.rolling:
            rolling.add_metric([cluster], in_progress)
        yield from (tasks, instances, agents, desired, running, pending, rolling)
        if state.pool is not None:
            yield from _pool_metrics(state.pool)


def _pool_metrics(pool: PoolStats) -> Iterator[Metric]:
    """The PostgreSQL connection pool (psycopg_pool's `get_stats`)."""
    for name, doc, value in (
        ("portside_db_pool_connections", "Connections of the PostgreSQL pool: idle, lent out or being connected.",
         pool.size),
        ("portside_db_pool_available", "Connections idle in the pool, ready to lend.", pool.available),
        ("portside_db_pool_waiting", "Callers waiting for a connection from the pool.", pool.waiting),
    ):
        yield GaugeMetricFamily(name, doc, value=value)
    for name, doc, value in (
        ("portside_db_pool_connects", "Connections the pool attempted to open (replacements included).",
         pool.opened),
        ("portside_db_pool_connect_errors", "Connection attempts that failed (the database was out of reach).",
         pool.errors),
        ("portside_db_pool_connections_lost", "Connections found broken when lent or given back broken; the "
         "pool discarded and replaced each.", pool.lost),
    ):
        yield CounterMetricFamily(name, doc, value=value)


class MetricsEndpoint:
    def __init__(self, ctx: Any, auth: Authenticator, token: str | None = None) -> None:
        self.ctx = ctx
        self.auth = auth
        self.token = token

    def allowed(self, method: str, raw_path: str, query: str, headers: list[tuple[str, str]]) -> bool:
        host = next((v for k, v in headers if k == "host"), "")
        if self.auth.open:
            return is_loopback_host(host)
        authorization = next((v for k, v in headers if k == "authorization"), "")
        if self.token and authorization.startswith("Bearer "):
            return hmac.compare_digest(authorization[7:].strip().encode(), self.token.encode())
        try:
            pending = self.auth.check_headers(method, raw_path, query, headers, self.ctx.clock.now())
            caller = self.auth.verify(pending, b"")
        except errors.ECSError:
            return False
        return caller.role == "admin"

    async def answer(self) -> tuple[int, bytes, str]:
        try:
            snapshot = await gather_state(self.ctx)
            # Formatting a thousand services' gauges takes ~20 ms of pure Python: on a worker
            # thread the loop gets the GIL back every switch interval (5 ms) meanwhile.
            return 200, await asyncio.to_thread(_render, snapshot), CONTENT_TYPE_LATEST
        except Exception:  # a bug: a failed scrape, not a dead endpoint
            log.exception("collecting metrics failed")
            return 500, b"collecting metrics failed; see the server's log\n", "text/plain; charset=utf-8"


def _render(snapshot: StateSnapshot) -> bytes:
    """The Prometheus text: the counters and histograms kept as things happen
    (their updates are thread-safe in prometheus-client), then the snapshot."""
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(snapshot))
    return generate_latest(REGISTRY) + generate_latest(state)
