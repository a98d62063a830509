"""SigV4 authentication: `--credentials FILE` keys and roles, AWS's refusals
word for word, the agent signing with its own key, and the open (loopback-only)
mode without credentials."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess, ServerProcess, free_port
from sigv4 import ECS, raw_call, sign

ADMIN = ("AKIDADMIN0000000001", "admin-secret/with+odd=chars")
AGENT = ("AKIDAGENT0000000001", "agent-secret")
CREDENTIALS = f"""
# Portside keys, AWS shared-credentials format
[ops]
aws_access_key_id = {ADMIN[0]}
aws_secret_access_key = {ADMIN[1]}
role = admin

[host-agent]
aws_access_key_id = {AGENT[0]}
aws_secret_access_key = {AGENT[1]}
role = agent
"""
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "credentials"
    path.write_text(CREDENTIALS)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory, credentials_file):
    """One server with --credentials for the whole module (read-mostly tests)."""
    proc = ServerProcess(tmp_path_factory.mktemp("secured"), "--credentials", str(credentials_file)).start()
    proc.client(key=ADMIN).create_cluster()
    yield proc
    if proc.proc is not None:
        proc.stop()


def refused(call):
    with pytest.raises(ClientError) as e:
        call()
    error = e.value.response["Error"]
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


# -- credentials mode ---------------------------------------------------------------


def test_admin_key_may_do_everything(secured):
    ecs = secured.client(key=ADMIN)
    ecs.create_cluster(clusterName="admin-made")
    assert len(ecs.list_clusters()["clusterArns"]) == 2
    ecs.register_task_definition(family="f", containerDefinitions=[{"name": "c", "image": "i", "memory": 8}])


def test_unknown_key_is_unrecognized(secured):
    status, code, message = refused(secured.client(key=("AKIDNOBODY", "x")).list_clusters)
    assert (status, code) == (400, "UnrecognizedClientException")
    assert message == "The security token included in the request is invalid."


def test_wrong_secret_is_an_invalid_signature_without_details(secured):
    status, code, message = refused(secured.client(key=(ADMIN[0], "not-the-secret")).list_clusters)
    assert (status, code, message) == (400, "InvalidSignatureException", MISMATCH)
    body = raw_call(secured.endpoint, ECS + "ListClusters", "{}", key=(ADMIN[0], "wrong"))[1]
    assert set(body) == {"__type", "message"}
    assert "Canonical" not in body["message"] and "String-to-Sign" not in body["message"]


def test_unsigned_request_is_missing_a_token(secured):
    status, body = raw_call(secured.endpoint, ECS + "ListClusters", "{}", key=None)
    assert status == 403
    assert body == {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}


def test_health_stays_open(secured):
    status, body = raw_call(secured.endpoint, None, b"", key=None, method="GET", path="/health")
    assert (status, body) == (200, {"status": "ok", "role": "leader", "database": "ok"})


@pytest.mark.parametrize("minutes,accepted", [(-16, False), (-14, True), (14, True), (16, False)])
def test_clock_skew_over_15_minutes_refused(secured, minutes, accepted):
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        status, body = raw_call(secured.endpoint, ECS + "ListClusters", "{}", key=ADMIN)
    if accepted:
        assert status == 200, body
        return
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    if minutes < 0:
        assert body["message"].startswith(f"Signature expired: {stamp} is now earlier than ")
        assert body["message"].endswith(" - 15 min.)")
    else:
        assert body["message"].startswith(f"Signature not yet current: {stamp} is still later than ")
        assert body["message"].endswith(" + 15 min.)")


def _signed(endpoint, body, target=ECS + "ListClusters", key=ADMIN, **kw):
    return sign(endpoint, body, {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}, key, **kw)


def _send(endpoint, body, headers):
    import http.client

    conn = http.client.HTTPConnection(endpoint.removeprefix("http://").split(":")[0],
                                      int(endpoint.rsplit(":", 1)[1]), timeout=30)
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    status, data = response.status, json.loads(response.read())
    conn.close()
    return status, data


def test_tampering_after_signing_is_caught(secured):
    body = b'{"clusterName": "tamper"}'
    headers = _signed(secured.endpoint, body, ECS + "CreateCluster")
    assert _send(secured.endpoint, b'{"clusterName": "tampeR"}', headers)[1]["__type"] == "InvalidSignatureException"
    other = dict(headers, **{"X-Amz-Target": ECS + "DeleteCluster"})
    assert _send(secured.endpoint, body, other)[1]["__type"] == "InvalidSignatureException"
    # A client's body hash is not taken on trust: it is recomputed.
    lying = sign(secured.endpoint, body, {"Content-Type": "application/x-amz-json-1.1",
                                          "X-Amz-Target": ECS + "CreateCluster",
                                          "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, ADMIN)
    assert _send(secured.endpoint, body, lying)[1]["__type"] == "InvalidSignatureException"
    # An unsigned X-Amz-Target could be swapped by anyone on the path.
    unsigned_target = _signed(secured.endpoint, body, ECS + "CreateCluster")
    auth = unsigned_target["Authorization"].replace(";x-amz-target", "")
    status, answer = _send(secured.endpoint, body, dict(unsigned_target, Authorization=auth))
    assert (status, answer["__type"]) == (400, "IncompleteSignatureException")
    assert _send(secured.endpoint, body, headers)[0] == 200  # the untouched request passes
    assert "tampeR" not in str(secured.client(key=ADMIN).list_clusters())


@pytest.mark.parametrize("region,service,message", [
    ("eu-west-1", "ecs", "Credential should be scoped to a valid region, not 'eu-west-1'."),
    ("us-east-1", "ec2", "Credential should be scoped to correct service: 'ecs'."),
])
def test_scope_must_be_this_region_and_ecs(secured, region, service, message):
    headers = _signed(secured.endpoint, b"{}", region=region, service=service)
    assert _send(secured.endpoint, b"{}", headers) == (400, {"__type": "InvalidSignatureException", "message": message})


@pytest.mark.parametrize("authorization", [
    "Bearer abc",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=AKIDADMIN0000000001/20240101/us-east-1/ecs/aws4_request",
    "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/ecs/aws4_request, SignedHeaders=HOST, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz",
    "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/ecs/aws4_request, SignedHeaders=x-amz-date, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date;x-missing, "
    "Signature=" + "0" * 64,
])
def test_malformed_authorization_is_incomplete(secured, authorization):
    headers = _signed(secured.endpoint, b"{}")
    headers["Authorization"] = authorization
    status, body = _send(secured.endpoint, b"{}", headers)
    assert (status, body["__type"]) == (400, "IncompleteSignatureException"), body


def test_bad_amz_date_is_incomplete(secured):
    headers = _signed(secured.endpoint, b"{}")
    headers["X-Amz-Date"] = "yesterday"
    assert _send(secured.endpoint, b"{}", headers)[1]["__type"] == "IncompleteSignatureException"


def test_agent_key_may_only_call_agent_operations(secured):
    agent = secured.client(key=AGENT)
    status, code, message = refused(agent.list_clusters)
    assert (status, code) == (400, "AccessDeniedException")
    assert message == (
        "User: arn:aws:iam::123456789012:user/host-agent is not authorized to perform: ecs:ListClusters "
        "on resource: * because no identity-based policy allows the ecs:ListClusters action"
    )
    for call in (lambda: agent.create_cluster(clusterName="x"), lambda: agent.run_task(taskDefinition="f"),
                 lambda: agent.stop_task(task="t"), lambda: agent.delete_cluster(cluster="default")):
        assert refused(call)[1] == "AccessDeniedException"
    arn = agent.register_container_instance(totalResources=[
        {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
    ])["containerInstance"]["containerInstanceArn"]
    assert agent.discover_poll_endpoint(containerInstance=arn)["endpoint"]
    status, body = raw_call(secured.endpoint, "PortsideAgentV1.Poll",
                            json.dumps({"cluster": "default", "containerInstance": arn}), key=AGENT)
    assert status == 200 and body["tasks"] == []
    assert raw_call(secured.endpoint, "PortsideAgentV1.Poll", "{}", key=None)[0] == 403


def test_aws_cli_with_a_profile_from_the_same_file(secured, credentials_file):
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials_file), "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_DEFAULT_REGION": "us-east-1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def aws(profile, *args):
        return subprocess.run(["aws", "ecs", *args, "--endpoint-url", secured.endpoint, "--profile", profile],
                              env=env, capture_output=True, text=True, timeout=60)

    listed = aws("ops", "list-clusters")
    assert listed.returncode == 0, listed.stderr
    assert "cluster/default" in listed.stdout
    denied = aws("host-agent", "list-clusters")
    assert denied.returncode != 0 and "AccessDeniedException" in denied.stderr


def test_agent_runs_tasks_with_its_key_from_env_or_profile(secured, credentials_file, tmp_path):
    admin = secured.client(key=ADMIN)
    admin.register_task_definition(family="sleepy", containerDefinitions=[
        {"name": "c", "image": "fake", "memory": 8, "command": ["sleep", "60"]}])
    by_env = AgentProcess(secured, tmp_path / "env", "--runtime", "fake",
                          env={"AWS_ACCESS_KEY_ID": AGENT[0], "AWS_SECRET_ACCESS_KEY": AGENT[1]}).start()
    by_profile = AgentProcess(secured, tmp_path / "profile", "--runtime", "fake", "--profile", "host-agent",
                              env={"AWS_SHARED_CREDENTIALS_FILE": str(credentials_file),
                                   "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}).start()
    try:
        arns = [by_env.wait_registered(), by_profile.wait_registered()]
        started = admin.start_task(taskDefinition="sleepy", containerInstances=arns)["tasks"]
        tasks = [t["taskArn"] for t in started]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = {t["lastStatus"] for t in admin.describe_tasks(tasks=tasks)["tasks"]}
            if states == {"RUNNING"}:
                break
            time.sleep(0.1)
        assert states == {"RUNNING"}
        admin.stop_task(task=tasks[0])
        deadline = time.monotonic() + 20
        while admin.describe_tasks(tasks=tasks[:1])["tasks"][0]["lastStatus"] != "STOPPED":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        by_env.stop(signal.SIGKILL)
        by_profile.stop(signal.SIGKILL)


def test_agent_with_a_refused_key_says_so_in_one_line(secured, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "portside", "agent", "--server", secured.endpoint, "--runtime", "fake",
         "--data-dir", str(tmp_path)],
        env=dict(os.environ, AWS_ACCESS_KEY_ID="AKIDNOBODY", AWS_SECRET_ACCESS_KEY="x"),
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "UnrecognizedClientException" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


# -- open mode (no --credentials) -----------------------------------------------------


def test_open_mode_accepts_any_key_but_not_unsigned(server):
    assert server.client(key=("anyone", "anything")).list_clusters()["clusterArns"] == []
    status, body = raw_call(server.endpoint, ECS + "ListClusters", "{}", key=None)
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    headers = _signed(server.endpoint, b"{}", key=("k", "s"))
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=k"
    assert _send(server.endpoint, b"{}", headers)[1]["__type"] == "IncompleteSignatureException"


def test_open_mode_fails_a_browser_preflight(server):
    """A web page can only send X-Amz-Target/Authorization cross-origin after a
    CORS preflight; Portside fails it, and grants no CORS headers."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("OPTIONS", "/", headers={"Origin": "https://evil.example",
                                          "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "x-amz-target,authorization"})
    response = conn.getresponse()
    response.read()
    assert response.status == 403
    assert not any(name.lower().startswith("access-control-") for name, _ in response.getheaders())


