"""The `awslogs` log driver, done by the agent: each container's stdout/stderr
is shipped to the Portside server's CloudWatch Logs, to the stream ECS would
name (`PREFIX/CONTAINER-NAME/TASK-ID`; the container id without a prefix).

Docker keeps every container's output in its json-file log (the durable
buffer); the agent reads it with timestamps and sends it with PutLogEvents in
order, with the container's own timestamps.  Delivery is at least once and,
across agent restarts and a server killed mid-call, without duplicates:

- after each acknowledged batch the agent saves how far it got (the Docker
  timestamp of the last line shipped, how many lines shared it, and the bytes
  shipped so far) in its data dir;
- a restarted agent resumes from there; if it was killed after a batch was
  stored but before it saved, the stream's `storedBytes` (which Portside keeps
  exactly as the sum of the stored messages) is ahead of the saved count, and
  the events that make up the difference are skipped, not sent again;
- a batch whose answer was lost is sent again only if `storedBytes` shows it
  was not stored (`put_events`).

Output keeps flowing while the server is away: the batch is retried with
backoff and the container's output waits in Docker's log.  The container is
removed only once its output has been shipped (`drain`).  A missing group
without `awslogs-create-group: true` fails the container's start with the
reason the Docker awslogs driver gives in ECS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import write_atomically
from .runtime import RuntimeFailure
from .server_client import ServerRefused, ServerUnavailable

log = logging.getLogger("portside.agent.logs")

KNOWN_OPTIONS = frozenset([
    "awslogs-group", "awslogs-region", "awslogs-stream-prefix", "awslogs-create-group", "mode",
    "max-buffer-size", "awslogs-datetime-format", "awslogs-multiline-pattern", "awslogs-stream",
])
BATCH_EVENTS = 1000
BATCH_BYTES = 256 * 1024
FLUSH_SECONDS = 1.0
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
START_RETRY_SECONDS = 30.0

MISSING_GROUP = (
    "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: "
    "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist."
)


@dataclass(frozen=True)
class AwsLogsOptions:
    group: str
    region: str | None
    stream_prefix: str | None
    create_group: bool
    mode: str
    multiline: re.Pattern[str] | None

    @classmethod
    def parse(cls, log_configuration: dict[str, Any] | None) -> AwsLogsOptions | None:
        """The awslogs options of a container, None for another driver;
        RuntimeFailure with Docker's wording for options it would refuse."""
        if not log_configuration or log_configuration.get("logDriver") != "awslogs":
            return None
        options = log_configuration.get("options") or {}
        for name in options:
            if name not in KNOWN_OPTIONS:
                raise RuntimeFailure(f"CannotCreateContainerError: Error response from daemon: unknown log opt "
                                     f"'{name}' for awslogs log driver")
        if log_configuration.get("secretOptions"):
            raise RuntimeFailure("CannotCreateContainerError: logConfiguration secretOptions are not supported "
                                 "by Portside's awslogs driver")
        group = options.get("awslogs-group")
        if not group:
            raise RuntimeFailure("CannotCreateContainerError: Error response from daemon: "
                                 "must specify a value for log opt 'awslogs-group'")
        mode = options.get("mode", "blocking")
        if mode not in ("blocking", "non-blocking"):
            raise RuntimeFailure(f"CannotCreateContainerError: Error response from daemon: "
                                 f"logger: logging mode not supported: {mode}")
        if options.get("awslogs-stream"):
            raise RuntimeFailure("CannotCreateContainerError: awslogs-stream is not supported by Portside; "
                                 "use awslogs-stream-prefix")
        multiline = None
        pattern = options.get("awslogs-multiline-pattern")
        fmt = options.get("awslogs-datetime-format")
        if pattern and fmt:
            raise RuntimeFailure("CannotCreateContainerError: Error response from daemon: you cannot configure "
                                 "log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time")
        try:
            if pattern:
                multiline = re.compile(pattern)
            elif fmt:
                multiline = re.compile("^" + _strftime_regex(fmt))
        except re.error as exc:
            raise RuntimeFailure(f"CannotCreateContainerError: Error response from daemon: "
                                 f"awslogs could not parse multiline pattern: {exc}") from exc
        return cls(group, options.get("awslogs-region"), options.get("awslogs-stream-prefix"),
                   str(options.get("awslogs-create-group", "false")).lower() == "true", mode, multiline)

    def stream_name(self, container_name: str, task_arn: str, runtime_id: str) -> str:
        if self.stream_prefix:
            return f"{self.stream_prefix}/{container_name}/{task_arn.rsplit('/', 1)[-1]}"
        return runtime_id


