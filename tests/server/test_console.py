"""The web console at /ui, in a real headless browser (Debian's chromium,
driven by Playwright): its pages show what boto3 made, its actions work and
the page follows them live, with no errors in the browser's console; and its
access rules (loopback only when open; with --credentials a login with an
admin key, a signed HttpOnly SameSite=Strict expiring cookie, CSRF-checked
POSTs, agent keys refused)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright  # the test extra installs it (no browser download)

from conftest import AgentProcess, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN = ("AKIDADMIN0000000001", "admin-secret")
AGENT = ("AKIDAGENT0000000001", "agent-secret")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: scripts/chromium-up installs it (scripts/test runs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)  # type: ignore
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def state(server, tmp_path):
    """A cluster with one fake agent, a service of two task-definition
    revisions, and a one-off task that exited 3."""
    ecs = server.client()
    ecs.create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake", "--cpu-units", "4096",
                         "--memory-mib", "8192").start()
    agent.wait_registered()
    for memory, env in ((128, []), (256, [{"name": "MODE", "value": "prod"}])):
        ecs.register_task_definition(family="web", containerDefinitions=[
            {"name": "app", "image": "fake", "memory": memory, "cpu": 128, "command": ["sleep", "3600"],
             "environment": env}])
    ecs.create_service(serviceName="web", taskDefinition="web:2", desiredCount=1)
    ecs.register_task_definition(family="job", containerDefinitions=[
        {"name": "main", "image": "fake", "memory": 64, "command": ["sh", "-c", "sleep 0.2; exit 3"]}])
    job = ecs.run_task(taskDefinition="job")["tasks"][0]["taskArn"]
    deadline = time.monotonic() + 20
    while ecs.describe_tasks(tasks=[job])["tasks"][0]["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield ecs, agent, job
    agent.stop()


def test_pages_show_the_state_and_actions_work_live(server, state, page):
    ecs, agent, job = state
    page.goto(server.endpoint + "/")  # a browser asking for / lands in the console
    assert page.url.endswith("/ui/clusters")
    row = page.locator("tr", has_text="default")
    expect(row).to_contain_text("ACTIVE")
    expect(row).to_contain_text("MiB")

    # container instances: Drain, then Activate
    page.click("text=default")
    page.goto(server.endpoint + "/ui/clusters/default/instances")
    expect(page.locator("td", has_text="true").first).to_be_visible()  # agent connected
    page.click("button:has-text('Drain')")
    expect(page.locator("#notice")).to_contain_text("DRAINING")
    assert ecs.describe_container_instances(
        containerInstances=[agent.instance_arn])["containerInstances"][0]["status"] == "DRAINING"
    page.click("button:has-text('Activate')")
    expect(page.locator("#notice")).to_contain_text("ACTIVE")
    assert ecs.describe_container_instances(
        containerInstances=[agent.instance_arn])["containerInstances"][0]["status"] == "ACTIVE"

    # a service: scale it and watch the new tasks appear without reloading
    page.goto(server.endpoint + "/ui/clusters/default/services/web")
    expect(page.locator("#running")).to_have_text("1")
    page.fill("input[name=desiredCount]", "3")
    page.click("button:has-text('Scale')")
    expect(page.locator("#notice")).to_contain_text("scaled to 3")
    page.evaluate("window.sameDocument = true")
    expect(page.locator("#running")).to_have_text("3")  # htmx polls #live
    assert page.evaluate("window.sameDocument") is True  # updated in place, not reloaded
    assert page.locator("#tasks tr", has_text="service:web").count() == 3
    assert ecs.describe_services(services=["web"])["services"][0]["desiredCount"] == 3
    expect(page.locator("#live")).to_contain_text("has started")  # events, newest first

    first_deployments = [d["id"] for d in ecs.describe_services(services=["web"])["services"][0]["deployments"]]
    page.click("button:has-text('Force new deployment')")
    expect(page.locator("#notice")).to_contain_text("new deployment")
    primary = ecs.describe_services(services=["web"])["services"][0]["deployments"][0]
    assert primary["status"] == "PRIMARY" and primary["id"] not in first_deployments
    expect(page.locator("#deployments tr", has_text=primary["id"])).to_contain_text("PRIMARY")

    # tasks: filters, then one task's lifecycle and containers
    page.goto(server.endpoint + "/ui/tasks")
    page.fill("input[name=family]", "job")
    page.select_option("select[name=status]", "STOPPED")
    page.click("button:has-text('Filter')")
    rows = page.locator("#live tbody tr")
    expect(rows).to_have_count(1)
    job_id = job.rpartition("/")[2]
    page.click(f"text={job_id}")
    expect(page.locator(".timeline")).to_contain_text("created")
    expect(page.locator(".timeline")).to_contain_text("stopped")
    container = page.locator("#live tr", has_text="main")
    expect(container).to_contain_text("STOPPED")
    expect(container.locator("td").nth(2)).to_have_text("3")  # the exit code

    # task definitions: families, JSON, diff of two revisions
    page.goto(server.endpoint + "/ui/task-definitions")
    page.click("text=web")
    page.click("button:has-text('Compare')")
    expect(page.locator("#diff tr.del", has_text='"memory": 128')).to_have_count(1)
    expect(page.locator("#diff tr.add", has_text='"memory": 256')).to_have_count(1)
    expect(page.locator("#diff tr.add", has_text="MODE")).to_have_count(1)
    page.goto(server.endpoint + "/ui/task-definitions/web/2")
    expect(page.locator("#definition")).to_contain_text('"value": "prod"')

    assert page.errors == []  # type: ignore[attr-defined]


def test_a_refused_action_shows_the_apis_error(server, state, page):
    page.goto(server.endpoint + "/ui/clusters/default/services/web")
    page.fill("input[name=desiredCount]", "-1")
    page.evaluate("document.querySelector('input[name=desiredCount]').removeAttribute('min')")
    page.click("button:has-text('Scale')")
    expect(page.locator("#notice")).to_contain_text("InvalidParameterException")
    assert state[0].describe_services(services=["web"])["services"][0]["desiredCount"] == 1


def test_open_console_answers_loopback_hosts_only_and_checks_csrf(server):
    request = urllib.request.Request(server.endpoint + "/ui/clusters", headers={"Host": "portside.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    server.client().create_cluster()
    post = urllib.request.Request(server.endpoint + "/ui/clusters/default/services/web/scale",
                                  data=b"desiredCount=5", method="POST")
    with pytest.raises(urllib.error.HTTPError) as no_token:
        urllib.request.urlopen(post, timeout=10)
    assert no_token.value.code == 403


@pytest.fixture
def secured(tmp_path):
    keys = tmp_path / "credentials"
    keys.write_text(f"[ops]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\nrole = admin\n\n"
                    f"[host]\naws_access_key_id = {AGENT[0]}\naws_secret_access_key = {AGENT[1]}\nrole = agent\n")
    keys.chmod(0o600)
    proc = ServerProcess(tmp_path / "data", "--credentials", str(keys)).start()
    proc.client(key=ADMIN).create_cluster()
    proc.client(key=ADMIN).register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": "fake", "memory": 64}])
    proc.client(key=ADMIN).create_service(serviceName="web", taskDefinition="web", desiredCount=0)
    yield proc
    proc.stop()


def login(page, endpoint: str, key: tuple[str, str]) -> None:
    page.goto(endpoint + "/ui/clusters")
    assert "/ui/login" in page.url
    page.fill("input[name=access_key_id]", key[0])
    page.fill("input[name=secret_access_key]", key[1])
    page.click("button:has-text('Log in')")


def test_login_cookie_and_csrf_with_credentials(secured, page):
    endpoint = secured.endpoint
    login(page, endpoint, (ADMIN[0], "wrong"))
    expect(page.locator(".error")).to_contain_text("wrong secret")
    login(page, endpoint, AGENT)
    expect(page.locator(".error")).to_contain_text("Agent keys cannot log in")
    assert not [c for c in page.context.cookies() if c["name"] == "portside_session"]

    login(page, endpoint, ADMIN)
    expect(page).to_have_url(endpoint + "/ui/clusters")
    expect(page.locator("tr", has_text="default")).to_contain_text("ACTIVE")
    cookie = next(c for c in page.context.cookies() if c["name"] == "portside_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert time.time() < cookie["expires"] <= time.time() + 8 * 3600 + 5
    assert page.evaluate("document.cookie").find("portside_session") == -1  # not readable by scripts

    # an action with the form's token works; without it, or from another origin, it does not
    page.goto(endpoint + "/ui/clusters/default/services/web")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    scale = endpoint + "/ui/clusters/default/services/web/scale"
    assert page.request.post(scale, form={"desiredCount": "2"}, max_redirects=0).status == 403
    assert page.request.post(scale, form={"desiredCount": "2", "csrf": "f" * 64}, max_redirects=0).status == 403
    assert page.request.post(scale, form={"desiredCount": "2", "csrf": token},
                             headers={"Origin": "http://evil.example"}, max_redirects=0).status == 403
    admin = secured.client(key=ADMIN)
    assert admin.describe_services(services=["web"])["services"][0]["desiredCount"] == 0
    page.fill("input[name=desiredCount]", "2")
    page.click("button:has-text('Scale')")
    expect(page.locator("#notice")).to_contain_text("scaled to 2")
    assert admin.describe_services(services=["web"])["services"][0]["desiredCount"] == 2

    # a tampered cookie is no session
    page.context.add_cookies([{**cookie, "value": cookie["value"][:-1] + ("0" if cookie["value"][-1] != "0" else "1")}])
    page.goto(endpoint + "/ui/clusters")
    assert "/ui/login" in page.url
    assert page.errors == [] or all("401" in e or "403" in e for e in page.errors)  # type: ignore[attr-defined]


def test_logout_ends_the_session(secured, page):
    login(page, secured.endpoint, ADMIN)
    expect(page).to_have_url(secured.endpoint + "/ui/clusters")
    page.click("button:has-text('Log out')")
    assert "/ui/login" in page.url
    page.goto(secured.endpoint + "/ui/clusters")
    assert "/ui/login" in page.url


def test_stop_a_deployment_in_progress_rolls_back(server, state, page):
    ecs = state[0]
    ecs.register_task_definition(family="web", containerDefinitions=[  # web:3 fits nowhere
        {"name": "app", "image": "fake", "memory": 100_000, "command": ["sleep", "3600"]}])
    ecs.update_service(service="web", taskDefinition="web:3")
    page.goto(server.endpoint + "/ui/clusters/default/services/web")
    page.click("button:has-text('Stop deployment')")
    expect(page.locator("#notice")).to_contain_text("rolling back")
    deadline = time.monotonic() + 20
    while ecs.describe_services(services=["web"])["services"][0]["taskDefinition"].rpartition("/")[2] != "web:2":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    expect(page.locator("#events")).to_contain_text("rolling back")
    assert page.errors == []  # type: ignore[attr-defined]