def test_open_mode_refuses_a_non_loopback_host_header(server):
    # A web page that rebinds its DNS name to 127.0.0.1 still sends its own Host.
    status, body = raw_call(server.endpoint, ECS + "ListClusters", "{}",
                            extra_headers={"Host": "evil.example:8585"})
    assert (status, body["__type"]) == (400, "AccessDeniedException")
    for host in ("localhost:1", "127.0.0.1", "[::1]:8585"):
        assert raw_call(server.endpoint, ECS + "ListClusters", "{}", extra_headers={"Host": host})[0] == 200


def _server_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "portside", "server", "--port", str(free_port()),
                           "--data-dir", str(tmp_path), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_refuses_to_listen_beyond_loopback_without_credentials(tmp_path, host):
    out = _server_cli(tmp_path, "--host", host)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "without --credentials" in lines[0] and host in lines[0]


def test_listens_beyond_loopback_with_credentials(tmp_path, credentials_file):
    proc = ServerProcess(tmp_path, "--host", "0.0.0.0", "--credentials", str(credentials_file)).start()
    try:
        assert proc.client(key=ADMIN).list_clusters()["clusterArns"] == []
        assert refused(proc.client(key=("AKIDNOBODY", "x")).list_clusters)[1] == "UnrecognizedClientException"
    finally:
        proc.stop()