_STRFTIME = {
    "%b": r"[A-Z][a-z]{2}", "%a": r"[A-Z][a-z]{2}", "%A": r"[A-Z][a-z]+", "%B": r"[A-Z][a-z]+",
    "%d": r"\d{2}", "%e": r"[ \d]\d", "%f": r"\d{1,9}", "%H": r"\d{2}", "%I": r"\d{2}", "%j": r"\d{3}",
    "%k": r"[ \d]\d", "%l": r"[ \d]\d", "%m": r"\d{2}", "%M": r"\d{2}", "%p": r"[AP]M", "%S": r"\d{2}",
    "%y": r"\d{2}", "%Y": r"\d{4}", "%z": r"[+-]\d{4}", "%Z": r"[A-Z]+", "%L": r"\.\d{3}", "%%": "%",
}


def _strftime_regex(fmt: str) -> str:
    """The regular expression a strftime format matches (Docker's awslogs
    converts `awslogs-datetime-format` the same way)."""
    out, i = [], 0
    while i < len(fmt):
        piece = fmt[i:i + 2]
        if piece in _STRFTIME:
            out.append(_STRFTIME[piece])
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


# -- where a container's shipping got to -------------------------------------------------


@dataclass
class Position:
    ts_ns: int = 0  # Docker timestamp of the last line consumed
    same: int = 0  # how many lines with exactly that timestamp were consumed
    shipped_bytes: int = 0  # bytes of messages acknowledged so far (PutLogEvents)

    def after(self, ts_ns: int) -> bool:
        return ts_ns > self.ts_ns


