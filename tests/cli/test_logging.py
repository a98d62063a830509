"""Portside's own log: --log-format json gives one object per line with the
cluster and task as fields; INFO shows what an operator wants (listening,
agent registered, tasks placed/started/stopped with the reason, service
events, lost and regained server); no secret is ever written."""

from __future__ import annotations

import json
import time

from conftest import AgentProcess, ServerProcess, wait_for_task

SECRET = "very-secret-admin-key-material"


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def test_json_log_tells_a_task_and_a_service_story(tmp_path):
    server = ServerProcess(tmp_path / "data", "--log-format", "json", "--service-interval", "0.2").start()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--log-format", "json")
    try:
        ecs = server.client()
        ecs.create_cluster()
        agent.start().wait_registered()
        ecs.register_task_definition(family="job", containerDefinitions=[
            {"name": "main", "image": "fake", "memory": 32, "command": ["sh", "-c", "sleep 0.3; exit 4"]}])
        arn = ecs.run_task(taskDefinition="job")["tasks"][0]["taskArn"]
        wait_for_task(ecs, arn, "STOPPED")
        ecs.create_service(serviceName="web", taskDefinition="job", desiredCount=0)
        ecs.update_service(service="web", desiredCount=0, forceNewDeployment=True)
        time.sleep(1)

        server.restart()  # the agent loses the server and finds it again
        deadline = time.monotonic() + 30
        while "reconnected" not in agent.log.read_text():
            assert time.monotonic() < deadline, agent.log.read_text()
            time.sleep(0.2)
    finally:
        agent.stop()
        server.stop()
    task_id = arn.rpartition("/")[2]
    entries = json_lines(server.log.read_text())
    assert len(entries) == len([line for line in server.log.read_text().splitlines() if line.strip()])
    messages = [e["message"] for e in entries]
    assert any(m.startswith("portside server listening on http://127.0.0.1:") for m in messages)
    placed = next(e for e in entries if e["message"].startswith("placed 1 task(s) of job:1"))
    assert placed["cluster"] == "default" and task_id in placed["message"]
    started = next(e for e in entries if e["message"].startswith("task started"))
    assert started["task"] == task_id and started["cluster"] == "default" and started["level"] == "INFO"
    stopped = next(e for e in entries if e["message"].startswith("task stopped"))
    assert stopped["task"] == task_id
    assert "EssentialContainerExited" in stopped["message"] and "main=4" in stopped["message"]
    assert any("(service web)" in m and "steady state" in m for m in messages)

    agent_entries = json_lines(agent.log.read_text())
    agent_messages = [e["message"] for e in agent_entries]
    assert any(m.startswith("agent registered arn:aws:ecs:") for m in agent_messages)
    assert any(m.startswith("the server is unreachable") for m in agent_messages)
    assert any(m.startswith("reconnected to the server after") for m in agent_messages)
    assert any(m.startswith("SIGTERM: stopping") for m in agent_messages)


def test_text_log_and_log_level(tmp_path):
    quiet = ServerProcess(tmp_path / "quiet", "--log-level", "warning").start()
    quiet.client().create_cluster()
    quiet.stop()
    assert quiet.log.read_text().strip() == ""
    loud = ServerProcess(tmp_path / "loud").start()
    loud.stop()
    first = loud.log.read_text().splitlines()[0]
    assert " INFO    portside.server: portside server listening on " in first


def test_no_secret_reaches_the_log(tmp_path):
    keys = tmp_path / "credentials"
    keys.write_text(f"[ops]\naws_access_key_id = AKIDADMIN\naws_secret_access_key = {SECRET}\nrole = admin\n")
    keys.chmod(0o600)
    server = ServerProcess(tmp_path / "data", "--credentials", str(keys), "--log-level", "DEBUG").start()
    try:
        admin = server.client(key=("AKIDADMIN", SECRET))
        admin.create_cluster()
        import urllib.error
        import urllib.request

        for secret, expected in ((SECRET, 200), (SECRET + "x", 401)):  # a login, and a failed one
            request = urllib.request.Request(
                server.endpoint + "/ui/login", method="POST",
                data=f"access_key_id=AKIDADMIN&secret_access_key={secret}".encode())
            try:
                status = urllib.request.urlopen(request, timeout=10).status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status == expected
    finally:
        server.stop()
    assert SECRET not in server.log.read_text()
    assert "logged in" in server.log.read_text()
