"""GET /metrics (Prometheus text, prometheus-client): what happened (requests,
placements, commits, reconciler ticks) and what is (tasks, services,
instances, connected agents), its access rules, the agent's own metrics, and
the Grafana dashboard reading only metrics that exist."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import AgentProcess, ServerProcess, free_port
from sigv4 import raw_call, sign

ADMIN = ("AKIDADMIN0000000001", "admin-secret")
AGENT = ("AKIDAGENT0000000001", "agent-secret")
TOKEN = "metrics-token-0123456789abcdef"
DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "portside-dashboard.json"


def scrape(endpoint: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(endpoint + "/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_what_happened_and_show_what_is(server, tmp_path):
    ecs = server.client()
    ecs.create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--cpu-units", "1024",
                         "--memory-mib", "1024", "--metrics-port", str(agent_port := free_port())).start()
    try:
        agent.wait_registered()
        ecs.register_task_definition(family="job", containerDefinitions=[
            {"name": "main", "image": "fake", "memory": 64, "command": ["sleep", "600"]}])
        ecs.register_task_definition(family="huge", containerDefinitions=[
            {"name": "main", "image": "fake", "memory": 4096, "command": ["sleep", "600"]}])
        assert len(ecs.run_task(taskDefinition="job", count=2)["tasks"]) == 2
        failures = ecs.run_task(taskDefinition="huge")["failures"]
        assert failures[0]["reason"] == "RESOURCE:MEMORY"
        ecs.create_service(serviceName="web", taskDefinition="job", desiredCount=1)
        with pytest.raises(ecs.exceptions.ClusterNotFoundException):
            ecs.describe_services(cluster="nowhere", services=["web"])

        deadline = time.monotonic() + 20
        while True:
            status, text = scrape(server.endpoint)
            assert status == 200
            found = samples(text)
            if value(found, "portside_service_running_tasks", cluster="default", service="web") == 1 \
                    and value(found, "portside_tasks", cluster="default", last_status="RUNNING") == 3:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        # the server commits a report before the agent has its answer (and counts it): wait for those
        while True:
            agent_status, agent_text = scrape(f"http://127.0.0.1:{agent_port}")
            assert agent_status == 200
            agent_found = samples(agent_text)
            if value(agent_found, "portside_agent_report_lag_seconds_count", operation="submit_task_state_change") >= 3:
                break
            assert time.monotonic() < deadline, agent_text
            time.sleep(0.2)
    finally:
        agent.stop()

    assert value(found, "portside_api_requests_total", operation="RunTask", status="200") == 2
    assert value(found, "portside_api_requests_total", operation="DescribeServices", status="400") == 1
    assert value(found, "portside_api_request_duration_seconds_count", operation="RunTask") == 2
    assert value(found, "portside_placements_total") >= 3  # two by RunTask, one by the service
    assert value(found, "portside_placement_failures_total", reason="RESOURCE:MEMORY") == 1
    assert value(found, "portside_service_desired_tasks", cluster="default", service="web") == 1
    assert value(found, "portside_container_instances", cluster="default", status="ACTIVE") == 1
    assert value(found, "portside_agents_connected", cluster="default") == 1
    assert value(found, "portside_service_reconcile_duration_seconds_count") >= 1
    assert value(found, "portside_store_commit_batch_requests_count") >= 1
    assert value(found, "portside_store_commit_duration_seconds_count") >= 1
    assert value(found, "portside_deployments_in_progress", cluster="default") in (0, 1)

    assert value(agent_found, "portside_agent_containers_started_total") == 3


def test_an_unknown_operation_is_one_label_not_a_new_one_each(server):
    for name in ("Bogus1", "Bogus2"):
        status, _ = raw_call(server.endpoint, "AmazonEC2ContainerServiceV20141113." + name, "{}")
        assert status == 400
    found = samples(scrape(server.endpoint)[1])
    assert value(found, "portside_api_requests_total", operation="unknown", status="400") == 2
    assert not any("Bogus" in str(labels) for _, labels in found)


def test_open_server_answers_loopback_hosts_only(server):
    assert scrape(server.endpoint)[0] == 200
    assert scrape(server.endpoint, {"Host": "attacker.example:80"})[0] == 403


@pytest.fixture
def secured(tmp_path):
    keys = tmp_path / "credentials"
    keys.write_text(f"[ops]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\nrole = admin\n\n"
                    f"[host]\naws_access_key_id = {AGENT[0]}\naws_secret_access_key = {AGENT[1]}\nrole = agent\n")
    keys.chmod(0o600)
    token = tmp_path / "metrics-token"
    token.write_text(TOKEN + "\n")
    proc = ServerProcess(tmp_path / "data", "--credentials", str(keys), "--metrics-token", str(token)).start()
    yield proc
    proc.stop()


def test_with_credentials_metrics_need_the_token_or_an_admin_signature(secured):
    endpoint = secured.endpoint
    assert scrape(endpoint)[0] == 403
    assert scrape(endpoint, {"Authorization": "Bearer wrong-token-0123456789"})[0] == 403
    status, text = scrape(endpoint, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "portside_api_requests_total" in text
    assert scrape(endpoint, sign(endpoint, b"", {}, ADMIN, method="GET", path="/metrics"))[0] == 200
    assert scrape(endpoint, sign(endpoint, b"", {}, AGENT, method="GET", path="/metrics"))[0] == 403
    assert scrape(endpoint, sign(endpoint, b"", {}, ("AKIDNOBODY", "x"), method="GET", path="/metrics"))[0] == 403


def test_a_short_metrics_token_is_refused_at_start(tmp_path):
    import subprocess
    import sys

    token = tmp_path / "token"
    token.write_text("short\n")
    out = subprocess.run([sys.executable, "-m", "portside", "server", "--port", str(free_port()),
                          "--data-dir", str(tmp_path / "d"), "--metrics-token", str(token)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "16 characters" in out.stderr


@pytest.mark.both_backends
def test_the_grafana_dashboard_reads_metrics_that_exist(server, tmp_path, db_backend):
    """Every metric the dashboard reads is exported; the connection pool's
    (portside_db_pool_*) by a server on PostgreSQL only."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    names = {f.name for f in text_string_to_metric_families(scrape(server.endpoint)[1])}
    server.client().create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--metrics-port",
                         str(port := free_port())).start()
    try:
        agent.wait_registered()
        names |= {f.name for f in text_string_to_metric_families(scrape(f"http://127.0.0.1:{port}")[1])}
    finally:
        agent.stop()
    known = names | {n + suffix for n in names for suffix in ("_total", "_bucket", "_count", "_sum")}
    for expr in exprs:
        for metric in re.findall(r"\b(portside_[a-z_]+)", expr):
            if metric.startswith("portside_db_pool_") and db_backend == "sqlite":
                assert metric not in known, f"{metric} exported on SQLite"
                continue
            assert metric in known, f"{metric} in the dashboard is not exported"
