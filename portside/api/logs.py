"""CloudWatch Logs (`X-Amz-Target: Logs_20140328.*`): log groups, streams and
events, as the CloudWatch Logs API reference describes them.

Names, errors and limits follow AWS: groups are `[.-_/#A-Za-z0-9]{1,512}`,
streams any 1-512 characters but `:` and `*`; a PutLogEvents batch is at most
10,000 events and 1,048,576 bytes (messages in UTF-8 plus 26 bytes each), in
chronological order, spanning at most 24 hours; events more than 14 days old
(or older than the group's retention) or more than 2 hours ahead are rejected
while the rest are stored.  Retention is enforced: expired events are not
answered and are purged by the janitor.
"""

from __future__ import annotations

import re
from typing import Any

from ..control import logs
from ..domain.log_filter import FilterPatternError, compile_pattern
from ..protocol.dispatch import operation
from ..protocol.errors import InvalidParameterException, ServiceError
from ..store.logs import END, START, LogEvent, LogGroup, LogStream, Position
from .common import decode_token, encode_token
from .context import Context

SERVICE = "logs"
GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
STREAM_NAME = re.compile(r"^[^:*]{1,512}$")
RETENTION_DAYS = frozenset(
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
)
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
MAX_RESPONSE_BYTES = 1_048_576
DAY_MS, MAX_TAGS = logs.DAY_MS, logs.MAX_TAGS


def _group_name(ctx: Context, params: dict[str, Any]) -> str:
    """The group named by `logGroupName` or `logGroupIdentifier` (exactly one)."""
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise InvalidParameterException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name is None and identifier is None:
        raise InvalidParameterException("Either the parameter logGroupName or logGroupIdentifier must be specified.")
    if identifier is not None:
        resolved = ctx.arns.log_group_name(identifier)
        if resolved is None:
            raise logs.not_found("log group")
        return resolved
    return name  # type: ignore[return-value]


def _group_view(ctx: Context, group: LogGroup) -> dict[str, Any]:
    arn = ctx.arns.log_group(group.name)
    return {
        "logGroupName": group.name,
        "creationTime": group.created,
        "retentionInDays": group.retention_days,
        "metricFilterCount": 0,
        "arn": arn + ":*",
        "logGroupArn": arn,
        "storedBytes": group.stored_bytes,
        "logGroupClass": group.log_group_class,
        "deletionProtectionEnabled": group.deletion_protection,
    }


def _stream_view(ctx: Context, stream: LogStream) -> dict[str, Any]:
    return {
        "logStreamName": stream.name,
        "creationTime": stream.created,
        "firstEventTimestamp": stream.first_event,
        "lastEventTimestamp": stream.last_event,
        "lastIngestionTime": stream.last_ingestion,
        "arn": ctx.arns.log_stream(stream.group_name, stream.name),
        "storedBytes": stream.stored_bytes,
    }


def _tags_map(tags: dict[str, str] | None) -> dict[str, str]:
    tags = tags or {}
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise InvalidParameterException("Tag keys must be 1-128 characters and values at most 256 characters.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterException("Tag keys with the prefix 'aws:' are reserved for AWS use.")
    if len(tags) > MAX_TAGS:
        raise ServiceError("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.")
    return tags


# -- groups ---------------------------------------------------------------------------


@operation("CreateLogGroup", SERVICE, accepts=("logGroupName", "tags", "logGroupClass", "deletionProtectionEnabled"))
def create_log_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["logGroupName"]
    if not GROUP_NAME.match(name):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{name[:512]}' at 'logGroupName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )
    group_class = params.get("logGroupClass", "STANDARD")
    if group_class not in ("STANDARD", "INFREQUENT_ACCESS"):
        raise InvalidParameterException(f"logGroupClass {group_class} is not supported by Portside.")
    tags = _tags_map(params.get("tags"))
    logs.create_group(ctx, name, group_class, bool(params.get("deletionProtectionEnabled")), tags)
    return {}