@pytest.mark.parametrize("content,complaint", [
    (None, "cannot read"),
    ("not an ini file", "not a valid INI"),
    ("[a]\naws_access_key_id = A\n", "needs aws_access_key_id and aws_secret_access_key"),
    ("[a]\naws_access_key_id = A\naws_secret_access_key = s\n", "needs role = admin or role = agent"),
    ("[a]\naws_access_key_id = A\naws_secret_access_key = s\nrole = root\n", "needs role = admin or role = agent"),
    ("[a]\naws_access_key_id = A\naws_secret_access_key = s\nrole = admin\n"
     "[b]\naws_access_key_id = A\naws_secret_access_key = t\nrole = agent\n", "already given in [a]"),
    ("# nothing\n", "defines no keys"),
])
def test_unusable_credentials_file_said_in_one_line(tmp_path, content, complaint):
    path = tmp_path / "creds"
    if content is not None:
        path.write_text(content)
    out = _server_cli(tmp_path, "--credentials", str(path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and complaint in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_up_with_credentials(tmp_path, credentials_file):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "portside", "up", "--runtime", "fake", "--port", str(port),
                             "--data-dir", str(tmp_path), "--credentials", str(credentials_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        server = ServerProcess(tmp_path)
        server.port = port
        admin = server.client(key=ADMIN)
        deadline, instances = time.monotonic() + 30, []
        while time.monotonic() < deadline and not instances:
            try:
                instances = admin.list_container_instances()["containerInstanceArns"]
            except Exception:
                pass
            time.sleep(0.2)
        assert len(instances) == 1  # the agent registered with the file's agent key
        assert refused(server.client(key=AGENT).list_clusters)[1] == "AccessDeniedException"
        assert refused(server.client(key=("x", "y")).list_clusters)[1] == "UnrecognizedClientException"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


# -- the other service families on the same port --------------------------------------


def test_each_service_family_is_signed_for_its_own_service(secured):
    """A request to Logs must carry `logs` in its credential scope (boto3 does
    so by itself), and one signed for `ecs` is refused there, as AWS would."""
    logs = secured.client("logs", key=ADMIN)
    logs.create_log_group(logGroupName="/auth/test")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/auth/test"]
    body = b'{"logGroupNamePrefix": "/"}'
    for service, ok in (("logs", True), ("ecs", False)):
        headers = _signed(secured.endpoint, body, service=service, target="Logs_20140328.DescribeLogGroups")
        status, answer = _send(secured.endpoint, body, headers)
        if ok:
            assert status == 200, answer
        else:
            assert (status, answer) == (400, {"__type": "InvalidSignatureException",
                                              "message": "Credential should be scoped to correct service: 'logs'."})
    agent_logs = secured.client("logs", key=AGENT)
    agent_logs.create_log_stream(logGroupName="/auth/test", logStreamName="s")  # what awslogs needs
    status, code, message = refused(lambda: agent_logs.delete_log_group(logGroupName="/auth/test"))
    assert (status, code) == (400, "AccessDeniedException") and "logs:DeleteLogGroup" in message
