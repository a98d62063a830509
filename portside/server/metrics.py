"""`GET /metrics`: Prometheus text, from prometheus-client.

Counters and histograms are counted where things happen (`portside/metrics.py`);
the state gauges (tasks by cluster and last status, services' desired and
running counts, deployments in progress, container instances and connected
agents) are read at scrape time through the API's own operations (`inproc`),
so they always agree with what DescribeServices and friends answer.

Who may scrape: anyone on loopback when the server has no `--credentials`
(the API is open there too); with them, `Authorization: Bearer TOKEN` with the
token of `--metrics-token FILE`, or a SigV4-signed GET by an admin key.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..metrics import REGISTRY
from ..protocol import errors
from ..protocol.auth import Authenticator, is_loopback_host
from .inproc import call, chunks, pages

log = logging.getLogger("portside.server")


class StateCollector(Collector):
    """The cluster state as gauges, read through the API at each scrape."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
        ctx = self.ctx
        for cluster_arn in list(pages(ctx, "ListClusters", "clusterArns", maxResults=100)):
            name = cluster_arn.rpartition("/")[2]
            for status, count in sorted(ctx.store.cluster_task_counts(cluster_arn).items()):
                tasks.add_metric([name, status], count)
            instance_arns = list(pages(ctx, "ListContainerInstances", "containerInstanceArns",
                                       cluster=cluster_arn, maxResults=100))
            by_status: dict[str, int] = {}
            connected = 0
            for batch in chunks(instance_arns, 100):
                for instance in call(ctx, "DescribeContainerInstances", cluster=cluster_arn,
                                     containerInstances=batch)["containerInstances"]:
                    by_status[instance["status"]] = by_status.get(instance["status"], 0) + 1
                    connected += bool(instance.get("agentConnected"))
            for status, count in sorted(by_status.items()):
                instances.add_metric([name, status], count)
            agents.add_metric([name], connected)
            service_arns = list(pages(ctx, "ListServices", "serviceArns", cluster=cluster_arn, maxResults=100))
            in_progress = 0
            for batch in chunks(service_arns, 10):
                for service in call(ctx, "DescribeServices", cluster=cluster_arn, services=batch)["services"]:
                    labels = [name, service["serviceName"]]
                    desired.add_metric(labels, service.get("desiredCount", 0))
                    running.add_metric(labels, service.get("runningCount", 0))
                    pending.add_metric(labels, service.get("pendingCount", 0))
                    in_progress += sum(d.get("rolloutState") == "IN_PROGRESS" for d in service.get("deployments", []))
            rolling.add_metric([name], in_progress)
        yield from (tasks, instances, agents, desired, running, pending, rolling)


class MetricsEndpoint:
    def __init__(self, ctx: Any, auth: Authenticator, token: str | None = None) -> None:
        self.ctx = ctx
        self.auth = auth
        self.token = token
        self.state = CollectorRegistry(auto_describe=False)
        self.state.register(StateCollector(ctx))

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
        await self.ctx.store.settled()
        try:
            return 200, generate_latest(REGISTRY) + generate_latest(self.state), CONTENT_TYPE_LATEST
        except Exception:  # a bug: a failed scrape, not a dead endpoint
            log.exception("collecting metrics failed")
            return 500, b"collecting metrics failed; see the server's log\n", "text/plain; charset=utf-8"
