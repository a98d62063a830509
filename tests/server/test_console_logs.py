"""The console's task page shows each container's output, in a real headless
browser on real Docker: what a container without awslogs printed (as its
agent keeps it, after the container's removal too) and an awslogs
container's stream."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).parent.parent / "agent"))

from test_agent_docker import containers_of, register, run  # noqa: E402
from test_awslogs_docker import awslogs  # noqa: E402
from test_console import browser, page  # noqa: E402,F401  (the fixtures)

from conftest import wait_for_task  # noqa: E402
from helpers import wait_for  # noqa: E402


def test_the_task_page_shows_each_containers_output(server, docker_agent, docker_client, page):  # noqa: F811
    ecs, logs = server.client(), server.client("logs")
    logs.create_log_group(logGroupName="/ecs/console")
    register(ecs, "printer",
             {"name": "plain", "command": ["sh", "-c", 'echo "hello <from> plain"; echo "FATAL: no db" >&2; exit 3']},
             {"name": "shipped", "essential": False, "command": ["sh", "-c", "echo shipped line"],
              "logConfiguration": awslogs("/ecs/console")})
    arn = run(ecs, "printer")
    wait_for_task(ecs, arn, "STOPPED", timeout=60)
    wait_for(lambda: not containers_of(docker_client, arn), what="the containers' removal")
    ident = arn.rsplit("/", 1)[1]
    page.goto(f"{server.endpoint}/ui/clusters/default/tasks/{ident}")
    outputs = page.locator("pre.output")
    expect(outputs).to_have_count(2)
    expect(outputs.nth(0)).to_contain_text("hello <from> plain")  # escaped, shown as printed
    expect(outputs.nth(0)).to_contain_text("FATAL: no db")
    expect(outputs.nth(1)).to_contain_text("shipped line")
    expect(page.get_by_text("CloudWatch Logs /ecs/console › web/shipped/" + ident)).to_be_visible()
    page.get_by_role("button", name="Refresh").first.click()
    expect(outputs.nth(0)).to_contain_text("hello <from> plain")
    assert page.errors == []  # type: ignore[attr-defined]
