"""Secrets Manager's changes (secrets, their versions and staging labels,
deletion and restore, tags), each in its own transaction, and what the
handlers share to find a secret.  Reading a value is a change too: the
secret and the version record the day they were last read.  api/secretsmanager.py
checks names, values and tokens and shapes the answers.
"""

from __future__ import annotations

import datetime as dt
import secrets as _random
from typing import Any

from ..protocol.errors import ServiceError
from ..store.secrets import Secret, SecretValue, SecretVersion
from .context import Context
from .tags import tags_after

Doc = dict[str, Any]

CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"
MAX_TAGS = 50
_SUFFIX = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


def not_found(message: str = "Secrets Manager can't find the specified secret.") -> ServiceError:
    return error("ResourceNotFoundException", message)


def invalid(message: str) -> ServiceError:
    return error("InvalidParameterException", message)


def marked_for_deletion() -> ServiceError:
    return error("InvalidRequestException",
                 "You can't perform this operation on the secret because it was marked for deletion.")


def find(ctx: Context, identifier: str) -> Secret | None:
    """The secret a name, a full ARN or a partial ARN (no random suffix) names."""
    head = ctx.arns.secret_head()
    if identifier.startswith("arn:"):
        if not identifier.startswith(head):
            return None
        return ctx.store.secrets.get_by_arn(identifier) or ctx.store.secrets.get(identifier[len(head):])
    return ctx.store.secrets.get(identifier)


def existing(ctx: Context, identifier: str, usable: bool = True) -> Secret:
    """The secret; one past its deletion date is gone, one scheduled for
    deletion is refused when `usable` is asked for."""
    secret = find(ctx, identifier)
    if secret is None or (secret.deletion_date is not None and secret.deletion_date <= ctx.clock.now()):
        raise not_found()
    if usable and secret.deletion_date is not None:
        raise marked_for_deletion()
    return secret


def put_version(ctx: Context, secret: Secret, version_id: str, value: SecretValue, stages: list[str]) -> None:
    """Add a version holding `stages`; the stages leave the versions that held
    them, and the version that loses AWSCURRENT gets AWSPREVIOUS."""
    versions = {v.version_id: v for v in ctx.store.secrets.versions(secret.name)}
    if version_id in versions:
        if ctx.store.secrets.value(secret.name, version_id) == value:
            return  # an idempotent retry of the same request
        raise error("ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.")
    now = ctx.clock.now()
    ctx.store.secrets.add_version(secret.name, version_id, now, value, stages)
    move_stages(ctx, secret, versions, version_id, stages)
    ctx.store.secrets.update(secret.name, last_changed=now)


def move_stages(ctx: Context, secret: Secret, versions: dict[str, SecretVersion], target: str,
                 stages: list[str]) -> None:
    moved = set(stages)
    for other in versions.values():
        if other.version_id == target:
            continue
        kept = [s for s in other.stages if s not in moved and not (CURRENT in moved and s == PREVIOUS)]
        if CURRENT in moved and CURRENT in other.stages:
            kept.append(PREVIOUS)
        if kept != list(other.stages):
            ctx.store.secrets.set_stages(secret.name, other.version_id, kept)


