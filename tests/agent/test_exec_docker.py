"""ECS Exec on real Docker: ExecuteCommand's answer (boto3 and the AWS CLI),
the task's ExecuteCommandAgent, and `portside exec` running `cat
/etc/hostname` and an interactive `sh` in a task's container, its exit
status the command's."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from botocore.exceptions import ClientError

from conftest import TEST_IMAGE, error_code, wait_for_task

LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]

pytestmark = pytest.mark.server_args("--service-interval", "0.2")


def run_task(ecs, enable=True, containers=("main",)):
    ecs.register_task_definition(family="shell", containerDefinitions=[
        {"name": name, "image": TEST_IMAGE, "memory": 32, "essential": True, "command": LOOP}
        for name in containers])
    arn = ecs.run_task(taskDefinition="shell", enableExecuteCommand=enable)["tasks"][0]["taskArn"]
    return wait_for_task(ecs, arn, "RUNNING", timeout=60)


def portside_exec(server, *args, stdin=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDPORTSIDETEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_ECS=server.endpoint)
    return subprocess.run([sys.executable, "-m", "portside", "exec", *args], input=stdin, env=env,
                          capture_output=True, timeout=60)


def test_portside_exec_runs_commands_in_the_container(server, docker_agent, docker_client):
    ecs = server.client()
    task = run_task(ecs)
    assert task["enableExecuteCommand"] is True
    (agent,) = task["containers"][0]["managedAgents"]
    assert agent["name"] == "ExecuteCommandAgent" and agent["lastStatus"] == "RUNNING" and agent["lastStartedAt"]
    answer = ecs.execute_command(task=task["taskArn"], command="cat /etc/hostname", interactive=True)
    assert answer["taskArn"] == task["taskArn"] and answer["containerName"] == "main"
    assert answer["containerArn"] == task["containers"][0]["containerArn"]
    assert answer["interactive"] is True and answer["clusterArn"] == task["clusterArn"]
    assert answer["session"]["sessionId"].startswith("ecs-execute-command-")
    assert answer["session"]["streamUrl"].startswith("ws://127.0.0.1:") and answer["session"]["tokenValue"]

    (container,) = docker_client.containers.list(filters={"label": f"com.amazonaws.ecs.task-arn={task['taskArn']}"})
    hostname = container.attrs["Config"]["Hostname"]
    out = portside_exec(server, task["taskArn"], "--", "cat", "/etc/hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == hostname
    out = portside_exec(server, task["taskArn"].rsplit("/", 1)[1], "--container", "main", "--",
                        "sh", "-c", "echo to-stderr >&2; exit 5")
    assert out.returncode == 5 and out.stderr.decode().strip() == "to-stderr"

    session = portside_exec(server, "--interactive", task["taskArn"], "--", "sh",
                            stdin=b"echo hello-$((40+2))\necho $PPID > /dev/null\nexit 3\n")
    assert session.returncode == 3, session.stderr
    assert b"hello-42" in session.stdout

    # a command docker cannot run: the session says so
    out = portside_exec(server, task["taskArn"], "--", "/no/such/program")
    assert out.returncode != 0


def test_execute_command_refusals(server, docker_agent):
    ecs = server.client()
    plain = run_task(ecs, enable=False)
    with pytest.raises(ClientError) as err:
        ecs.execute_command(task=plain["taskArn"], command="sh", interactive=True)
    assert error_code(err) == "InvalidParameterException"
    assert "execute command was not enabled" in err.value.response["Error"]["Message"]
    two = run_task(ecs, containers=("a", "b"))
    with pytest.raises(ClientError) as err:
        ecs.execute_command(task=two["taskArn"], command="sh", interactive=False)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.execute_command(task=two["taskArn"], command="sh", interactive=True)
    assert error_code(err) == "InvalidParameterException"  # which container?
    with pytest.raises(ClientError) as err:
        ecs.execute_command(task=two["taskArn"], container="nope", command="sh", interactive=True)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.execute_command(task="0123456789abcdef0123456789abcdef", command="sh", interactive=True)
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.execute_command(cluster="nope", task=two["taskArn"], container="a", command="sh", interactive=True)
    assert error_code(err) == "ClusterNotFoundException"
    # a session's token opens it once
    answer = ecs.execute_command(task=two["taskArn"], container="b", command="true", interactive=True)
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    for expected in (18, 19):  # EXIT, then ERROR for the reused token
        kinds = []
        with connect(answer["session"]["streamUrl"]) as stream:
            stream.send(json.dumps({"token": answer["session"]["tokenValue"], "tty": False}))
            stream.send(bytes([1]))
            try:
                for message in stream:
                    kinds.append(message[0])
            except ConnectionClosed:
                pass
        assert kinds[-1] == expected


def test_aws_cli_execute_command_answer(server, docker_agent, tmp_path):
    """The AWS CLI hands ExecuteCommand's answer to Amazon's
    session-manager-plugin; a stand-in plugin records what it was given."""
    ecs = server.client()
    task = run_task(ecs)
    plugin = tmp_path / "bin" / "session-manager-plugin"
    plugin.parent.mkdir()
    record = tmp_path / "answer.json"
    plugin.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        if len(sys.argv) > 1:
            open({str(record)!r}, "w").write(json.dumps(sys.argv[1:]))
        """))
    plugin.chmod(0o755)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDPORTSIDETEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", PATH=f"{plugin.parent}:{os.environ['PATH']}")
    out = subprocess.run([sys.executable, "-m", "awscli", "ecs", "execute-command", "--endpoint-url",
                          server.endpoint, "--task", task["taskArn"], "--command", "cat /etc/hostname",
                          "--interactive"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    session, region, action, _profile, target, _endpoint = json.loads(record.read_text())
    session = json.loads(session)
    assert session["sessionId"].startswith("ecs-execute-command-") and session["tokenValue"]
    assert session["streamUrl"].startswith("ws://127.0.0.1:")
    assert (region, action) == ("us-east-1", "StartSession")
    runtime_id = task["containers"][0]["runtimeId"]
    assert json.loads(target)["Target"] == f"ecs:default_{task['taskArn'].rsplit('/', 1)[1]}_{runtime_id}"