@operation("DeleteLogGroup", SERVICE, accepts=("logGroupName",))
def delete_log_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["logGroupName"]
    logs.delete_group(ctx, name)
    return {}


@operation("DescribeLogGroups", SERVICE, accepts=(
    "logGroupNamePrefix", "logGroupNamePattern", "nextToken", "limit", "includeLinkedAccounts",
    "logGroupClass", "logGroupIdentifiers", "accountIdentifiers",
))
def describe_log_groups(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise InvalidParameterException("logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters.")
    accounts = params.get("accountIdentifiers")
    if accounts and any(a != ctx.config.account_id for a in accounts):
        raise InvalidParameterException("accountIdentifiers: only this server's account is served by Portside.")
    limit = params.get("limit", 50)
    after = _decode_token(params.get("nextToken"), "")
    identifiers = params.get("logGroupIdentifiers")
    if identifiers is not None:
        if prefix is not None or pattern is not None:
            raise InvalidParameterException("logGroupIdentifiers cannot be combined with a name prefix or pattern.")
        names = sorted({n for n in (ctx.arns.log_group_name(i) for i in identifiers) if n is not None})
        groups = [g for g in (ctx.store.logs.get_group(n) for n in names if n > after) if g is not None]
        if params.get("logGroupClass"):
            groups = [g for g in groups if g.log_group_class == params["logGroupClass"]]
        groups = groups[: limit + 1]
    else:
        groups = ctx.store.logs.list_groups(prefix or "", pattern, after, limit + 1, params.get("logGroupClass"))
    result: dict[str, Any] = {"logGroups": [_group_view(ctx, g) for g in groups[:limit]]}
    if len(groups) > limit:
        result["nextToken"] = _encode_token(groups[limit - 1].name)
    return result


@operation("PutRetentionPolicy", SERVICE, accepts=("logGroupName", "retentionInDays"))
def put_retention_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(map(str, sorted(RETENTION_DAYS)))}]"
        )
    logs.set_retention(ctx, params["logGroupName"], days)
    return {}


@operation("DeleteRetentionPolicy", SERVICE, accepts=("logGroupName",))
def delete_retention_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    logs.set_retention(ctx, params["logGroupName"], None)
    return {}


# -- streams --------------------------------------------------------------------------


@operation("CreateLogStream", SERVICE, accepts=("logGroupName", "logStreamName"))
def create_log_stream(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group, name = params["logGroupName"], params["logStreamName"]
    if not STREAM_NAME.match(name):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{name[:512]}' at 'logStreamName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [^:*]*"
        )
    logs.create_stream(ctx, group, name)
    return {}