def epoch_day(when: float | None) -> float | None:
    """LastAccessedDate is kept to the day, as AWS reports it."""
    if when is None:
        return None
    day = dt.datetime.fromtimestamp(when, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def pick_version(ctx: Context, secret: Secret, version_id: str | None, stage: str | None) -> SecretVersion:
    versions = ctx.store.secrets.versions(secret.name)
    if version_id is not None:
        found = next((v for v in versions if v.version_id == version_id), None)
        if found is None or (stage is not None and stage not in found.stages):
            raise not_found(f"Secrets Manager can't find the specified secret value for VersionId: {version_id}")
        return found
    stage = stage or CURRENT
    found = next((v for v in versions if stage in v.stages), None)
    if found is None:
        raise not_found(f"Secrets Manager can't find the specified secret value for staging label: {stage}")
    return found


def create(ctx: Context, name: str, description: str | None, value: SecretValue | None, version_id: str | None,
           tags: list[dict[str, str]]) -> str:
    """CreateSecret (name, value and tags checked): the new secret's ARN (its
    name and a random six-character suffix, as AWS makes them)."""
    now = ctx.clock.now()
    with ctx.store.transaction():
        existing = ctx.store.secrets.get(name)
        if existing is not None:
            if existing.deletion_date is not None:
                raise marked_for_deletion()
            raise error("ResourceExistsException", f"The operation failed because the secret {name} already exists.")
        arn = ctx.arns.secret(name, "".join(_random.choice(_SUFFIX) for _ in range(6)))
        secret = Secret(name, arn, description, now, now, None, None)
        ctx.store.secrets.create(secret)
        if value is not None and version_id is not None:
            ctx.store.secrets.add_version(name, version_id, now, value, [CURRENT])
        if tags:
            ctx.store.put_tags(arn, tags)
    return arn


def get_value(ctx: Context, identifier: str, version_id: str | None, stage: str | None
              ) -> tuple[Secret, SecretVersion, SecretValue]:
    """GetSecretValue: a write too, since the secret and the version record
    the day they were last read (LastAccessedDate)."""
    with ctx.store.transaction():
        secret = existing(ctx, identifier)
        version = pick_version(ctx, secret, version_id, stage)
        value = ctx.store.secrets.value(secret.name, version.version_id)
        assert value is not None
        today = epoch_day(ctx.clock.now())
        if secret.last_accessed != today:
            ctx.store.secrets.update(secret.name, last_accessed=today)
        if version.last_accessed != today:
            ctx.store.secrets.touch_version(secret.name, version.version_id, today or 0.0)
    return secret, version, value


def put_value(ctx: Context, identifier: str, version_id: str, value: SecretValue, stages: list[str]
              ) -> tuple[Secret, tuple[str, ...]]:
    """PutSecretValue: (the secret, the stages the new version holds)."""
    with ctx.store.transaction():
        secret = existing(ctx, identifier)
        put_version(ctx, secret, version_id, value, stages)
        held = next(v.stages for v in ctx.store.secrets.versions(secret.name) if v.version_id == version_id)
    return secret, tuple(held)


def update(ctx: Context, params: Doc, value: SecretValue | None, version_id: str | None) -> Secret:
    """UpdateSecret: the description, and a new AWSCURRENT version when a value is given."""
    with ctx.store.transaction():
        secret = existing(ctx, params["SecretId"])
        if "Description" in params:
            ctx.store.secrets.update(secret.name, description=params["Description"], last_changed=ctx.clock.now())
        if value is not None and version_id is not None:
            put_version(ctx, secret, version_id, value, [CURRENT])
    return secret


def update_stage(ctx: Context, params: Doc, stage: str) -> Secret:
    """UpdateSecretVersionStage: move (or remove) a staging label between versions."""
    with ctx.store.transaction():
        secret = existing(ctx, params["SecretId"])
        versions = {v.version_id: v for v in ctx.store.secrets.versions(secret.name)}
        holder = next((v for v in versions.values() if stage in v.stages), None)
        remove, move = params.get("RemoveFromVersionId"), params.get("MoveToVersionId")
        for vid in (remove, move):
            if vid is not None and vid not in versions:
                raise not_found(f"Secrets Manager can't find the specified secret version: {vid}")
        if holder is not None and holder.version_id != move and remove != holder.version_id:
            raise invalid(f"The staging label {stage} is currently attached to version {holder.version_id}, "
                          "so you must explicitly reference that version in RemoveFromVersionId.")
        if remove is not None:
            ctx.store.secrets.set_stages(secret.name, remove, [s for s in versions[remove].stages if s != stage])
        if move is not None and stage not in versions[move].stages:
            if stage == CURRENT:  # the version that held it gets AWSPREVIOUS, as AWS does
                move_stages(ctx, secret, versions, move, [CURRENT])
                kept = [s for s in versions[move].stages if s != PREVIOUS]
                ctx.store.secrets.set_stages(secret.name, move, [*kept, CURRENT])
            else:
                ctx.store.secrets.set_stages(secret.name, move, [*versions[move].stages, stage])
        ctx.store.secrets.update(secret.name, last_changed=ctx.clock.now())
    return secret


def delete(ctx: Context, identifier: str, force: bool, window: int | None) -> tuple[Secret, float]:
    """DeleteSecret: (the secret, its deletion date): now and for good with
    `force`, else scheduled after the recovery window (default 30 days)."""
    now = ctx.clock.now()
    with ctx.store.transaction():
        secret = existing(ctx, identifier, usable=False)
        if force:
            ctx.store.secrets.delete(secret.name)
            ctx.store.remove_tags(secret.arn, [t["key"] for t in ctx.store.get_tags(secret.arn)])
            when = now
        elif secret.deletion_date is not None:
            raise error("InvalidRequestException",
                        "You can't perform this operation on the secret because it was already scheduled "
                        "for deletion.")
        else:
            when = now + (window or 30) * 86400
            ctx.store.secrets.update(secret.name, deletion_date=when)
    return secret, when


def restore(ctx: Context, identifier: str) -> Secret:
    """RestoreSecret: a secret scheduled for deletion is kept."""
    with ctx.store.transaction():
        secret = existing(ctx, identifier, usable=False)
        ctx.store.secrets.update(secret.name, deletion_date=None)
    return secret


def tag(ctx: Context, identifier: str, tags: list[dict[str, str]]) -> None:
    """TagResource (tags checked): at most MAX_TAGS in all."""
    with ctx.store.transaction():
        secret = existing(ctx, identifier)
        if tags_after(ctx, secret.arn, [t["key"] for t in tags]) > MAX_TAGS:
            raise invalid(f"A secret can have at most {MAX_TAGS} tags.")
        ctx.store.put_tags(secret.arn, tags)


def untag(ctx: Context, identifier: str, keys: list[str]) -> None:
    """UntagResource."""
    with ctx.store.transaction():
        secret = existing(ctx, identifier)
        ctx.store.remove_tags(secret.arn, keys)
