"""The processes behave: --version and --help, one server per data dir and one
agent per agent data dir, a port in use said in one line, clean and quick
signals, and `up` supervising its two children."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from conftest import TEST_IMAGE, AgentProcess, free_port, wait_for_task
from portside.cli.main import build_parser
from portside.lockfile import holder_pid

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker

PORTSIDE = [sys.executable, "-m", "portside"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PORTSIDE, *args], capture_output=True, text=True, timeout=timeout)


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


# -- the command line ---------------------------------------------------------------


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == "portside 0.1.0"


def test_every_flag_of_every_command_has_help_and_says_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(commands.choices) == {"server", "agent", "up", "exec", "backup", "logs"}
    for name, sub in commands.choices.items():
        if name == "exec":  # ECS Exec's own command (issue 15's): its help is its own
            continue
        assert sub.description, name
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default is not None and not action.required and not isinstance(action.default, bool):
                assert f"(default: {action.default})" in " ".join(text.split()) or "(default" in action.help, (
                    f"{name} {action.option_strings[0]} does not show its default")
    for flag in ("--host", "--region", "--log-level", "--log-format"):
        assert flag in commands.choices["up"].format_help()


def test_help_runs_for_every_command():
    for command in ("server", "agent", "up"):
        out = run(command, "--help")
        assert out.returncode == 0 and "(default: INFO)" in out.stdout, out.stdout


# -- one process per data dir, ports --------------------------------------------------


def test_second_server_on_a_data_dir_is_refused_naming_the_first(server):
    out = run("server", "--port", str(free_port()), "--data-dir", str(server.data_dir), timeout=30)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"another portside server (pid {server.proc.pid})" in lines[0]
    server.client().list_clusters()  # the first one is untouched


def test_a_lock_left_by_a_killed_server_does_not_block_a_restart(server):
    lock = server.data_dir / "portside.db.lock"
    assert holder_pid(lock) == server.proc.pid
    server.restart(signal.SIGKILL)
    assert holder_pid(lock) == server.proc.pid
    server.client().list_clusters()


def test_a_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("server", "--port", str(port), "--data-dir", str(tmp_path), timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_second_agent_on_an_agent_data_dir_is_refused_naming_the_first(server, tmp_path):
    server.client().create_cluster()
    first = AgentProcess(server, tmp_path / "agent", "--runtime", "fake").start()
    try:
        first.wait_registered()
        out = run("agent", "--server", server.endpoint, "--runtime", "fake",
                  "--data-dir", str(tmp_path / "agent"), timeout=30)
        assert out.returncode == 2
        assert f"another portside agent (pid {first.proc.pid})" in out.stderr
        assert len(server.client().list_container_instances()["containerInstanceArns"]) == 1
    finally:
        first.stop()


# -- signals --------------------------------------------------------------------------


def test_server_stops_at_once_on_sigterm_while_an_agent_polls(server, tmp_path):
    server.client().create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake").start()
    try:
        agent.wait_registered()
        time.sleep(0.5)  # the agent's long poll is now held by the server
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 3
        assert "Traceback" not in server.log.read_text()
    finally:
        agent.stop()
    assert "Traceback" not in agent.log.read_text()


class Up:
    """`portside up` in a session of its own (as a terminal runs it), its
    output kept in a file."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.data_dir = tmp_path / "data"
        self.port = free_port()
        self.log = tmp_path / "up.log"
        self.proc = subprocess.Popen(
            [*PORTSIDE, "up", "--port", str(self.port), "--data-dir", str(self.data_dir), *extra],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self.ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                                aws_access_key_id="a", aws_secret_access_key="b")

    @property
    def server_pid(self) -> int | None:
        return holder_pid(self.data_dir / "portside.db.lock")

    @property
    def agent_pid(self) -> int | None:
        return holder_pid(self.data_dir / "agent" / "agent.lock")

    def wait_ready(self) -> None:
        def registered() -> bool:
            try:
                return bool(self.ecs.list_container_instances()["containerInstanceArns"])
            except Exception:
                return False
        wait_until(registered, 30, "up's agent registered")

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in (self.server_pid, self.agent_pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def up(tmp_path):
    made: list[Up] = []

    def start(*extra: str) -> Up:
        made.append(Up(tmp_path, *extra))
        return made[-1]

    yield start
    for u in made:
        u.kill()


def test_up_ctrl_c_with_a_running_task_exits_in_seconds_and_the_next_up_adopts_it(
        up, tmp_path, test_image, docker_client):
    first = up("--stop-timeout", "2")
    first.wait_ready()
    first.ecs.register_task_definition(family="sleeper", containerDefinitions=[
        {"name": "main", "image": TEST_IMAGE, "memory": 32, "command": ["sleep", "300"]}])
    arn = first.ecs.run_task(taskDefinition="sleeper")["tasks"][0]["taskArn"]
    try:
        task = wait_for_task(first.ecs, arn, "RUNNING")
        container_id = task["containers"][0]["runtimeId"]
        started = time.monotonic()
        os.killpg(first.proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        assert first.wait(timeout=15) == 0
        assert time.monotonic() - started < 8
        text = first.output()
        assert "Traceback" not in text and "Exception" not in text, text
        assert not alive(first.server_pid) and not alive(first.agent_pid)
        assert docker_client.containers.get(container_id).status == "running"  # containers keep running

        (tmp_path / "up.log").rename(tmp_path / "first-up.log")
        second = up("--stop-timeout", "2")
        second.wait_ready()
        again = second.ecs.describe_tasks(tasks=[arn])["tasks"][0]
        assert again["lastStatus"] == "RUNNING"
        assert again["containers"][0]["runtimeId"] == container_id
        second.ecs.stop_task(task=arn)
        wait_for_task(second.ecs, arn, "STOPPED")
    finally:
        import docker.errors

        # the low-level list: the high-level one inspects each container, which the agent may remove meanwhile
        for c in docker_client.api.containers(all=True, filters={"label": f"com.amazonaws.ecs.task-arn={arn}"}):
            try:
                docker_client.api.remove_container(c["Id"], force=True)
            except docker.errors.APIError:  # the agent is removing it already
                pass


def test_a_second_signal_to_up_exits_at_once(up):
    u = up("--runtime", "fake")
    u.wait_ready()
    server, agent = u.server_pid, u.agent_pid
    os.killpg(u.proc.pid, signal.SIGTERM)
    # two signals at once are one pending signal: send the second once up has handled the first
    wait_until(lambda: "SIGTERM: stopping the server and the agent" in u.output(), 10, "first signal handled")
    os.killpg(u.proc.pid, signal.SIGTERM)
    assert u.wait(timeout=5) == 128 + signal.SIGTERM
    wait_until(lambda: not alive(server) and not alive(agent), 5, "children gone")


def test_up_notices_its_server_dying_and_exits_non_zero(up):
    u = up("--runtime", "fake")
    u.wait_ready()
    agent = u.agent_pid
    os.kill(u.server_pid, signal.SIGKILL)
    assert u.wait(timeout=10) == 1
    assert "the server" in u.output() and "was killed by SIGKILL" in u.output()
    wait_until(lambda: not alive(agent), 5, "the agent stopped with up")


def test_up_notices_its_agent_dying_and_exits_non_zero(up):
    u = up("--runtime", "fake")
    u.wait_ready()
    server = u.server_pid
    os.kill(u.agent_pid, signal.SIGKILL)
    assert u.wait(timeout=10) == 1
    assert "the local agent" in u.output() and "was killed by SIGKILL" in u.output()
    wait_until(lambda: not alive(server), 10, "the server stopped with up")


def test_kill_9_of_up_takes_its_children_with_it(up):
    u = up("--runtime", "fake")
    u.wait_ready()
    server, agent = u.server_pid, u.agent_pid
    assert alive(server) and alive(agent)
    u.proc.kill()  # up alone, not its children's process groups
    u.proc.wait()
    wait_until(lambda: not alive(server) and not alive(agent), 10, "up's children died with it")


def test_deregistering_ups_own_instance_leaves_the_api_up(up):
    u = up("--runtime", "fake")
    u.wait_ready()
    agent = u.agent_pid
    arn = u.ecs.list_container_instances()["containerInstanceArns"][0]
    u.ecs.deregister_container_instance(containerInstance=arn, force=True)
    wait_until(lambda: not alive(agent), 30, "the agent stopped")
    time.sleep(0.5)
    assert u.proc.poll() is None
    assert u.ecs.list_clusters()["clusterArns"]
    assert "deregistered" in u.output()


def test_up_on_a_port_in_use_prints_no_url(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("up", "--runtime", "fake", "--port", str(port), "--data-dir", str(tmp_path), timeout=60)
    assert out.returncode != 0
    assert "already in use" in out.stderr
    assert "ECS API on" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_shell_completion_completes_flags(tmp_path):
    out_file = tmp_path / "completions"
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_IFS=" ", COMP_LINE="portside up --log-f",
               COMP_POINT="19", _ARGCOMPLETE_STDOUT_FILENAME=str(out_file))
    subprocess.run([*PORTSIDE], env=env, timeout=30, check=True)
    assert out_file.read_text().split() == ["--log-format"]