@operation("DeleteLogStream", SERVICE, accepts=("logGroupName", "logStreamName"))
def delete_log_stream(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    logs.delete_stream(ctx, params["logGroupName"], params["logStreamName"])
    return {}


@operation("DescribeLogStreams", SERVICE, accepts=(
    "logGroupName", "logGroupIdentifier", "logStreamNamePrefix", "orderBy", "descending", "nextToken", "limit",
))
def describe_log_streams(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_name(ctx, params)
    by_last_event = params.get("orderBy") == "LastEventTime"
    prefix = params.get("logStreamNamePrefix")
    if by_last_event and prefix:
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    logs.existing_group(ctx, group)
    limit = params.get("limit", 50)
    offset = _decode_token(params.get("nextToken"), 0)
    streams = ctx.store.logs.list_streams(group, prefix or "", by_last_event, bool(params.get("descending")),
                                    offset, limit + 1)
    result: dict[str, Any] = {"logStreams": [_stream_view(ctx, s) for s in streams[:limit]]}
    if len(streams) > limit:
        result["nextToken"] = _encode_token(offset + limit)
    return result


# -- events ---------------------------------------------------------------------------


@operation("PutLogEvents", SERVICE, accepts=("logGroupName", "logStreamName", "logEvents", "sequenceToken"))
def put_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The sequence token is ignored, as AWS now documents it."""
    events = [(e["timestamp"], e["message"]) for e in params["logEvents"]]
    if len(events) > 10_000:
        raise InvalidParameterException("The maximum number of log events in a batch is 10,000.")
    sizes = [len(m.encode("utf-8")) for _, m in events]
    if any(size > MAX_EVENT_BYTES for size in sizes):
        raise InvalidParameterException(f"Log event too large: each event can be at most {MAX_EVENT_BYTES} bytes.")
    if sum(sizes) + EVENT_OVERHEAD * len(events) > MAX_BATCH_BYTES:
        raise InvalidParameterException("Upload too large: the batch exceeds the maximum of 1,048,576 bytes.")
    if any(a[0] > b[0] for a, b in zip(events, events[1:], strict=False)):
        raise InvalidParameterException("Log events in a single PutLogEvents request must be in chronological order.")
    rejected = logs.put_events(ctx, params["logGroupName"], params["logStreamName"], events)
    result: dict[str, Any] = {}
    if rejected:
        result["rejectedLogEventsInfo"] = rejected
    return result


def _event_view(event: LogEvent) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingested}


def _position_token(direction: str, position: Position) -> str:
    return f"{direction}/{position[0]:021d}/{position[1]:020d}"


def _parse_position_token(token: str) -> tuple[str, Position]:
    parts = token.split("/")
    try:
        if len(parts) != 3 or parts[0] not in ("f", "b"):
            raise ValueError
        return parts[0], (int(parts[1]), int(parts[2]))
    except ValueError:
        raise InvalidParameterException("The specified nextToken is invalid.") from None


def _within_size(events: list[LogEvent], newest: bool) -> list[LogEvent]:
    """At most 1 MB of events, cut at the far end from where reading started."""
    order = reversed(events) if newest else iter(events)
    kept: list[LogEvent] = []
    size = 0
    for event in order:
        size += len(event.message.encode("utf-8")) + EVENT_OVERHEAD
        if size > MAX_RESPONSE_BYTES and kept:
            break
        kept.append(event)
    return kept[::-1] if newest else kept


@operation("GetLogEvents", SERVICE, accepts=(
    "logGroupName", "logGroupIdentifier", "logStreamName", "startTime", "endTime", "nextToken", "limit",
    "startFromHead", "unmask",
))
def get_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Tokens are positions: `f/TS/SEQ` reads forward past one, `b/TS/SEQ`
    backward before one.  A read that finds nothing answers the token it was
    given, which is how the SDKs know they reached the end."""
    group = logs.existing_group(ctx, _group_name(ctx, params))
    stream = params["logStreamName"]
    logs.existing_stream(ctx, group.name, stream)
    limit = params.get("limit", 10_000)
    low: Position = (max(params.get("startTime", START[0]), logs.retention_floor(ctx, group)) - 1, END[1])
    high: Position = (params["endTime"], START[1]) if "endTime" in params else END
    token = params.get("nextToken")
    if token:
        direction, position = _parse_position_token(token)
        newest = direction == "b"
        if newest:
            high = min(high, position)
        else:
            low = max(low, position)
    else:
        newest = not params.get("startFromHead", False)
    events = _within_size(ctx.store.logs.stream_events(group.name, stream, low, high, limit, newest), newest)
    if events:
        forward, backward = events[-1].position, events[0].position
    elif token:
        return {"events": [], "nextForwardToken": token, "nextBackwardToken": token}
    else:
        forward = backward = low if not newest else (high if high != END else low)
    return {
        "events": [_event_view(e) for e in events],
        "nextForwardToken": _position_token("f", forward),
        "nextBackwardToken": _position_token("b", backward),
    }


FILTER_SCAN_LIMIT = 100_000  # events examined per FilterLogEvents call before it answers a nextToken


@operation("FilterLogEvents", SERVICE, accepts=(
    "logGroupName", "logGroupIdentifier", "logStreamNames", "logStreamNamePrefix", "startTime", "endTime",
    "filterPattern", "nextToken", "limit", "interleaved", "unmask", "startFromHead",
))
def filter_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Events of a group, interleaved across its streams in time order (as AWS
    now always answers; `interleaved` is deprecated and has no other meaning)."""
    names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise InvalidParameterException("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    if params.get("startFromHead") is False:
        raise InvalidParameterException(
            "FilterLogEvents: startFromHead=false is not supported by Portside; events are answered oldest first.")
    try:
        matches = compile_pattern(params.get("filterPattern"))
    except FilterPatternError as exc:
        raise InvalidParameterException(str(exc)) from exc
    group = logs.existing_group(ctx, _group_name(ctx, params))
    limit = params.get("limit", 10_000)
    low: Position = (max(params.get("startTime", START[0]), logs.retention_floor(ctx, group)) - 1, END[1])
    high: Position = (params["endTime"] + 1, START[1]) if "endTime" in params else END
    after = _decode_token(params.get("nextToken"), [])
    if after:
        if len(after) != 2 or not all(isinstance(x, int) for x in after):
            raise InvalidParameterException("The specified nextToken is invalid.")
        low = max(low, (after[0], after[1]))
    streams = None
    if names is not None or prefix is not None:
        streams = ctx.store.logs.stream_names(group.name, prefix, names)
    found: list[LogEvent] = []
    size, scanned, last = 0, 0, None
    for event in ctx.store.logs.scan_group(group.name, low, high, streams):
        scanned += 1
        last = event.position
        if matches(event.message):
            size += len(event.message.encode("utf-8")) + EVENT_OVERHEAD
            if size > MAX_RESPONSE_BYTES and found:
                last = found[-1].position
                break
            found.append(event)
            if len(found) >= limit:
                break
        if scanned >= FILTER_SCAN_LIMIT:
            break
    result: dict[str, Any] = {
        "events": [
            {"logStreamName": e.stream_name, "timestamp": e.timestamp, "message": e.message,
             "ingestionTime": e.ingested, "eventId": f"{e.timestamp:020d}{e.seq:020d}"}
            for e in found
        ],
    }
    exhausted = last is None or (len(found) < limit and scanned < FILTER_SCAN_LIMIT and size <= MAX_RESPONSE_BYTES)
    if not exhausted and last is not None:
        result["nextToken"] = _encode_token(list(last))
    return result


# -- tags -----------------------------------------------------------------------------


@operation("TagResource", SERVICE, accepts=("resourceArn", "tags"))
def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tags_map(params["tags"])
    logs.tag_group(ctx, params["resourceArn"], tags)
    return {}


@operation("UntagResource", SERVICE, accepts=("resourceArn", "tagKeys"))
def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    logs.untag_group(ctx, params["resourceArn"], params["tagKeys"])
    return {}


@operation("ListTagsForResource", SERVICE, accepts=("resourceArn",))
def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = logs.tagged_group(ctx, params["resourceArn"])
    return {"tags": {t["key"]: t["value"] for t in ctx.store.get_tags(arn)}}


@operation("ListTagsLogGroup", SERVICE, accepts=("logGroupName",))
def list_tags_log_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    logs.existing_group(ctx, params["logGroupName"])
    arn = ctx.arns.log_group(params["logGroupName"])
    return {"tags": {t["key"]: t["value"] for t in ctx.store.get_tags(arn)}}


# -- tokens ---------------------------------------------------------------------------


def _encode_token(position: Any) -> str:
    return encode_token(position)


def _decode_token(token: str | None, default: Any) -> Any:
    """The position a nextToken points at; an empty or foreign one is refused."""
    if token is not None and not token:
        raise InvalidParameterException("The specified nextToken is invalid.")
    try:
        return decode_token(token, default)
    except InvalidParameterException:
        raise InvalidParameterException("The specified nextToken is invalid.") from None
