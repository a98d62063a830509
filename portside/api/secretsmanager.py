"""Secrets Manager (`X-Amz-Target: secretsmanager.*`), as the Secrets Manager
API reference describes it: secrets with versions and staging labels
(AWSCURRENT, AWSPREVIOUS and custom ones), deletion with a recovery window or
at once, restore, tags.  Values are sealed at rest (store/sealing.py).

Not here: KMS keys of one's own (`KmsKeyId`), replication, rotation, resource
policies; each is refused by name.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets as _random
import uuid
from typing import Any

from ..protocol.dispatch import operation
from ..protocol.errors import ServiceError
from ..store.secrets import Secret, SecretValue, SecretVersion
from .common import tags_after
from .context import Context

SERVICE = "secretsmanager"
NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"
MAX_VALUE = 65536
MAX_TAGS = 50
_SUFFIX = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


def _not_found(message: str = "Secrets Manager can't find the specified secret.") -> ServiceError:
    return _error("ResourceNotFoundException", message)


def _invalid(message: str) -> ServiceError:
    return _error("InvalidParameterException", message)


def _marked_for_deletion() -> ServiceError:
    return _error("InvalidRequestException",
                  "You can't perform this operation on the secret because it was marked for deletion.")


def find(ctx: Context, identifier: str) -> Secret | None:
    """The secret a name, a full ARN or a partial ARN (no random suffix) names."""
    head = ctx.arns.secret_head()
    if identifier.startswith("arn:"):
        if not identifier.startswith(head):
            return None
        return ctx.store.secrets.get_by_arn(identifier) or ctx.store.secrets.get(identifier[len(head):])
    return ctx.store.secrets.get(identifier)


def _existing(ctx: Context, identifier: str, usable: bool = True) -> Secret:
    """The secret; one past its deletion date is gone, one scheduled for
    deletion is refused when `usable` is asked for."""
    secret = find(ctx, identifier)
    if secret is None or (secret.deletion_date is not None and secret.deletion_date <= ctx.clock.now()):
        raise _not_found()
    if usable and secret.deletion_date is not None:
        raise _marked_for_deletion()
    return secret


def _value(params: dict[str, Any], required: bool) -> SecretValue | None:
    string, binary = params.get("SecretString"), params.get("SecretBinary")
    if string is not None and binary is not None:
        raise _invalid("You can't specify both a binary secret value and a string secret value in the same secret.")
    if string is None and binary is None:
        if required:
            raise _invalid("You must provide either SecretString or SecretBinary.")
        return None
    if string is not None:
        if len(string.encode("utf-8")) > MAX_VALUE:
            raise _invalid(f"The secret value can be at most {MAX_VALUE} bytes.")
        return SecretValue(string, None)
    try:
        raw = base64.b64decode(str(binary), validate=True)
    except (ValueError, TypeError) as exc:
        raise _error("ValidationException", "SecretBinary is not valid base64.") from exc
    if len(raw) > MAX_VALUE:
        raise _invalid(f"The secret value can be at most {MAX_VALUE} bytes.")
    return SecretValue(None, raw)


def _version_id(params: dict[str, Any]) -> str:
    token = params.get("ClientRequestToken")
    if token is None:
        return str(uuid.uuid4())
    if not 32 <= len(token) <= 64:
        raise _invalid("ClientRequestToken must be between 32 and 64 characters long.")
    return token


def _tags(tags: list[dict[str, str]] | None) -> list[dict[str, str]]:
    out = []
    for tag in tags or []:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise _invalid("Tag keys must be 1-128 characters and values at most 256 characters.")
        if key.lower().startswith("aws:"):
            raise _invalid("Tag keys with the prefix 'aws:' are reserved for AWS use.")
        out.append({"key": key, "value": value})
    if len({t["key"] for t in out}) != len(out):
        raise _invalid("Tag keys must be unique.")
    return out


def _put_version(ctx: Context, secret: Secret, version_id: str, value: SecretValue, stages: list[str]) -> None:
    """Add a version holding `stages`; the stages leave the versions that held
    them, and the version that loses AWSCURRENT gets AWSPREVIOUS."""
    versions = {v.version_id: v for v in ctx.store.secrets.versions(secret.name)}
    if version_id in versions:
        if ctx.store.secrets.value(secret.name, version_id) == value:
            return  # an idempotent retry of the same request
        raise _error("ResourceExistsException",
                     "You can't modify an existing version, you can only create a new version.")
    now = ctx.clock.now()
    ctx.store.secrets.add_version(secret.name, version_id, now, value, stages)
    _move_stages(ctx, secret, versions, version_id, stages)
    ctx.store.secrets.update(secret.name, last_changed=now)


def _move_stages(ctx: Context, secret: Secret, versions: dict[str, SecretVersion], target: str,
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


def _epoch_day(when: float | None) -> float | None:
    """LastAccessedDate is kept to the day, as AWS reports it."""
    if when is None:
        return None
    day = dt.datetime.fromtimestamp(when, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


# -- operations -----------------------------------------------------------------------


@operation("CreateSecret", SERVICE, accepts=("Name", "ClientRequestToken", "Description", "SecretBinary",
                                              "SecretString", "Tags", "ForceOverwriteReplicaSecret"))
def create_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    if not NAME.match(name):
        raise _error("ValidationException",
                     "Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
                     "following: -/_+=.@!")
    value = _value(params, required=False)
    version_id = _version_id(params) if value is not None else None
    tags = _tags(params.get("Tags"))
    now = ctx.clock.now()
    with ctx.store.transaction():
        existing = ctx.store.secrets.get(name)
        if existing is not None:
            if existing.deletion_date is not None:
                raise _marked_for_deletion()
            raise _error("ResourceExistsException", f"The operation failed because the secret {name} already exists.")
        arn = ctx.arns.secret(name, "".join(_random.choice(_SUFFIX) for _ in range(6)))
        secret = Secret(name, arn, params.get("Description"), now, now, None, None)
        ctx.store.secrets.create(secret)
        if value is not None and version_id is not None:
            ctx.store.secrets.add_version(name, version_id, now, value, [CURRENT])
        if tags:
            ctx.store.put_tags(arn, tags)
    return {"ARN": arn, "Name": name, "VersionId": version_id}


def _pick_version(ctx: Context, secret: Secret, version_id: str | None, stage: str | None) -> SecretVersion:
    versions = ctx.store.secrets.versions(secret.name)
    if version_id is not None:
        found = next((v for v in versions if v.version_id == version_id), None)
        if found is None or (stage is not None and stage not in found.stages):
            raise _not_found(f"Secrets Manager can't find the specified secret value for VersionId: {version_id}")
        return found
    stage = stage or CURRENT
    found = next((v for v in versions if stage in v.stages), None)
    if found is None:
        raise _not_found(f"Secrets Manager can't find the specified secret value for staging label: {stage}")
    return found


@operation("GetSecretValue", SERVICE, accepts=("SecretId", "VersionId", "VersionStage"))
def get_secret_value(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        version = _pick_version(ctx, secret, params.get("VersionId"), params.get("VersionStage"))
        value = ctx.store.secrets.value(secret.name, version.version_id)
        assert value is not None
        today = _epoch_day(ctx.clock.now())
        if secret.last_accessed != today:
            ctx.store.secrets.update(secret.name, last_accessed=today)
        if version.last_accessed != today:
            ctx.store.secrets.touch_version(secret.name, version.version_id, today or 0.0)
    return {
        "ARN": secret.arn, "Name": secret.name, "VersionId": version.version_id,
        "SecretString": value.string,
        "SecretBinary": base64.b64encode(value.binary).decode() if value.binary is not None else None,
        "VersionStages": list(version.stages), "CreatedDate": version.created,
    }


@operation("PutSecretValue", SERVICE, accepts=("SecretId", "ClientRequestToken", "SecretBinary", "SecretString",
                                                "VersionStages"))
def put_secret_value(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    value = _value(params, required=True)
    assert value is not None
    version_id = _version_id(params)
    stages = params.get("VersionStages") or [CURRENT]
    if len(set(stages)) != len(stages):
        raise _invalid("VersionStages must not repeat a label.")
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        _put_version(ctx, secret, version_id, value, stages)
        held = next(v.stages for v in ctx.store.secrets.versions(secret.name) if v.version_id == version_id)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": version_id, "VersionStages": list(held)}


@operation("UpdateSecret", SERVICE, accepts=("SecretId", "ClientRequestToken", "Description", "SecretBinary",
                                              "SecretString"))
def update_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    value = _value(params, required=False)
    version_id = _version_id(params) if value is not None else None
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        if "Description" in params:
            ctx.store.secrets.update(secret.name, description=params["Description"], last_changed=ctx.clock.now())
        if value is not None and version_id is not None:
            _put_version(ctx, secret, version_id, value, [CURRENT])
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": version_id}


def _describe(ctx: Context, secret: Secret, stages_member: str) -> dict[str, Any]:
    return {
        "ARN": secret.arn, "Name": secret.name, "Description": secret.description,
        "RotationEnabled": False,
        "LastChangedDate": secret.last_changed, "LastAccessedDate": secret.last_accessed,
        "DeletedDate": secret.deletion_date, "CreatedDate": secret.created,
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in ctx.store.get_tags(secret.arn)] or None,
        stages_member: {v.version_id: list(v.stages) for v in ctx.store.secrets.versions(secret.name) if v.stages},
    }


@operation("DescribeSecret", SERVICE, accepts=("SecretId",))
def describe_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _describe(ctx, _existing(ctx, params["SecretId"], usable=False), "VersionIdsToStages")


_FILTER_KEYS = {"description", "name", "tag-key", "tag-value", "all"}
_SORT = {"created-date": "created", "last-changed-date": "last_changed", "last-accessed-date": "last_accessed",
         "name": "name"}


def _matches(ctx: Context, secret: Secret, filters: list[dict[str, Any]]) -> bool:
    tags = ctx.store.get_tags(secret.arn) if filters else []
    for f in filters:
        key, values = f.get("Key"), f.get("Values") or []
        if key not in _FILTER_KEYS:
            raise _invalid(f"Filter key {key} is not supported by Portside.")
        fields = {
            "name": [secret.name], "description": [secret.description or ""],
            "tag-key": [t["key"] for t in tags], "tag-value": [t["value"] for t in tags],
        }
        candidates = [x for k in (fields if key == "all" else [key]) for x in fields[k]]
        ok = False
        for value in values:
            negate = value.startswith("!")
            wanted = value[1:] if negate else value
            hit = any(c.lower().startswith(wanted.lower()) for c in candidates)
            ok = ok or (hit != negate)
        if not ok:
            return False
    return True


@operation("ListSecrets", SERVICE, accepts=("IncludePlannedDeletion", "MaxResults", "NextToken", "Filters",
                                             "SortOrder", "SortBy"))
def list_secrets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from .common import decode_token, encode_token

    limit = params.get("MaxResults", 100)
    if not 1 <= limit <= 100:
        raise _invalid("MaxResults must be between 1 and 100.")
    try:
        offset = decode_token(params.get("NextToken"), 0)
    except Exception:
        raise _error("InvalidNextTokenException", "The nextToken is not valid.") from None
    now = ctx.clock.now()
    found = [
        s for s in ctx.store.secrets.all()
        if (s.deletion_date is None or (params.get("IncludePlannedDeletion") and s.deletion_date > now))
        and _matches(ctx, s, params.get("Filters") or [])
    ]
    column = _SORT.get(params.get("SortBy", "created-date"))
    if column is None:
        raise _invalid(f"SortBy {params.get('SortBy')} is not supported by Portside.")
    found.sort(key=lambda s: (getattr(s, column) or 0, s.name), reverse=params.get("SortOrder", "desc") == "desc")
    page = found[offset: offset + limit]
    result: dict[str, Any] = {"SecretList": [_describe(ctx, s, "SecretVersionsToStages") for s in page]}
    if len(found) > offset + limit:
        result["NextToken"] = encode_token(offset + limit)
    return result


@operation("ListSecretVersionIds", SERVICE, accepts=("SecretId", "MaxResults", "NextToken", "IncludeDeprecated"))
def list_secret_version_ids(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from .common import decode_token, encode_token

    secret = _existing(ctx, params["SecretId"], usable=False)
    versions = [v for v in ctx.store.secrets.versions(secret.name) if v.stages or params.get("IncludeDeprecated")]
    limit = params.get("MaxResults", 100)
    try:
        offset = decode_token(params.get("NextToken"), 0)
    except Exception:
        raise _error("InvalidNextTokenException", "The nextToken is not valid.") from None
    result: dict[str, Any] = {
        "ARN": secret.arn, "Name": secret.name,
        "Versions": [{"VersionId": v.version_id, "VersionStages": list(v.stages), "CreatedDate": v.created,
                      "LastAccessedDate": v.last_accessed} for v in versions[offset: offset + limit]],
    }
    if len(versions) > offset + limit:
        result["NextToken"] = encode_token(offset + limit)
    return result


@operation("UpdateSecretVersionStage", SERVICE, accepts=("SecretId", "VersionStage", "RemoveFromVersionId",
                                                          "MoveToVersionId"))
def update_secret_version_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    stage = params["VersionStage"]
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        versions = {v.version_id: v for v in ctx.store.secrets.versions(secret.name)}
        holder = next((v for v in versions.values() if stage in v.stages), None)
        remove, move = params.get("RemoveFromVersionId"), params.get("MoveToVersionId")
        for vid in (remove, move):
            if vid is not None and vid not in versions:
                raise _not_found(f"Secrets Manager can't find the specified secret version: {vid}")
        if holder is not None and holder.version_id != move and remove != holder.version_id:
            raise _invalid(f"The staging label {stage} is currently attached to version {holder.version_id}, "
                           "so you must explicitly reference that version in RemoveFromVersionId.")
        if remove is not None:
            ctx.store.secrets.set_stages(secret.name, remove, [s for s in versions[remove].stages if s != stage])
        if move is not None and stage not in versions[move].stages:
            if stage == CURRENT:  # the version that held it gets AWSPREVIOUS, as AWS does
                _move_stages(ctx, secret, versions, move, [CURRENT])
                kept = [s for s in versions[move].stages if s != PREVIOUS]
                ctx.store.secrets.set_stages(secret.name, move, [*kept, CURRENT])
            else:
                ctx.store.secrets.set_stages(secret.name, move, [*versions[move].stages, stage])
        ctx.store.secrets.update(secret.name, last_changed=ctx.clock.now())
    return {"ARN": secret.arn, "Name": secret.name}


@operation("DeleteSecret", SERVICE, accepts=("SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"))
def delete_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    force = bool(params.get("ForceDeleteWithoutRecovery"))
    window = params.get("RecoveryWindowInDays")
    if force and window is not None:
        raise _invalid("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    if window is not None and not 7 <= window <= 30:
        raise _invalid("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    now = ctx.clock.now()
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"], usable=False)
        if force:
            ctx.store.secrets.delete(secret.name)
            ctx.store.remove_tags(secret.arn, [t["key"] for t in ctx.store.get_tags(secret.arn)])
            when = now
        elif secret.deletion_date is not None:
            raise _error("InvalidRequestException",
                         "You can't perform this operation on the secret because it was already scheduled "
                         "for deletion.")
        else:
            when = now + (window or 30) * 86400
            ctx.store.secrets.update(secret.name, deletion_date=when)
    return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": when}


@operation("RestoreSecret", SERVICE, accepts=("SecretId",))
def restore_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"], usable=False)
        ctx.store.secrets.update(secret.name, deletion_date=None)
    return {"ARN": secret.arn, "Name": secret.name}


@operation("TagResource", SERVICE, accepts=("SecretId", "Tags"))
def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(params["Tags"])
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        if tags_after(ctx, secret.arn, [t["key"] for t in tags]) > MAX_TAGS:
            raise _invalid(f"A secret can have at most {MAX_TAGS} tags.")
        ctx.store.put_tags(secret.arn, tags)
    return {}


@operation("UntagResource", SERVICE, accepts=("SecretId", "TagKeys"))
def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        secret = _existing(ctx, params["SecretId"])
        ctx.store.remove_tags(secret.arn, params["TagKeys"])
    return {}
