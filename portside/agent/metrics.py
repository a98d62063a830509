"""The agent's own Prometheus metrics, served on loopback by `--metrics-port`.

Counted where they happen: containers started and stopped (task manager),
Docker call latency (Docker runtime), and report lag, the time from a state
change to the server's acknowledgement of its report (reporter)."""

from __future__ import annotations

from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)

REGISTRY = CollectorRegistry(auto_describe=True)
REGISTRY.register(PROCESS_COLLECTOR)
REGISTRY.register(PLATFORM_COLLECTOR)

CONTAINERS_STARTED = Counter("portside_agent_containers_started", "Containers this agent started.",
                             registry=REGISTRY)
CONTAINERS_STOPPED = Counter("portside_agent_containers_stopped", "Containers this agent saw exit.",
                             registry=REGISTRY)
DOCKER_CALL_SECONDS = Histogram(
    "portside_agent_docker_call_duration_seconds", "Docker Engine API call latency, by call.", ["call"],
    registry=REGISTRY, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REPORT_LAG_SECONDS = Histogram(
    "portside_agent_report_lag_seconds", "From a state change to the server acknowledging its report.",
    ["operation"], registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REPORT_RETRIES = Counter("portside_agent_report_retries", "Reports retried because the server was unreachable.",
                          registry=REGISTRY)


def serve(port: int) -> None:
    """Serve the agent's metrics on 127.0.0.1:port (a daemon thread)."""
    start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
