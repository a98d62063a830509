"""CloudWatch Logs' changes (log groups, streams, events, a group's tags),
each in its own transaction, and what the handlers share to find a group or
a stream.  api/logs.py checks names, batches and tokens and shapes the
answers; the janitor purges events past their group's retention.
"""

from __future__ import annotations

from ..protocol.errors import InvalidParameterException, ServiceError
from ..store.logs import START, LogGroup, LogStream
from .context import Context
from .tags import tags_after

DAY_MS = 86_400_000
TOO_OLD_MS = 14 * DAY_MS
TOO_NEW_MS = 2 * 3_600_000
MAX_TAGS = 50


def now_ms(ctx: Context) -> int:
    return int(ctx.clock.now() * 1000)


def not_found(what: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"The specified {what} does not exist.")


def existing_group(ctx: Context, name: str) -> LogGroup:
    group = ctx.store.logs.get_group(name)
    if group is None:
        raise not_found("log group")
    return group


def existing_stream(ctx: Context, group: str, name: str) -> LogStream:
    existing_group(ctx, group)
    stream = ctx.store.logs.get_stream(group, name)
    if stream is None:
        raise not_found("log stream")
    return stream


def retention_floor(ctx: Context, group: LogGroup) -> int:
    """The oldest timestamp the group still keeps (ms)."""
    if group.retention_days is None:
        return START[0]
    return now_ms(ctx) - group.retention_days * DAY_MS


def tagged_group(ctx: Context, arn: str) -> str:
    name = ctx.arns.log_group_name(arn) if arn.startswith("arn:") else None
    if name is None or ":" in name:
        raise InvalidParameterException("The ARN provided is not a log group ARN of this server.")
    existing_group(ctx, name)
    return ctx.arns.log_group(name)


def create_group(ctx: Context, name: str, group_class: str, protected: bool, tags: dict[str, str]) -> None:
    """CreateLogGroup (name, class and tags checked)."""
    with ctx.store.transaction():
        if ctx.store.logs.get_group(name) is not None:
            raise ServiceError("ResourceAlreadyExistsException", "The specified log group already exists")
        ctx.store.logs.create_group(name, now_ms(ctx), group_class, protected)
        if tags:
            ctx.store.put_tags(ctx.arns.log_group(name), [{"key": k, "value": v} for k, v in tags.items()])


def delete_group(ctx: Context, name: str) -> None:
    """DeleteLogGroup: the group, its streams, events and tags (refused while deletion protection is on)."""
    with ctx.store.transaction():
        group = existing_group(ctx, name)
        if group.deletion_protection:
            raise ServiceError(
                "OperationAbortedException", "Log group deletion protection is enabled; disable it first."
            )
        ctx.store.logs.delete_group(name)
        arn = ctx.arns.log_group(name)
        ctx.store.remove_tags(arn, [t["key"] for t in ctx.store.get_tags(arn)])


def set_retention(ctx: Context, group: str, days: int | None) -> None:
    """PutRetentionPolicy (days checked) and DeleteRetentionPolicy (None)."""
    with ctx.store.transaction():
        existing_group(ctx, group)
        ctx.store.logs.set_retention(group, days)


def create_stream(ctx: Context, group: str, name: str) -> None:
    """CreateLogStream (name checked) in an existing group."""
    with ctx.store.transaction():
        existing_group(ctx, group)
        if ctx.store.logs.get_stream(group, name) is not None:
            raise ServiceError("ResourceAlreadyExistsException", "The specified log stream already exists")
        ctx.store.logs.create_stream(group, name, now_ms(ctx))


def delete_stream(ctx: Context, group: str, name: str) -> None:
    """DeleteLogStream: the stream and its events."""
    with ctx.store.transaction():
        existing_stream(ctx, group, name)
        ctx.store.logs.delete_stream(group, name)


def put_events(ctx: Context, group_name: str, stream: str, events: list[tuple[int, str]]) -> dict[str, int]:
    """PutLogEvents (a batch checked for size and order): the events the
    group keeps are stored; the answer's rejectedLogEventsInfo for the others
    (older than 14 days or the retention, more than 2 hours ahead)."""
    now = now_ms(ctx)
    with ctx.store.transaction():
        group = existing_group(ctx, group_name)
        existing_stream(ctx, group.name, stream)
        floor = retention_floor(ctx, group)
        rejected: dict[str, int] = {}
        expired = [i for i, (ts, _) in enumerate(events) if ts < floor]
        too_old = [i for i, (ts, _) in enumerate(events) if ts < now - TOO_OLD_MS]
        too_new = [i for i, (ts, _) in enumerate(events) if ts > now + TOO_NEW_MS]
        if too_old:
            rejected["tooOldLogEventEndIndex"] = too_old[-1] + 1
        if expired:
            rejected["expiredLogEventEndIndex"] = expired[-1] + 1
        if too_new:
            rejected["tooNewLogEventStartIndex"] = too_new[0]
        kept = [e for e in events if max(floor, now - TOO_OLD_MS) <= e[0] <= now + TOO_NEW_MS]
        if kept and kept[-1][0] - kept[0][0] > DAY_MS:
            raise InvalidParameterException(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        ctx.store.logs.put_events(group.name, stream, kept, now)
    return rejected


def tag_group(ctx: Context, arn: str, tags: dict[str, str]) -> None:
    """TagResource on a log group (tags checked): at most MAX_TAGS in all."""
    with ctx.store.transaction():
        arn = tagged_group(ctx, arn)
        if tags_after(ctx, arn, list(tags)) > MAX_TAGS:
            raise ServiceError("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.")
        ctx.store.put_tags(arn, [{"key": k, "value": v} for k, v in tags.items()])


def untag_group(ctx: Context, arn: str, keys: list[str]) -> None:
    """UntagResource on a log group."""
    with ctx.store.transaction():
        ctx.store.remove_tags(tagged_group(ctx, arn), keys)
