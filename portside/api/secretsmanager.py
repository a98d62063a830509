"""Secrets Manager (`X-Amz-Target: secretsmanager.*`), as the Secrets Manager
API reference describes it: secrets with versions and staging labels
(AWSCURRENT, AWSPREVIOUS and custom ones), deletion with a recovery window or
at once, restore, tags.  Values are sealed at rest (store/sealing.py).

Not here: KMS keys of one's own (`KmsKeyId`), replication, rotation, resource
policies; each is refused by name.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from ..control import secrets
from ..control.secrets import CURRENT
from ..control.secrets import error as _error
from ..control.secrets import existing as _existing
from ..control.secrets import invalid as _invalid
from ..protocol.dispatch import operation
from ..store.secrets import Secret, SecretValue
from .context import Context

SERVICE = "secretsmanager"
NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
MAX_VALUE = 65536


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
    arn = secrets.create(ctx, name, params.get("Description"), value, version_id, tags)
    return {"ARN": arn, "Name": name, "VersionId": version_id}


@operation("GetSecretValue", SERVICE, accepts=("SecretId", "VersionId", "VersionStage"))
def get_secret_value(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    secret, version, value = secrets.get_value(
        ctx, params["SecretId"], params.get("VersionId"), params.get("VersionStage"))
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
    secret, held = secrets.put_value(ctx, params["SecretId"], version_id, value, stages)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": version_id, "VersionStages": list(held)}


@operation("UpdateSecret", SERVICE, accepts=("SecretId", "ClientRequestToken", "Description", "SecretBinary",
                                              "SecretString"))
def update_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    value = _value(params, required=False)
    version_id = _version_id(params) if value is not None else None
    secret = secrets.update(ctx, params, value, version_id)
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
    secret = secrets.update_stage(ctx, params, stage)
    return {"ARN": secret.arn, "Name": secret.name}


@operation("DeleteSecret", SERVICE, accepts=("SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"))
def delete_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    force = bool(params.get("ForceDeleteWithoutRecovery"))
    window = params.get("RecoveryWindowInDays")
    if force and window is not None:
        raise _invalid("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    if window is not None and not 7 <= window <= 30:
        raise _invalid("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    secret, when = secrets.delete(ctx, params["SecretId"], force, window)
    return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": when}


@operation("RestoreSecret", SERVICE, accepts=("SecretId",))
def restore_secret(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    secret = secrets.restore(ctx, params["SecretId"])
    return {"ARN": secret.arn, "Name": secret.name}


@operation("TagResource", SERVICE, accepts=("SecretId", "Tags"))
def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(params["Tags"])
    secrets.tag(ctx, params["SecretId"], tags)
    return {}


@operation("UntagResource", SERVICE, accepts=("SecretId", "TagKeys"))
def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    secrets.untag(ctx, params["SecretId"], params["TagKeys"])
    return {}
