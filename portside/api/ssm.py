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

from ..protocol.dispatch import operation
from ..protocol.errors import ServiceError
from ..store.parameters import ParameterVersion
from .common import decode_token, encode_token, tags_after
from .context import Context

SERVICE = "ssm"
DEFAULT_KEY = "alias/aws/ssm"
NAME = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
MAX_LEVELS = 15
MAX_VERSIONS = 100
MAX_LABELS = 10
MAX_VALUE = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


def _validation(message: str) -> ServiceError:
    return _error("ValidationException", message)


def _not_found(name: str) -> ServiceError:
    return _error("ParameterNotFound", f"Parameter {name} not found.")


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


def _select(ctx: Context, name: str, selector: str | None) -> ParameterVersion:
    history = ctx.store.parameters.history(name)
    if not history:
        raise _not_found(name)
    if selector is None:
        return history[-1]
    if selector.isdigit():
        found = next((p for p in history if p.version == int(selector)), None)
    else:
        found = next((p for p in history if selector in p.labels), None)
    if found is None:
        raise _error("ParameterVersionNotFound",
                     f"Systems Manager could not find version {selector} of {name}. Verify the version and try again.")
    return found


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
    name, value = params["Name"], params["Value"]
    _check_name(name)
    overwrite = bool(params.get("Overwrite"))
    if overwrite and params.get("Tags"):
        raise _validation("Invalid request: tags and overwrite can't be used together. To create a parameter with "
                          "tags, please remove overwrite flag. To update tags for an existing parameter, please use "
                          "AddTagsToResource or RemoveTagsFromResource.")
    data_type = params.get("DataType", "text")
    if data_type != "text":
        raise _validation(f"DataType {data_type} is not supported by Portside (only text).")
    with ctx.store.transaction():
        history = ctx.store.parameters.history(name)
        latest = history[-1] if history else None
        if latest is not None and not overwrite:
            raise _error("ParameterAlreadyExists",
                         "The parameter already exists. To overwrite this value, set the overwrite option in the "
                         "request to true.")
        kind = params.get("Type") or (latest.type if latest else None)
        if kind is None:
            raise _validation("A parameter type is required when you create a parameter.")
        key_id = params.get("KeyId")
        if key_id is not None and kind != "SecureString":
            raise _validation("KeyId is required for SecureString type parameter only.")
        if kind == "SecureString":
            key_id = key_id or (latest.key_id if latest and latest.type == "SecureString" else None) or DEFAULT_KEY
            if key_id != DEFAULT_KEY:
                raise _error("InvalidKeyId",
                             f"KeyId {key_id} is not supported by Portside: only the default key {DEFAULT_KEY}.")
        tier = params.get("Tier") or (latest.tier if latest else "Standard")
        if tier == "Intelligent-Tiering":
            tier = "Advanced" if len(value) > MAX_VALUE["Standard"] else "Standard"
        if latest is not None and latest.tier == "Advanced" and tier == "Standard":
            raise _validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter "
                              "from the advanced-parameter tier to the standard-parameter tier.")
        if len(value) > MAX_VALUE[tier]:
            raise _validation(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger "
                "parameter value, upgrade the parameter to use the advanced-parameter tier."
                if tier == "Standard"
                else "Advanced tier parameters support a maximum parameter value of 8192 characters."
            )
        pattern = params.get("AllowedPattern", latest.allowed_pattern if latest else None)
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise _error("InvalidAllowedPatternException", f"The allowed pattern is not valid: {exc}") from exc
            if not compiled.fullmatch(value):
                raise _error("ParameterPatternMismatchException",
                             f"Parameter value, cannot be validated against allowedPattern: {pattern}")
        if len(history) >= MAX_VERSIONS:
            oldest = history[0]
            if oldest.labels:
                raise _error("ParameterMaxVersionLimitExceeded",
                             f"You attempted to create a new version of {name} by calling the PutParameter API with "
                             f"the overwrite flag. Version {oldest.version}, the oldest version, can't be deleted "
                             "because it has a label associated with it.")
            ctx.store.parameters.delete_version(name, oldest.version)
        version = (latest.version + 1) if latest else 1
        ctx.store.parameters.add(ParameterVersion(
            name, version, kind, value, params.get("Description", latest.description if latest else None),
            pattern, key_id if kind == "SecureString" else None, tier, data_type, ctx.clock.now(), (),
        ))
        if params.get("Tags"):
            ctx.store.put_tags(ctx.arns.parameter(name), _tags(params["Tags"]))
    return {"Version": version, "Tier": tier}


