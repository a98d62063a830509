"""The task role credentials endpoint (issue 17), from inside containers on
real Docker: a task whose `taskRoleArn` has keys in the server's
`--credentials` file (a `role_arn` section) gets
`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, and busybox wget fetches
`http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` as every AWS
SDK does, in bridge, awsvpc and none network modes; a host-mode container gets
`AWS_CONTAINER_CREDENTIALS_FULL_URI` on the host's loopback instead, and
botocore's own container provider fetches the keys from it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from test_metadata_endpoint_docker import LOOP, inside

from conftest import TEST_IMAGE, AgentProcess, ServerProcess, wait_for_task

ADMIN = ("AKIDROLEADMIN", "admin-secret-0123456789")
AGENT = ("AKIDROLEAGENT", "agent-secret-0123456789")
ROLE = "arn:aws:iam::123456789012:role/app-role"
ROLE_KEY = ("AKIDTASKROLE0001", "task-role-secret-ABCDEFGHIJKLMNOP")
UNKEYED = "arn:aws:iam::123456789012:role/nobody-keyed-this"


@pytest.fixture
def keyed(tmp_path: Path, docker_client):
    keys = tmp_path / "credentials"
    keys.write_text(
        f"[ops]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\nrole = admin\n\n"
        f"[host]\naws_access_key_id = {AGENT[0]}\naws_secret_access_key = {AGENT[1]}\nrole = agent\n\n"
        f"[app-role]\nrole_arn = {ROLE}\naws_access_key_id = {ROLE_KEY[0]}\n"
        f"aws_secret_access_key = {ROLE_KEY[1]}\n")
    keys.chmod(0o600)
    server = ServerProcess(tmp_path / "data", "--credentials", str(keys)).start()
    ecs = server.client(key=ADMIN)
    ecs.create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "docker", "--stop-timeout", "1",
                         env={"AWS_ACCESS_KEY_ID": AGENT[0], "AWS_SECRET_ACCESS_KEY": AGENT[1]}).start()
    agent.wait_registered()
    yield server, agent, ecs
    agent.stop(signal.SIGKILL)
    import docker.errors

    for c in docker_client.api.containers(
            all=True, filters={"label": f"com.portside.container-instance-arn={agent.instance_arn}"}):
        try:
            docker_client.api.remove_container(c["Id"], force=True)
        except docker.errors.APIError:  # already being removed by the agent's clean-up
            pass
    server.stop()


def _run(ecs, family: str, mode: str = "bridge", role: str | None = ROLE, **extra) -> str:
    ecs.register_task_definition(family=family, networkMode=mode, **({"taskRoleArn": role} if role else {}),
                                 containerDefinitions=[{"name": "app", "image": TEST_IMAGE, "memory": 32,
                                                        "command": ["sh", "-c", LOOP]}])
    awsvpc = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-portside1"]}}}
    params = awsvpc if mode == "awsvpc" else {}
    arn = ecs.run_task(taskDefinition=family, **params, **extra)["tasks"][0]["taskArn"]
    wait_for_task(ecs, arn, "RUNNING", timeout=60)
    return arn


def _fetch(docker_client, arn: str) -> dict:
    """What an SDK does: GET http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI."""
    for _ in range(100):  # the listener opens just after the container starts (or the agent restarts)
        out = inside(docker_client, arn, "app",
                     "wget -qO- http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI 2>&1 || true")
        if out.startswith("{"):
            return json.loads(out)
        time.sleep(0.1)
    raise AssertionError(out)


@pytest.mark.parametrize("mode", ["bridge", "awsvpc", "none"])
def test_a_container_fetches_its_task_roles_keys_as_an_sdk_does(keyed, docker_client, mode):
    server, agent, ecs = keyed
    arn = _run(ecs, f"role-{mode}", mode)
    uri = inside(docker_client, arn, "app", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip()
    assert uri.startswith("/v2/credentials/") and len(uri) > len("/v2/credentials/") + 30, uri
    shown = _fetch(docker_client, arn)
    assert shown["RoleArn"] == ROLE
    assert (shown["AccessKeyId"], shown["SecretAccessKey"]) == ROLE_KEY
    assert shown["Token"] == "" and shown["Expiration"].endswith("Z")
    # botocore's container provider takes this answer as it is
    from botocore.credentials import ContainerProvider
    from botocore.utils import ContainerMetadataFetcher

    class Fetched(ContainerMetadataFetcher):
        def retrieve_full_uri(self, full_url, headers=None):
            return shown

    creds = ContainerProvider(environ={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": uri},
                              fetcher=Fetched()).load().get_frozen_credentials()
    assert (creds.access_key, creds.secret_key) == ROLE_KEY
    # a wrong ID is refused as the ECS agent refuses it
    refused = inside(docker_client, arn, "app", "wget -qO- http://169.254.170.2/v2/credentials/nope 2>&1 || true")
    assert "400" in refused, refused
    # the keys are never written on the agent, logged, or shown by the API
    described = json.dumps(ecs.describe_tasks(tasks=[arn])["tasks"], default=str)
    assert ROLE_KEY[1] not in described
    for path in [*agent.data_dir.rglob("*"), server.log, *server.data_dir.rglob("*")]:
        if path.is_file() and path.name not in ("credentials",):
            assert ROLE_KEY[1].encode() not in path.read_bytes(), path
    # a second task gets the same keys under its own ID, and not the first one's
    other = _run(ecs, f"role2-{mode}", mode)
    assert inside(docker_client, other, "app", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip() != uri
    assert _fetch(docker_client, other)["AccessKeyId"] == ROLE_KEY[0]
    for task in (arn, other):
        ecs.stop_task(task=task)
        wait_for_task(ecs, task, "STOPPED")


def test_a_role_without_keys_starts_without_the_variable_and_one_warning(keyed, docker_client):
    server, agent, ecs = keyed
    arns = [_run(ecs, "unkeyed", role=UNKEYED) for _ in range(2)]
    assert inside(docker_client, arns[0], "app", "echo x$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip() == "x"
    assert agent.log.read_text().count(f"no keys for task role {UNKEYED}") == 1
    # an override names the keyed role: served
    overridden = _run(ecs, "unkeyed", role=UNKEYED, overrides={"taskRoleArn": ROLE})
    assert _fetch(docker_client, overridden)["RoleArn"] == ROLE
    for task in [*arns, overridden]:
        ecs.stop_task(task=task)


def test_a_restarted_agent_serves_adopted_containers_again(keyed, docker_client):
    server, agent, ecs = keyed
    arn = _run(ecs, "adopted")
    uri = inside(docker_client, arn, "app", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip()
    assert _fetch(docker_client, arn)["RoleArn"] == ROLE
    agent.stop(signal.SIGKILL)
    agent.start()
    assert inside(docker_client, arn, "app", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip() == uri
    try:
        assert _fetch(docker_client, arn)["AccessKeyId"] == ROLE_KEY[0]
    except AssertionError as exc:
        raise AssertionError(agent.log.read_text()[-3000:]) from exc
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_a_host_mode_container_fetches_its_keys_from_the_loopback_full_uri(keyed, docker_client):
    """Host network mode: no namespace of its own to put 169.254.170.2 in, so
    the containers get AWS_CONTAINER_CREDENTIALS_FULL_URI on 127.0.0.1, which
    SDKs accept for plain HTTP because it is a loopback address."""
    server, agent, ecs = keyed
    arn = _run(ecs, "role-host", "host")
    env = inside(docker_client, arn, "app", "env | grep ^AWS_CONTAINER_CREDENTIALS || true").split()
    [full] = env
    name, _, uri = full.partition("=")
    assert name == "AWS_CONTAINER_CREDENTIALS_FULL_URI" and uri.startswith("http://127.0.0.1:"), env
    path_id = uri.rpartition("/v2/credentials/")[2]
    assert len(path_id) >= 32, uri
    shown = json.loads(inside(docker_client, arn, "app", "wget -qO- $AWS_CONTAINER_CREDENTIALS_FULL_URI"))
    assert set(shown) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert shown["RoleArn"] == ROLE and (shown["AccessKeyId"], shown["SecretAccessKey"]) == ROLE_KEY
    assert shown["Expiration"].endswith("Z")
    # botocore's container provider, unchanged, over HTTP (this test runs in the host's namespace too)
    from botocore.credentials import ContainerProvider

    creds = ContainerProvider(environ={"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load().get_frozen_credentials()
    assert (creds.access_key, creds.secret_key) == ROLE_KEY
    # a made-up ID, and a bridge task's ID at the loopback listener, are refused
    base = uri.rpartition("/v2/credentials/")[0]
    assert "400" in inside(docker_client, arn, "app", f"wget -qO- {base}/v2/credentials/nope 2>&1 || true")
    bridged = _run(ecs, "role-bridge-beside")
    bridged_uri = inside(docker_client, bridged, "app", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").strip()
    assert "400" in inside(docker_client, arn, "app", f"wget -qO- {base}{bridged_uri} 2>&1 || true")
    # a host-mode task without a role gets neither variable
    plain = _run(ecs, "plain-host", "host", role=None)
    assert inside(docker_client, plain, "app", "env | grep ^AWS_CONTAINER_CREDENTIALS || true").strip() == ""
    # a restarted agent listens on the same port: the adopted container's URI still answers
    agent.stop(signal.SIGKILL)
    agent.start()
    for _ in range(100):
        out = inside(docker_client, arn, "app", "wget -qO- $AWS_CONTAINER_CREDENTIALS_FULL_URI 2>&1 || true")
        if out.startswith("{"):
            break
        time.sleep(0.1)
    assert json.loads(out)["AccessKeyId"] == ROLE_KEY[0], agent.log.read_text()[-2000:]
    # the task is over: its ID is answered no more
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")
    for _ in range(50):
        try:
            ContainerProvider(environ={"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load()
        except Exception:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("a stopped task's keys are still served")
    for task in (bridged, plain):
        ecs.stop_task(task=task)
