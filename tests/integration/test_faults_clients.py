"""Slow and hostile clients (issue 14): connections that never finish a
request, more sockets than the process has descriptors, huge headers that
used to pin memory, a catastrophic regular expression, an oversized task
definition.  Each test drives a real `portside server` process over sockets.
"""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import AgentProcess, ServerProcess, wait_for_task
from helpers import register_task_definition, resources, wait_for
from sigv4 import ECS, raw_call, sign

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker


def _start(tmp_path: Path, *args: str) -> ServerProcess:
    return ServerProcess(tmp_path / "data", *args).start()


def _rss_mib(server: ServerProcess) -> float:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the socket within `seconds`, what it sent)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


@pytest.fixture
def stop_servers():
    started: list[ServerProcess] = []
    yield started
    for s in started:
        if s.proc is not None:
            s.stop()


# -- time limits -----------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(tmp_path, stop_servers):
    server = _start(tmp_path, "--idle-timeout", "1")
    stop_servers.append(server)
    with _connect(server) as sock:
        closed, _ = _closed_within(sock, 4)
    assert closed, "an idle connection was held open"


def test_headers_sent_a_byte_at_a_time_get_408(tmp_path, stop_servers):
    server = _start(tmp_path, "--header-timeout", "1", "--idle-timeout", "30")
    stop_servers.append(server)
    with _connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < 5:  # a slowloris: a header line every 0.3 s, never the end
            try:
                sock.sendall(b"X-Slow: y\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            closed, data = _closed_within(sock, 0.3)
            answer += data
            if closed:
                break
        else:
            pytest.fail("a request whose headers never end was held for 5 s")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_a_stalled_body_gets_408(tmp_path, stop_servers):
    server = _start(tmp_path, "--body-timeout", "1", "--idle-timeout", "30")
    stop_servers.append(server)
    body = b'{"clusterName": "x"}'
    headers = sign(server.endpoint, body, {"Content-Type": "application/x-amz-json-1.1",
                                           "X-Amz-Target": ECS + "CreateCluster"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with _connect(server) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{head}\r\n".encode() + body[:5])
        closed, answer = _closed_within(sock, 4)
    assert closed, "a request whose body stalled was held"
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]  # 408, or the app's own 400 for a cut body
    assert not any(a.endswith("/x") for a in server.client().list_clusters()["clusterArns"])  # nothing half-made


# -- descriptors and the connection cap ---------------------------------------------------------


def test_open_file_limit_is_raised_and_a_thousand_idle_sockets_lock_nobody_out(tmp_path, stop_servers):
    """At the common soft limit of 1,024 descriptors, ~1,100 idle sockets made
    `accept` fail and every client hang."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        pytest.skip(f"the hard open-file limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        server = _start(tmp_path)  # default timeouts: the sockets below stay idle for < 5 s
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    stop_servers.append(server)
    limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert int(line.split()[3]) == hard, line
    sockets = [_connect(server) for _ in range(1100)]
    try:
        server.client(connect_timeout=5, read_timeout=5).list_clusters()
    finally:
        for s in sockets:
            s.close()


def test_at_the_connection_cap_idle_sockets_give_way_and_agents_keep_polling(tmp_path, stop_servers):
    server = _start(tmp_path, "--max-connections", "30", "--idle-timeout", "60", "--header-timeout", "60")
    stop_servers.append(server)
    ecs = server.client(connect_timeout=5, read_timeout=10)
    ecs.create_cluster()
    agent = AgentProcess(server, tmp_path / "agent", "--runtime", "fake").start()
    try:
        agent.wait_registered()
        definition = ecs.register_task_definition(
            family="sleeper",
            containerDefinitions=[{"name": "c", "image": "busybox", "command": ["sleep", "60"], "memory": 64}]
        )["taskDefinition"]["taskDefinitionArn"]
        # 200 sockets: idle ones and ones that began a request and stalled (slowloris)
        hostile = []
        for i in range(200):
            s = _connect(server)
            if i % 2:
                s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            hostile.append(s)
        try:
            for _ in range(3):  # the agent's long poll is held across the flood and still answered
                arn = ecs.run_task(taskDefinition=definition)["tasks"][0]["taskArn"]
                wait_for_task(ecs, arn, "RUNNING", timeout=30)
        finally:
            for s in hostile:
                s.close()
    finally:
        agent.stop()
    log = server.log.read_text()
    assert "connection cap of 30 reached" in log, log[-2000:]


# -- header size and memory pinned by unauthenticated requests ----------------------------------


def test_a_huge_header_is_refused_with_431(tmp_path, stop_servers):
    server = _start(tmp_path)
    stop_servers.append(server)
    with _connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"y" * 200_000 + b"\r\n\r\n")
        closed, answer = _closed_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def _send_quietly(server: ServerProcess, payload: bytes) -> None:
    with _connect(server) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return
        _closed_within(sock, 5)


def test_memory_stays_flat_under_floods_of_unauthenticated_and_missing_things(tmp_path, stop_servers):
    """Before: 40 requests with a 10 MB Credential pinned 791 MiB, 40 unknown
    10 MB targets 401 MiB, 200 DescribeTaskDefinition misses 159 MiB."""
    server = _start(tmp_path)
    stop_servers.append(server)
    server.client().list_clusters()  # the model loaded, caches warm
    before = _rss_mib(server)
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for i in range(40):
        credential = f"{'K' * (10 << 20)}{i}/{date[:8]}/us-east-1/ecs/aws4_request"
        auth = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
        _send_quietly(server, f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Date: {date}\r\n"
                              f"Authorization: {auth}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    for i in range(2000):  # distinct unknown targets, each just under the header cap
        status, _ = raw_call(server.endpoint, ECS + f"{i}" + "X" * 30_000, b"{}")
        assert status == 400
    for i in range(200):  # task definition misses, each naming a 0.9 MB family
        status, body = raw_call(server.endpoint, ECS + "DescribeTaskDefinition",
                                '{"taskDefinition": "' + "f" * 900_000 + f'{i}"}}')
        assert status == 400 and body["__type"] == "ClientException", body
    grown = _rss_mib(server) - before
    print(f"\nRSS grew {grown:.1f} MiB under 40 × 10 MB credentials, 2,000 × 30 kB unknown targets, "
          f"200 × 0.9 MB task definition misses")
    assert grown < 48, f"RSS grew {grown:.0f} MiB"
    server.client().list_clusters()


# -- ReDoS and document sizes --------------------------------------------------------------------


def test_a_catastrophic_pattern_is_matched_in_linear_time(tmp_path, stop_servers):
    """`(a*)*b` against 40 a's and a c: Python's `re` would take hours."""
    server = _start(tmp_path)
    stop_servers.append(server)
    ecs = server.client(read_timeout=15)
    ecs.create_cluster()
    ecs.register_container_instance(
        totalResources=resources(), attributes=[{"name": "victim", "value": "a" * 40 + "c"}],
        versionInfo={"agentVersion": "1.0.0", "agentHash": "x", "dockerVersion": "28"},
    )
    found = ecs.list_container_instances(filter="attribute:victim =~ '(a*)*b'")["containerInstanceArns"]
    assert found == []
    found = ecs.list_container_instances(filter="attribute:victim =~ '(a*)*c'")["containerInstanceArns"]
    assert len(found) == 1
    with pytest.raises(ClientError) as excinfo:
        ecs.list_container_instances(filter=r"attribute:victim =~ '(a)\1'")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "bad pattern" in excinfo.value.response["Error"]["Message"]


def test_a_task_definition_over_64_kib_is_refused(tmp_path, stop_servers):
    server = _start(tmp_path)
    stop_servers.append(server)
    ecs = server.client()
    big = [{"name": f"E{i}", "value": "v" * 1000} for i in range(70)]
    with pytest.raises(ClientError) as excinfo:
        ecs.register_task_definition(family="big", containerDefinitions=[
            {"name": "c", "image": "busybox", "memory": 64, "environment": big}])
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameterException" and "65536 bytes" in error["Message"], error
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []
    register_task_definition(ecs, family="small")  # a normal one still goes in
    wait_for(lambda: ecs.list_task_definitions()["taskDefinitionArns"], what="the small definition")