class Positions:
    """Positions saved per container (atomically, fsynced) in the data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, runtime_id: str) -> Path:
        return self.directory / f"{runtime_id}.json"

    def load(self, runtime_id: str) -> Position | None:
        try:
            data = json.loads(self._path(runtime_id).read_text())
            return Position(int(data["ts_ns"]), int(data["same"]), int(data["shipped_bytes"]))
        except (OSError, ValueError, KeyError):
            return None

    def save(self, runtime_id: str, position: Position) -> None:
        write_atomically(self._path(runtime_id), json.dumps(position.__dict__))

    def forget(self, runtime_id: str) -> None:
        self._path(runtime_id).unlink(missing_ok=True)


# -- reading a container's output ---------------------------------------------------------


@dataclass(frozen=True)
class Line:
    ts_ns: int
    text: str


END = object()  # the container's output has ended (it exited)


class DockerOutput:
    """Reads a container's output (stdout and stderr, in Docker's order, with
    timestamps) on a thread of its own, into a bounded queue: when shipping
    falls behind, reading waits, and the output waits in Docker's log."""

    def __init__(self, docker_api: Any) -> None:
        self.api = docker_api

    def follow(self, runtime_id: str, since_ns: int) -> queue.Queue[Any]:
        out: queue.Queue[Any] = queue.Queue(maxsize=20_000)

        def read() -> None:
            try:
                since = max(0, since_ns // 1_000_000_000 - 1)  # Docker's `since` has seconds; lines are filtered below
                stream = self.api.logs(runtime_id, stdout=True, stderr=True, stream=True, follow=True,
                                       timestamps=True, since=since if since else None)
                pending = b""
                for chunk in stream:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        line = _parse(raw)
                        if line is not None:
                            out.put(line)
                if pending:
                    line = _parse(pending)
                    if line is not None:
                        out.put(line)
            except Exception as exc:  # the container is gone, or Docker went away
                log.debug("reading the output of %s ended: %s", runtime_id[:12], exc)
            out.put(END)

        threading.Thread(target=read, name=f"logs-{runtime_id[:12]}", daemon=True).start()
        return out


def _parse(raw: bytes) -> Line | None:
    stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
    ts = _timestamp_ns(stamp)
    if ts is None:
        return None
    return Line(ts, text.rstrip("\r"))


def _timestamp_ns(stamp: str) -> int | None:
    """RFC 3339 with nanoseconds (Docker's `timestamps=True`) as epoch ns."""
    try:
        head, _, frac = stamp.rstrip("Z").partition(".")
        seconds = dt.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
        return int(seconds) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        return None


# -- shipping ---------------------------------------------------------------------------


@dataclass
class Event:
    timestamp_ms: int
    message: str
    last: Line  # the last Docker line it holds (for the position)

    @property
    def size(self) -> int:
        return len(self.message.encode("utf-8"))


class ContainerShipment:
    """Ships one container's output to one stream until the output ends."""

    def __init__(self, shipper: LogShipper, runtime_id: str, options: AwsLogsOptions, stream: str) -> None:
        self.shipper = shipper
        self.runtime_id = runtime_id
        self.options = options
        self.stream = stream
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shipping the output of %s failed", self.runtime_id[:12])
        finally:
            self.done.set()

    async def _run(self) -> None:
        saved = self.shipper.positions.load(self.runtime_id)
        position = saved or Position()
        skip_bytes = 0
        if saved is not None:  # a batch may have been stored after the last save: skip what the stream holds
            stored = await self.shipper.stored_bytes(self.options.group, self.stream)
            skip_bytes = max(0, stored - position.shipped_bytes)
        assert self.shipper.output is not None
        lines = self.shipper.output.follow(self.runtime_id, position.ts_ns)
        seen_same = position.same  # lines at exactly position.ts_ns consumed before a restart
        pending: Event | None = None  # a multi-line event still growing
        batch: list[Event] = []
        last_line_at = time.monotonic()
        ended = False
        last_ms = 0
        while True:
            drained = 0
            while drained < 5000:
                try:
                    item = lines.get_nowait()
                except queue.Empty:
                    break
                drained += 1
                if item is END:
                    ended = True
                    break
                line: Line = item
                if line.ts_ns < position.ts_ns:
                    continue
                if line.ts_ns == position.ts_ns and seen_same > 0:
                    seen_same -= 1
                    continue
                if not line.text:
                    continue  # empty lines are not shipped (as Docker's awslogs driver drops them)
                last_line_at = time.monotonic()
                event = self._assemble(pending, line)
                if event is not pending and pending is not None:
                    batch.append(pending)
                pending = event
            if pending is not None and (ended or time.monotonic() - last_line_at >= FLUSH_SECONDS
                                        or self.options.multiline is None):
                batch.append(pending)
                pending = None
            # skip events a batch stored before the restart already holds
            while batch and skip_bytes > 0:
                skipped = batch.pop(0)
                skip_bytes -= skipped.size
                position.shipped_bytes += skipped.size
                self._advance(position, skipped.last)
            due = batch and (ended or len(batch) >= BATCH_EVENTS or sum(e.size for e in batch) >= BATCH_BYTES
                             or time.monotonic() - last_line_at >= FLUSH_SECONDS or drained == 0)
            if due:
                while batch:
                    chunk = _take_batch(batch)
                    for e in chunk:  # PutLogEvents wants them in time order
                        e.timestamp_ms = max(e.timestamp_ms, last_ms)
                        last_ms = e.timestamp_ms
                    stored = await self.shipper.put_events(self.options.group, self.stream, chunk,
                                                           position.shipped_bytes)
                    for e in chunk:  # consumed either way; counted only if stored (the stream's storedBytes)
                        position.shipped_bytes += e.size if stored else 0
                        self._advance(position, e.last)
                    self.shipper.positions.save(self.runtime_id, position)
            if ended and not batch and pending is None:
                return
            if drained == 0:
                await asyncio.sleep(0.1)

    def _assemble(self, pending: Event | None, line: Line) -> Event:
        """The event a line belongs to: a new one, or (multi-line pattern set,
        line not matching it) the pending one, grown."""
        text = line.text[:MAX_EVENT_BYTES]
        if pending is not None and self.options.multiline is not None and not self.options.multiline.search(text):
            merged = pending.message + "\n" + text
            if len(merged.encode("utf-8")) <= MAX_EVENT_BYTES:
                pending.message = merged
                pending.last = line
                return pending
        return Event(line.ts_ns // 1_000_000, text, line)

    @staticmethod
    def _advance(position: Position, line: Line) -> None:
        if line.ts_ns == position.ts_ns:
            position.same += 1
        elif line.ts_ns > position.ts_ns:
            position.ts_ns, position.same = line.ts_ns, 1


def _take_batch(batch: list[Event]) -> list[Event]:
    """The longest head of `batch` within PutLogEvents' limits (empty lines were dropped)."""
    size, n = 0, 0
    first = batch[0].timestamp_ms
    for e in batch:
        if n >= BATCH_EVENTS or size + e.size + EVENT_OVERHEAD > BATCH_BYTES or e.timestamp_ms - first > 86_400_000:
            break
        size += e.size + EVENT_OVERHEAD
        n += 1
    taken = batch[: max(n, 1)]
    del batch[: max(n, 1)]
    return taken


class LogShipper:
    """The agent's awslogs driver: one shipment per container that asks for it."""

    def __init__(self, call: Callable[..., Any], output: DockerOutput | None, data_dir: Path) -> None:
        self._call = call  # async (service, operation, **params) -> answer
        self.output = output
        self.positions = Positions(data_dir / "log-positions")
        self.shipments: dict[str, ContainerShipment] = {}

    @property
    def active(self) -> bool:
        return self.output is not None

    async def prepare(self, task_arn: str, container: dict[str, Any], runtime_id: str) -> None:
        """Before a container starts: its group (created if asked) and stream
        exist, or RuntimeFailure with ECS's reason."""
        options = AwsLogsOptions.parse(container.get("logConfiguration"))
        if options is None or not self.active:
            return
        stream = options.stream_name(container["name"], task_arn, runtime_id)
        deadline = time.monotonic() + START_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                if options.create_group:
                    await self._ignore_exists("CreateLogGroup", logGroupName=options.group)
                await self._ignore_exists("CreateLogStream", logGroupName=options.group, logStreamName=stream)
                return
            except ServerRefused as exc:
                if exc.code == "ResourceNotFoundException":
                    raise RuntimeFailure(MISSING_GROUP) from exc
                raise RuntimeFailure(
                    f"CannotStartContainerError: failed to create Cloudwatch log stream: {exc}") from exc
            except ServerUnavailable as exc:
                if time.monotonic() > deadline:
                    raise RuntimeFailure("CannotStartContainerError: failed to create Cloudwatch log stream: "
                                         f"RequestError: send request failed: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _ignore_exists(self, operation: str, **params: Any) -> None:
        try:
            await self._call("logs", operation, **params)
        except ServerRefused as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise

    def follow(self, task_arn: str, container: dict[str, Any], runtime_id: str) -> None:
        """Ship a started (or adopted) container's output from where it got to."""
        try:
            options = AwsLogsOptions.parse(container.get("logConfiguration"))
        except RuntimeFailure:
            return
        if options is None or not self.active or runtime_id in self.shipments:
            return
        shipment = ContainerShipment(self, runtime_id, options,
                                     options.stream_name(container["name"], task_arn, runtime_id))
        self.shipments[runtime_id] = shipment
        shipment.task = asyncio.create_task(shipment.run())

    async def drain(self, runtime_id: str) -> None:
        """Return once the container's output is shipped (it has exited)."""
        shipment = self.shipments.get(runtime_id)
        if shipment is None:
            return
        await shipment.done.wait()
        self.shipments.pop(runtime_id, None)
        self.positions.forget(runtime_id)

    async def stored_bytes(self, group: str, stream: str) -> int:
        delay = 0.2
        while True:
            try:
                out = await self._call("logs", "DescribeLogStreams", logGroupName=group, logStreamNamePrefix=stream)
                for s in out.get("logStreams", []):
                    if s["logStreamName"] == stream:
                        return int(s.get("storedBytes") or 0)
                return 0
            except ServerUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except ServerRefused:
                return 0

    async def put_events(self, group: str, stream: str, events: list[Event], stored_before: int) -> bool:
        """One PutLogEvents, retried while the server is away; a stream that
        vanished is made again.  A server killed after committing the batch
        but before answering leaves it stored: before each retry the stream's
        `storedBytes` (`stored_before` plus the batch once it landed; a batch
        is stored whole or not at all) tells whether it must be sent again.
        False if the server refused the batch (its events are dropped)."""
        delay = 0.2
        body = [{"timestamp": e.timestamp_ms, "message": e.message} for e in events]
        landed = stored_before + sum(e.size for e in events)
        while True:
            try:
                await self._call("logs", "PutLogEvents", logGroupName=group, logStreamName=stream, logEvents=body)
                return True
            except ServerUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                if await self.stored_bytes(group, stream) >= landed:
                    return True
            except ServerRefused as exc:
                if exc.code == "ResourceNotFoundException":
                    try:
                        await self._ignore_exists("CreateLogStream", logGroupName=group, logStreamName=stream)
                        continue
                    except (ServerRefused, ServerUnavailable):
                        pass
                log.error("PutLogEvents to %s/%s refused (%s); %d events dropped", group, stream, exc, len(events))
                return False

