"""Account settings: PutAccountSetting, PutAccountSettingDefault,
DeleteAccountSetting, ListAccountSettings (control/account_settings.py says
what each setting does here)."""

from __future__ import annotations

from typing import Any

from ..control import account_settings as settings
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, encode_token
from .context import Context

Doc = dict[str, Any]


@operation("PutAccountSetting")
def put_account_setting(ctx: Context, params: Doc) -> Doc:
    settings.check(params["name"], params["value"])
    return {"setting": settings.put_setting(ctx, params.get("principalArn"), params["name"], params["value"])}


@operation("PutAccountSettingDefault")
def put_account_setting_default(ctx: Context, params: Doc) -> Doc:
    settings.check(params["name"], params["value"])
    return {"setting": settings.put_default(ctx, params["name"], params["value"])}


@operation("DeleteAccountSetting")
def delete_account_setting(ctx: Context, params: Doc) -> Doc:
    if params["name"] in settings.READ_ONLY:
        raise errors.InvalidParameterException(settings.READ_ONLY[params["name"]])
    return {"setting": settings.delete_setting(ctx, params.get("principalArn"), params["name"])}


@operation("ListAccountSettings")
def list_account_settings(ctx: Context, params: Doc) -> Doc:
    if params.get("value") is not None and not params.get("name"):
        raise errors.InvalidParameterException("A setting name is required when a value is given.")
    limit = params.get("maxResults") or 10
    if not 1 <= limit <= 10:
        raise errors.InvalidParameterException("maxResults must be between 1 and 10.")
    offset = decode_token(params.get("nextToken"), 0)
    if isinstance(offset, bool) or offset < 0:
        raise errors.InvalidParameterException("Invalid token " + params["nextToken"][:64])
    principal = settings.principal(ctx, params.get("principalArn"))
    if params.get("effectiveSettings"):
        names = [params["name"]] if params.get("name") else list(settings.RULES)
        found = [settings.effective_setting(ctx, principal, name) for name in names]
    else:
        found = [s for s in settings.listed(ctx, principal) if not params.get("name") or s["name"] == params["name"]]
    if params.get("value") is not None:
        found = [s for s in found if s["value"] == params["value"]]
    result: Doc = {"settings": found[offset:offset + limit]}
    if offset + limit < len(found):
        result["nextToken"] = encode_token(offset + limit)
    return result