def _tags(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for tag in tags:
        if not 1 <= len(tag["Key"]) <= 128 or len(tag["Value"]) > 256:
            raise _validation("Tag keys must be 1-128 characters and values at most 256 characters.")
        out.append({"key": tag["Key"], "value": tag["Value"]})
    return out


@operation("DeleteParameter", SERVICE, accepts=("Name",))
def delete_parameter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    with ctx.store.transaction():
        if ctx.store.parameters.latest(name) is None:
            raise _not_found(name)
        _delete(ctx, name)
    return {}


def _delete(ctx: Context, name: str) -> None:
    ctx.store.parameters.delete(name)
    arn = ctx.arns.parameter(name)
    ctx.store.remove_tags(arn, [t["key"] for t in ctx.store.get_tags(arn)])


@operation("DeleteParameters", SERVICE, accepts=("Names",))
def delete_parameters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    deleted, invalid = [], []
    with ctx.store.transaction():
        for given in params["Names"]:
            name = ctx.arns.parameter_name(given) or given
            if ctx.store.parameters.latest(name) is None:
                invalid.append(given)
            else:
                _delete(ctx, name)
                deleted.append(given)
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
    with ctx.store.transaction():
        history = ctx.store.parameters.history(name)
        if not history:
            raise _not_found(name)
        wanted = params.get("ParameterVersion", history[-1].version)
        target = next((p for p in history if p.version == wanted), None)
        if target is None:
            raise _error("ParameterVersionNotFound",
                         f"Systems Manager could not find version {wanted} of {name}. "
                         "Verify the version and try again.")
        merged = list(dict.fromkeys([*target.labels, *good]))
        if len(merged) > MAX_LABELS:
            raise _error("ParameterVersionLabelLimitExceeded",
                         f"A parameter version can have maximum {MAX_LABELS} labels.")
        for other in history:
            if other.version != wanted and set(other.labels) & set(good):
                ctx.store.parameters.set_labels(name, other.version, [x for x in other.labels if x not in good])
        ctx.store.parameters.set_labels(name, wanted, merged)
    return {"InvalidLabels": invalid, "ParameterVersion": wanted}


@operation("UnlabelParameterVersion", SERVICE, accepts=("Name", "ParameterVersion", "Labels"))
def unlabel_parameter_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.arns.parameter_name(params["Name"]) or params["Name"]
    with ctx.store.transaction():
        target = _select(ctx, name, str(params["ParameterVersion"]))
        removed = [x for x in params["Labels"] if x in target.labels]
        ctx.store.parameters.set_labels(name, target.version, [x for x in target.labels if x not in removed])
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


def _tag_target(ctx: Context, params: dict[str, Any]) -> str:
    if params["ResourceType"] != "Parameter":
        raise _error("InvalidResourceType", f"ResourceType {params['ResourceType']} is not supported by Portside.")
    name = ctx.arns.parameter_name(params["ResourceId"]) or params["ResourceId"]
    if ctx.store.parameters.latest(name) is None:
        raise _error("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.")
    return ctx.arns.parameter(name)


@operation("AddTagsToResource", SERVICE, accepts=("ResourceType", "ResourceId", "Tags"))
def add_tags_to_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(params["Tags"])
    with ctx.store.transaction():
        arn = _tag_target(ctx, params)
        if tags_after(ctx, arn, [t["key"] for t in tags]) > 50:
            raise _error("TooManyTagsError", "A parameter can have at most 50 tags.")
        ctx.store.put_tags(arn, tags)
    return {}


@operation("RemoveTagsFromResource", SERVICE, accepts=("ResourceType", "ResourceId", "TagKeys"))
def remove_tags_from_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        ctx.store.remove_tags(_tag_target(ctx, params), params["TagKeys"])
    return {}


@operation("ListTagsForResource", SERVICE, accepts=("ResourceType", "ResourceId"))
def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"TagList": [{"Key": t["key"], "Value": t["value"]} for t in ctx.store.get_tags(_tag_target(ctx, params))]}



