"""The server's Prometheus metrics that are counted where things happen.

They live here, beside `clock.py` and `config.py`, because the layers that
count them (server, scheduler, store) must not import each other upward: each
imports this module and calls one `observe_*` function; `server/metrics.py`
adds the gauges read from the API at scrape time and serves the registry.

One registry per process (`REGISTRY`), not prometheus-client's global one, so
that what `/metrics` shows is exactly what is declared here.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Histogram  # noqa: F401

REGISTRY = CollectorRegistry(auto_describe=True)
REGISTRY.register(PROCESS_COLLECTOR)
REGISTRY.register(PLATFORM_COLLECTOR)

API_REQUESTS = Counter(
    "portside_api_requests", "API requests answered, by operation and HTTP status code.",
    ["operation", "status"], registry=REGISTRY,
)
API_LATENCY = Histogram(
    "portside_api_request_duration_seconds", "Time from request to answer (commit included), by operation.",
    ["operation"], registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PLACEMENTS = Counter(
    "portside_placements", "Tasks placed on a container instance (RunTask and the service scheduler).",
    registry=REGISTRY,
)
PLACEMENT_FAILURES = Counter(
    "portside_placement_failures", "Tasks that could not be placed, by ECS failure reason (one per "
    "rejecting instance reason, e.g. RESOURCE:MEMORY, AGENT).", ["reason"], registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "portside_service_reconcile_duration_seconds", "Time of one service scheduler tick over every live service.",
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SERVICES_RECONCILED = Counter(
    "portside_services_reconciled", "Services the service scheduler reconciled (only those changed, "
    "nudged or due are, not every live service on every tick).", registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "portside_event_loop_lag_seconds", "How late a 20 ms timer on the server's event loop fired: the time "
    "the loop was held by something else (every client waits that long).",
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
COMMIT_BATCH = Histogram(
    "portside_store_commit_batch_requests", "Requests that shared one group commit.",
    registry=REGISTRY, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
COMMIT_SECONDS = Histogram(
    "portside_store_commit_duration_seconds", "Time of one COMMIT, fsync included.",
    registry=REGISTRY, buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

_request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}


def observe_request(operation: str, status: int, seconds: float) -> None:
    """One answered API request (label children cached: `labels()` is the costly part)."""
    key = (operation, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (API_REQUESTS.labels(operation, str(status)),
                                             API_LATENCY.labels(operation))
    children[0].inc()
    children[1].observe(seconds)


def observe_placement(placed: int, unplaced: int, reasons: Iterable[str]) -> None:
    if placed:
        PLACEMENTS.inc(placed)
    if unplaced:
        for reason in reasons:
            PLACEMENT_FAILURES.labels(reason).inc()


def observe_commit(requests: int, seconds: float) -> None:
    COMMIT_BATCH.observe(requests)
    COMMIT_SECONDS.observe(seconds)
