"""CloudWatch Logs on Portside's port, driven by boto3 and the AWS CLI as a
user would, against a real server process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_code

AWSCLI2 = os.environ.get("PORTSIDE_AWSCLI2") or os.path.join(os.path.dirname(sys.executable), "..", "awscli2", "aws")


@pytest.fixture
def logs(server):
    return server.client("logs")


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs, group: str, stream: str, messages: list[str], start: int | None = None) -> int:
    start = now_ms() if start is None else start
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)])
    return start


def test_groups_and_streams(logs):
    logs.create_log_group(logGroupName="/ecs/app", tags={"team": "a"})
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/ecs/app")
    assert error_code(exc) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="bad name!")
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/x", kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/abc")
    assert error_code(exc) == "InvalidParameterException" and "kmsKeyId" in exc.value.response["Error"]["Message"]

    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/app"]
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/app"
    assert groups[0]["arn"] == arn + ":*" and groups[0]["logGroupArn"] == arn
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}
    logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}

    logs.create_log_stream(logGroupName="/ecs/app", logStreamName="web/c/1")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/ecs/app", logStreamName="web/c/1")
    assert error_code(exc) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/nope", logStreamName="s")
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/ecs/app", logStreamName="a:b")
    assert error_code(exc) == "InvalidParameterException"

    for i in range(3):
        logs.create_log_stream(logGroupName="/ecs/app", logStreamName=f"s{i}")
    page1 = logs.describe_log_streams(logGroupName="/ecs/app", limit=2)
    page2 = logs.describe_log_streams(logGroupName="/ecs/app", limit=2, nextToken=page1["nextToken"])
    names = [s["logStreamName"] for s in page1["logStreams"] + page2["logStreams"]]
    assert names == ["s0", "s1", "s2", "web/c/1"] and "nextToken" not in page2
    by_prefix = logs.describe_log_streams(logGroupIdentifier=arn, logStreamNamePrefix="web/")
    assert [s["logStreamName"] for s in by_prefix["logStreams"]] == ["web/c/1"]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="/ecs/app", orderBy="LastEventTime", logStreamNamePrefix="s")
    assert error_code(exc) == "InvalidParameterException"

    logs.delete_log_stream(logGroupName="/ecs/app", logStreamName="s0")
    with pytest.raises(ClientError) as exc:
        logs.delete_log_stream(logGroupName="/ecs/app", logStreamName="s0")
    assert error_code(exc) == "ResourceNotFoundException"
    logs.delete_log_group(logGroupName="/ecs/app")
    assert logs.describe_log_groups()["logGroups"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName="/ecs/app")
    assert error_code(exc) == "ResourceNotFoundException"


def test_put_and_get_events_in_order_with_tokens(logs, server):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    start = now_ms() - 10_000
    messages = [f"line {i}" for i in range(25)]
    put(logs, "g", "s", messages[:10], start)
    put(logs, "g", "s", messages[10:], start + 10)

    head = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True, limit=10)
    assert [e["message"] for e in head["events"]] == messages[:10]
    seen = list(head["events"])
    token = head["nextForwardToken"]
    while True:
        page = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=token, limit=10)
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        seen += page["events"]
        token = page["nextForwardToken"]
    assert [e["message"] for e in seen] == messages
    assert all(e["ingestionTime"] >= e["timestamp"] for e in seen)

    tail = logs.get_log_events(logGroupName="g", logStreamName="s", limit=5)
    assert [e["message"] for e in tail["events"]] == messages[-5:]
    back = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=tail["nextBackwardToken"], limit=5)
    assert [e["message"] for e in back["events"]] == messages[-10:-5]
    window = logs.get_log_events(logGroupName="g", logStreamName="s", startTime=start + 3, endTime=start + 6,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == messages[3:6]

    # new events are found from the last forward token (how a follower polls)
    put(logs, "g", "s", ["late"])
    more = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=token)
    assert [e["message"] for e in more["events"]] == ["late"]

    # ...and everything acknowledged survives a kill -9 of the server
    server.restart(signal.SIGKILL)
    logs = server.client("logs")
    again = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in again["events"]] == messages + ["late"]
    stream = logs.describe_log_streams(logGroupName="g")["logStreams"][0]
    assert stream["firstEventTimestamp"] == start and stream["lastEventTimestamp"] >= start + 24

    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="g", logStreamName="s", nextToken="garbage")
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="g", logStreamName="missing")
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logStreamName="s")
    assert error_code(exc) == "InvalidParameterException"


def test_put_log_events_rules(logs, server):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName="g", logStreamName="s",
                            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName="g", logStreamName="nope", logEvents=[{"timestamp": now, "message": "x"}])
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # the model's own bounds: at least one event
        unchecked = server.client("logs", parameter_validation=False)
        unchecked.put_log_events(logGroupName="g", logStreamName="s", logEvents=[])
    assert error_code(exc) == "InvalidParameterException"
    out = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": now - 15 * 86_400_000, "message": "too old"},
        {"timestamp": now, "message": "fine"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"},
    ])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}
    events = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["fine"]

    # retention: events older than it are rejected on the way in and not answered
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="g", retentionInDays=2)
    assert error_code(exc) == "InvalidParameterException"
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 1
    out = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": now - 2 * 86_400_000, "message": "expired"}, {"timestamp": now + 1, "message": "kept"}])
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    logs.delete_retention_policy(logGroupName="g")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def test_filter_log_events_patterns(logs):
    logs.create_log_group(logGroupName="g")
    for s in ("a", "b"):
        logs.create_log_stream(logGroupName="g", logStreamName=s)
    t = now_ms() - 1000
    logs.put_log_events(logGroupName="g", logStreamName="a", logEvents=[
        {"timestamp": t, "message": "INFO starting"},
        {"timestamp": t + 2, "message": "ERROR Out of memory"},
        {"timestamp": t + 4, "message": json.dumps({"level": "error", "latency": 250})},
    ])
    logs.put_log_events(logGroupName="g", logStreamName="b", logEvents=[
        {"timestamp": t + 1, "message": "ERROR disk full, Exiting"},
        {"timestamp": t + 3, "message": json.dumps({"level": "info", "latency": 20})},
    ])

    def messages(**kw):
        return [e["message"] for e in logs.filter_log_events(logGroupName="g", **kw)["events"]]

    assert len(messages()) == 5
    assert messages(filterPattern="ERROR") == ["ERROR disk full, Exiting", "ERROR Out of memory"]
    assert messages(filterPattern="ERROR -Exiting") == ["ERROR Out of memory"]
    assert messages(filterPattern='"Out of memory"') == ["ERROR Out of memory"]
    assert messages(filterPattern="?starting ?full") == ["INFO starting", "ERROR disk full, Exiting"]
    assert messages(filterPattern='{ $.level = "error" }') == [json.dumps({"level": "error", "latency": 250})]
    assert messages(filterPattern="{ $.latency < 100 }") == [json.dumps({"level": "info", "latency": 20})]
    assert messages(filterPattern="ERROR", logStreamNames=["a"]) == ["ERROR Out of memory"]
    assert messages(startTime=t + 1, endTime=t + 2) == ["ERROR disk full, Exiting", "ERROR Out of memory"]
    page = logs.filter_log_events(logGroupName="g", limit=2)
    assert len(page["events"]) == 2 and page["nextToken"]
    rest = logs.filter_log_events(logGroupName="g", nextToken=page["nextToken"])
    assert [e["message"] for e in page["events"] + rest["events"]] == messages() and "nextToken" not in rest
    ids = [e["eventId"] for e in page["events"] + rest["events"]]
    assert len(set(ids)) == 5
    for bad in ("[ip, user]", "{ $.level = }", '"unterminated'):
        with pytest.raises(ClientError) as exc:
            logs.filter_log_events(logGroupName="g", filterPattern=bad)
        assert error_code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName="nope")
    assert error_code(exc) == "ResourceNotFoundException"


def test_logs_through_the_aws_cli(server, tmp_path):
    """`aws logs ...` with AWS_ENDPOINT_URL set once, as a user would."""
    env = dict(os.environ, AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID="AKIDCLI",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION=REGION, AWS_MAX_ATTEMPTS="1")

    def aws(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    aws("logs", "create-log-group", "--log-group-name", "/ecs/app")
    aws("logs", "create-log-stream", "--log-group-name", "/ecs/app", "--log-stream-name", "web/app/1")
    t = now_ms()
    events = json.dumps([{"timestamp": t, "message": "hello"}, {"timestamp": t + 1, "message": "ERROR boom"}])
    aws("logs", "put-log-events", "--log-group-name", "/ecs/app", "--log-stream-name", "web/app/1",
        "--log-events", events)
    got = aws("logs", "get-log-events", "--log-group-name", "/ecs/app", "--log-stream-name", "web/app/1")
    assert [e["message"] for e in got["events"]] == ["hello", "ERROR boom"]
    found = aws("logs", "filter-log-events", "--log-group-name", "/ecs/app", "--filter-pattern", "ERROR")
    assert [e["message"] for e in found["events"]] == ["ERROR boom"]
    assert found["events"][0]["logStreamName"] == "web/app/1"
    # the ECS API answers on the same endpoint
    assert "clusterArns" in aws("ecs", "list-clusters")
    bad = subprocess.run([sys.executable, "-m", "awscli", "logs", "get-log-events", "--log-group-name", "/ecs/app",
                          "--log-stream-name", "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr


def test_aws_logs_tail_follow_with_cli_v2(server, tmp_path):
    """`aws logs tail GROUP --follow` (AWS CLI v2; it polls FilterLogEvents and
    drops events it has shown by eventId) shows old and new events once each."""
    if not os.path.exists(AWSCLI2):
        pytest.fail("AWS CLI v2 missing: run scripts/awscli2-up (scripts/test does)")
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/ecs/app")
    logs.create_log_stream(logGroupName="/ecs/app", logStreamName="web/app/1")
    put(logs, "/ecs/app", "web/app/1", ["first", "ERROR second"])
    env = dict(os.environ, AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID="AKIDCLI",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION=REGION, AWS_PAGER="",
               HOME=str(tmp_path))
    tail = subprocess.Popen([AWSCLI2, "logs", "tail", "/ecs/app", "--follow", "--since", "1h", "--format", "short"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import queue
        import threading

        # A thread reads whole lines: select() on the pipe would miss a line
        # already sitting in the reader's buffer behind the one just read.
        seen: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [seen.put(line.rstrip("\n")) for line in tail.stdout], daemon=True).start()
        lines: list[str] = []

        def read_until(n: int, timeout: float = 90) -> None:
            deadline = time.monotonic() + timeout
            while len(lines) < n and time.monotonic() < deadline:
                try:
                    lines.append(seen.get(timeout=0.5))
                except queue.Empty:
                    pass
            assert len(lines) >= n, (lines, tail.poll(), tail.stderr.read() if tail.poll() is not None else "")

        read_until(2)
        put(logs, "/ecs/app", "web/app/1", ["third"])
        read_until(3)
        time.sleep(6)  # another poll or two: nothing is shown twice
        put(logs, "/ecs/app", "web/app/1", ["fourth"])
        read_until(4)
        assert [line.split(" ", 1)[1] for line in lines] == ["first", "ERROR second", "third", "fourth"]
    finally:
        tail.kill()
        tail.wait()
