"""SSM Parameter Store (`X-Amz-Target: AmazonSSM.*`): String, StringList and
SecureString parameters with versions, labels, paths and tags, as the Systems
Manager API reference describes them.  SecureString values are sealed at rest
(store/sealing.py); without `WithDecryption` their answer is that ciphertext.

Not here: KMS keys of one's own (a SecureString's `KeyId` may only be the
default `alias/aws/ssm`), parameter policies, `aws:ec2:image` data types,
shared parameters; each is refused by name.  The rest of Systems Manager
answers `UnsupportedFeatureException`.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from ..control import parameters
from ..control.parameters import error as _error
from ..control.parameters import not_found as _not_found
from ..control.parameters import select as _select
from ..control.parameters import tag_target as _tag_target
from ..control.parameters import tags_of as _tags
from ..control.parameters import validation as _validation
from ..protocol.dispatch import operation
from ..protocol.errors import ServiceError
from ..store.parameters import ParameterVersion
from .common import decode_token, encode_token
from .context import Context

SERVICE = "ssm"
NAME = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
MAX_LEVELS = 15


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise _validation(
            "Parameter name: can't contain characters other than letters, numbers, periods (.), hyphens (-), "
            "underscores (_) and forward slashes (/)."
        )
    bare = name.lstrip("/").lower()
    if bare.startswith("aws") or bare.startswith("ssm"):
        raise _validation('Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).')
    if "/" in name and not name.startswith("/"):
        raise _validation("Parameter name must be a fully qualified name.")
    if name.count("/") > MAX_LEVELS:
        raise _error("HierarchyLevelLimitExceededException",
                     f"A parameter name can have at most {MAX_LEVELS} levels of hierarchy.")


def _resolve(ctx: Context, identifier: str) -> tuple[str, str | None]:
    """(name, selector) of `NAME`, `NAME:VERSION`, `NAME:LABEL` or an ARN of one."""
    name = ctx.arns.parameter_name(identifier)
    if name is None:
        raise _validation(f"{identifier} is not a parameter name or an ARN of this server's parameters.")
    base, sep, selector = name.rpartition(":")
    return (base, selector) if sep else (name, None)


def _value_out(p: ParameterVersion, decrypt: bool) -> str:
    if p.type == "SecureString" and not decrypt:
        return base64.b64encode(p.sealed or b"").decode()
    return p.value


def _view(ctx: Context, p: ParameterVersion, decrypt: bool, selector: str | None = None) -> dict[str, Any]:
    return {
        "Name": p.name, "Type": p.type, "Value": _value_out(p, decrypt), "Version": p.version,
        "Selector": f":{selector}" if selector else None, "LastModifiedDate": p.modified,
        "ARN": ctx.arns.parameter(p.name), "DataType": p.data_type,
    }


def _metadata(ctx: Context, p: ParameterVersion) -> dict[str, Any]:
    return {
        "Name": p.name, "ARN": ctx.arns.parameter(p.name), "Type": p.type, "KeyId": p.key_id,
        "LastModifiedDate": p.modified, "Description": p.description, "AllowedPattern": p.allowed_pattern,
        "Version": p.version, "Tier": p.tier, "Policies": [], "DataType": p.data_type,
    }


# -- writing --------------------------------------------------------------------------


@operation("PutParameter", SERVICE, accepts=("Name", "Description", "Value", "Type", "KeyId", "Overwrite",
                                              "AllowedPattern", "Tags", "Tier", "DataType"))
def put_parameter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    _check_name(name)
    overwrite = bool(params.get("Overwrite"))
    if overwrite and params.get("Tags"):
        raise _validation("Invalid request: tags and overwrite can't be used together. To create a parameter with "
                          "tags, please remove overwrite flag. To update tags for an existing parameter, please use "
                          "AddTagsToResource or RemoveTagsFromResource.")
    data_type = params.get("DataType", "text")
    if data_type != "text":
        raise _validation(f"DataType {data_type} is not supported by Portside (only text).")
    version, tier = parameters.put(ctx, params, overwrite, data_type)
    return {"Version": version, "Tier": tier}


@operation("DeleteParameter", SERVICE, accepts=("Name",))
def delete_parameter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    parameters.delete(ctx, name)
    return {}


@operation("DeleteParameters", SERVICE, accepts=("Names",))
def delete_parameters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    deleted, invalid = parameters.delete_many(ctx, params["Names"])
    return {"DeletedParameters": deleted, "InvalidParameters": invalid}


@operation("LabelParameterVersion", SERVICE, accepts=("Name", "ParameterVersion", "Labels"))
def label_parameter_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    labels = params["Labels"]
    invalid = [
        label for label in labels
        if len(label) > 100 or label[:1].isdigit() or label.lower().startswith(("aws", "ssm"))
        or not re.fullmatch(r"[a-zA-Z0-9_.\-]+", label)
    ]
    good = [label for label in labels if label not in invalid]
    wanted = parameters.label(ctx, name, params.get("ParameterVersion"), good)
    return {"InvalidLabels": invalid, "ParameterVersion": wanted}


@operation("UnlabelParameterVersion", SERVICE, accepts=("Name", "ParameterVersion", "Labels"))
def unlabel_parameter_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    removed = parameters.unlabel(ctx, name, params["ParameterVersion"], params["Labels"])
    return {"RemovedLabels": removed, "InvalidLabels": [x for x in params["Labels"] if x not in removed]}


# -- reading --------------------------------------------------------------------------


@operation("GetParameter", SERVICE, accepts=("Name", "WithDecryption"))
def get_parameter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, selector = _resolve(ctx, params["Name"])
    found = _select(ctx, name, selector)
    return {"Parameter": _view(ctx, found, bool(params.get("WithDecryption")), selector)}


@operation("GetParameters", SERVICE, accepts=("Names", "WithDecryption"))
def get_parameters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    found, invalid = [], []
    for given in params["Names"]:
        try:
            name, selector = _resolve(ctx, given)
            found.append(_view(ctx, _select(ctx, name, selector), bool(params.get("WithDecryption")), selector))
        except ServiceError as exc:
            if exc.code not in ("ParameterNotFound", "ParameterVersionNotFound", "ValidationException"):
                raise
            invalid.append(given)
    return {"Parameters": found, "InvalidParameters": invalid}


def _page(params: dict[str, Any], default: int, high: int) -> tuple[int, int]:
    limit = params.get("MaxResults", default)
    if not 1 <= limit <= high:
        raise _validation(f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
                          f"constraint: Member must have value less than or equal to {high}")
    try:
        offset = decode_token(params.get("NextToken"), 0)
    except Exception:
        raise _error("InvalidNextToken", "The specified token is not valid.") from None
    return offset, limit


def _filtered(ctx: Context, latest: list[ParameterVersion], filters: list[dict[str, Any]],
              allowed: set[str]) -> list[ParameterVersion]:
    for f in filters:
        key, option, values = f["Key"], f.get("Option", "Equals"), f.get("Values") or []
        base = "tag" if key.startswith("tag:") else key
        if base not in allowed:
            raise _error("InvalidFilterKey", f"The filter key {key} is not supported by Portside here.")

        def field(p: ParameterVersion, key: str = key, base: str = base) -> list[str]:
            if base == "tag":
                tags = {t["key"]: t["value"] for t in ctx.store.get_tags(ctx.arns.parameter(p.name))}
                return [tags[key[4:]]] if key[4:] in tags else []
            return {"Name": [p.name], "Type": [p.type], "KeyId": [p.key_id or ""], "Tier": [p.tier],
                    "DataType": [p.data_type], "Label": list(p.labels), "Path": [p.name]}[base]

        def keep(p: ParameterVersion, key: str = key, base: str = base, option: str = option,
                 values: list[str] = values) -> bool:
            got = field(p)
            if base == "tag" and not values:
                return bool(got)
            if base == "Path":
                return any(_under(p.name, v, option == "Recursive") for v in values)
            if option == "Equals":
                return any(g == v for g in got for v in values)
            if option == "BeginsWith":
                return any(g.startswith(v) for g in got for v in values)
            if option == "Contains":
                return any(v in g for g in got for v in values)
            raise _error("InvalidFilterOption", f"The filter option {option} is not valid for key {key}.")

        latest = [p for p in latest if keep(p)]
    return latest


def _under(name: str, path: str, recursive: bool) -> bool:
    path = path if path.endswith("/") else path + "/"
    if path == "/":
        return name.startswith("/") and (recursive or name.count("/") == 1) or (recursive and not name.startswith("/"))
    return name.startswith(path) and (recursive or "/" not in name[len(path):])


@operation("GetParametersByPath", SERVICE, accepts=("Path", "Recursive", "ParameterFilters", "WithDecryption",
                                                     "MaxResults", "NextToken"))
def get_parameters_by_path(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    path = params["Path"]
    if not path.startswith("/"):
        raise _validation("The parameter doesn't meet the parameter name requirements. The parameter name must "
                          "begin with a forward slash \"/\".")
    offset, limit = _page(params, 10, 10)
    names = ctx.store.parameters.names(path if path != "/" else "")
    candidates = [p for p in (ctx.store.parameters.latest(n) for n in names)
                  if p is not None and _under(p.name, path, bool(params.get("Recursive")))]
    candidates = _filtered(ctx, candidates, params.get("ParameterFilters") or [], {"Type", "KeyId", "Label"})
    decrypt = bool(params.get("WithDecryption"))
    result: dict[str, Any] = {"Parameters": [_view(ctx, p, decrypt) for p in candidates[offset: offset + limit]]}
    if len(candidates) > offset + limit:
        result["NextToken"] = encode_token(offset + limit)
    return result


@operation("DescribeParameters", SERVICE, accepts=("Filters", "ParameterFilters", "MaxResults", "NextToken"))
def describe_parameters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Filters") and params.get("ParameterFilters"):
        raise _validation("You can use either Filters or ParameterFilters in a single request.")
    filters = list(params.get("ParameterFilters") or [])
    for old in params.get("Filters") or []:
        filters.append({"Key": old["Key"], "Option": "Equals" if old["Key"] != "Name" else "BeginsWith",
                        "Values": old["Values"]})
    offset, limit = _page(params, 50, 50)
    latest = [p for p in (ctx.store.parameters.latest(n) for n in ctx.store.parameters.names()) if p is not None]
    latest = _filtered(ctx, latest, filters, {"Name", "Type", "KeyId", "Tier", "DataType", "Path", "tag", "Label"})
    result: dict[str, Any] = {"Parameters": [_metadata(ctx, p) for p in latest[offset: offset + limit]]}
    if len(latest) > offset + limit:
        result["NextToken"] = encode_token(offset + limit)
    return result


@operation("GetParameterHistory", SERVICE, accepts=("Name", "WithDecryption", "MaxResults", "NextToken"))
def get_parameter_history(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    history = ctx.store.parameters.history(name)
    if not history:
        raise _not_found(name)
    offset, limit = _page(params, 50, 50)
    decrypt = bool(params.get("WithDecryption"))
    result: dict[str, Any] = {"Parameters": [
        _metadata(ctx, p) | {"Value": _value_out(p, decrypt), "Labels": list(p.labels)}
        for p in history[offset: offset + limit]
    ]}
    if len(history) > offset + limit:
        result["NextToken"] = encode_token(offset + limit)
    return result


# -- tags -----------------------------------------------------------------------------


@operation("AddTagsToResource", SERVICE, accepts=("ResourceType", "ResourceId", "Tags"))
def add_tags_to_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(params["Tags"])
    parameters.add_tags(ctx, params, tags)
    return {}


@operation("RemoveTagsFromResource", SERVICE, accepts=("ResourceType", "ResourceId", "TagKeys"))
def remove_tags_from_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    parameters.remove_tags(ctx, params, params["TagKeys"])
    return {}


@operation("ListTagsForResource", SERVICE, accepts=("ResourceType", "ResourceId"))
def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"TagList": [{"Key": t["key"], "Value": t["value"]} for t in ctx.store.get_tags(_tag_target(ctx, params))]}



