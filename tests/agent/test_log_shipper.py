"""The awslogs shipper on its own: no server, no Docker.  Its CloudWatch Logs is
a dict of streams behind the same `call` the agent gives it, so a server that
dies between storing a batch and answering can be played exactly."""

import asyncio
import queue

from portside.agent.log_shipper import END, AwsLogsOptions, Line, LogShipper
from portside.agent.server_client import ServerRefused, ServerUnavailable

ARN = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"
CONTAINER = {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {
    "awslogs-group": "/ecs/app", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}}


class Output:
    """A container's output: the given lines, then its end."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def follow(self, runtime_id: str, since_ns: int) -> queue.Queue:
        out: queue.Queue = queue.Queue()
        for i, text in enumerate(self.texts):
            out.put(Line(1_700_000_000_000_000_000 + i * 1_000_000, text))
        out.put(END)
        return out


class Logs:
    """Streams as the server keeps them: the first `refuse` batches are
    refused; the next `lose_answers` are stored and their answer lost (the
    server was killed after its commit)."""

    def __init__(self, lose_answers: int = 0, refuse: int = 0) -> None:
        self.streams: dict[str, list[str]] = {}
        self.lose_answers = lose_answers
        self.refuse = refuse

    async def call(self, service: str, operation: str, **params) -> dict:
        if operation == "PutLogEvents" and self.refuse:
            self.refuse -= 1
            raise ServerRefused("InvalidParameterException", "refused for the test")
        if operation == "CreateLogStream":
            self.streams.setdefault(params["logStreamName"], [])
            return {}
        if operation == "DescribeLogStreams":
            return {"logStreams": [{"logStreamName": name, "storedBytes": sum(len(m.encode()) for m in messages)}
                                   for name, messages in self.streams.items()
                                   if name.startswith(params["logStreamNamePrefix"])]}
        if operation == "PutLogEvents":
            if params["logStreamName"] not in self.streams:
                raise ServerRefused("ResourceNotFoundException", "The specified log stream does not exist.")
            self.streams[params["logStreamName"]].extend(e["message"] for e in params["logEvents"])
            if self.lose_answers:
                self.lose_answers -= 1
                raise ServerUnavailable("connection reset by peer")
            return {}
        raise AssertionError(operation)


def _ship(logs: Logs, texts: list[str], tmp_path) -> list[str]:
    async def scenario() -> list[str]:
        shipper = LogShipper(logs.call, Output(texts), tmp_path)
        await shipper.prepare(ARN, CONTAINER, "c0ffee")
        shipper.follow(ARN, CONTAINER, "c0ffee")
        await asyncio.wait_for(shipper.drain("c0ffee"), 30)
        options = AwsLogsOptions.parse(CONTAINER["logConfiguration"])
        return logs.streams[options.stream_name("app", ARN, "c0ffee")]
    return asyncio.run(scenario())


def test_a_batch_stored_before_the_server_died_is_not_sent_again(tmp_path):
    logs = Logs(lose_answers=1)
    texts = [f"n {i}" for i in range(20)]
    assert _ship(logs, texts, tmp_path) == texts


def test_a_refused_batch_does_not_count_as_stored(tmp_path):
    """The first batch (1,000 events) is refused and dropped, the answer to
    the second is lost: the second is found stored, not sent again."""
    logs = Logs(refuse=1, lose_answers=1)
    texts = [f"n {i}" for i in range(1500)]
    assert _ship(logs, texts, tmp_path) == texts[1000:]


def test_a_batch_the_server_never_received_is_sent_again(tmp_path):
    logs = Logs()
    texts = [f"n {i}" for i in range(20)]

    async def down_then_up(service, operation, **params):  # the first PutLogEvents finds no server
        if operation == "PutLogEvents" and not hasattr(down_then_up, "failed"):
            down_then_up.failed = True
            raise ServerUnavailable("connection refused")
        return await Logs.call(logs, service, operation, **params)

    logs.call = down_then_up
    assert _ship(logs, texts, tmp_path) == texts
