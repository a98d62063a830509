"""ECS account settings: per principal and account default, with AWS's
defaults, kept in the store's records (kind `account-setting`, keyed by
principal and name).

What each setting does here:
- containerInsights: the default `containerInsights` of new clusters.
- serviceLongArnFormat, taskLongArnFormat, containerInstanceLongArnFormat:
  Portside always uses the long ARN format, as AWS now does for every
  account; `enabled` is accepted, `disabled` refused.
- awsvpcTrunking: accepted; awsvpc tasks here are not limited by ENIs per
  instance, so there is nothing for trunking to raise.
- tagResourceAuthorization, fargateTaskRetirementWaitPeriod,
  fargateEventWindows, defaultLogDriverMode: recorded and reported; Portside
  has no IAM tag authorization, retires no Fargate tasks, and the log driver
  mode is the agent's (see the logs section of the README).
- fargateFIPSMode: only `disabled` (no FIPS endpoints here).
- guardDutyActivate: read-only, as on AWS (GuardDuty manages it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..protocol import errors

Doc = dict[str, Any]

KIND = "account-setting"


@dataclass(frozen=True)
class Rule:
    default: str
    values: tuple[str, ...]
    refused: dict[str, str] | None = None  # value -> why it is refused here


_LONG_ARN = {"disabled": "Portside always uses the long ARN format, as AWS does for every account; "
                         "{name} cannot be disabled."}
RULES: dict[str, Rule] = {
    "serviceLongArnFormat": Rule("enabled", ("enabled", "disabled"), _LONG_ARN),
    "taskLongArnFormat": Rule("enabled", ("enabled", "disabled"), _LONG_ARN),
    "containerInstanceLongArnFormat": Rule("enabled", ("enabled", "disabled"), _LONG_ARN),
    "awsvpcTrunking": Rule("disabled", ("enabled", "disabled")),
    "containerInsights": Rule("disabled", ("enabled", "disabled", "enhanced")),
    "fargateFIPSMode": Rule("disabled", ("enabled", "disabled"),
                            {"enabled": "Portside has no FIPS endpoints; fargateFIPSMode cannot be enabled."}),
    "tagResourceAuthorization": Rule("on", ("on", "off")),
    "fargateTaskRetirementWaitPeriod": Rule("7", ("0", "7", "14")),
    "guardDutyActivate": Rule("off", ("on", "off")),
    "defaultLogDriverMode": Rule("non-blocking", ("blocking", "non-blocking")),
    "fargateEventWindows": Rule("disabled", ("enabled", "disabled")),
}
READ_ONLY = {"guardDutyActivate": "guardDutyActivate is read-only: GuardDuty manages it."}


def root(ctx: Any) -> str:
    return f"arn:aws:iam::{ctx.config.account_id}:root"


def principal(ctx: Any, given: str | None) -> str:
    """The principal a call is about: the one named, else the caller.  The
    caller is the account's root here (Portside's keys are not IAM users)."""
    if given is None:
        return root(ctx)
    if not given.startswith(f"arn:aws:iam::{ctx.config.account_id}:") or len(given) > 2048:
        raise errors.InvalidParameterException(f"The principalArn {given[:200]} is not valid for this account.")
    return given


def check(name: str, value: str) -> None:
    rule = RULES[name]
    if name in READ_ONLY:
        raise errors.InvalidParameterException(READ_ONLY[name])
    if value not in rule.values:
        raise errors.InvalidParameterException(
            f"Invalid value '{value[:64]}' for {name}. Valid values are: {', '.join(rule.values)}.")
    why = (rule.refused or {}).get(value)
    if why:
        raise errors.InvalidParameterException(why.format(name=name))


def _key(principal_arn: str, name: str) -> str:
    return f"{principal_arn}|{name}"


def put(ctx: Any, principal_arn: str, name: str, value: str) -> Doc:
    setting = {"name": name, "value": value, "principalArn": principal_arn, "type": "user"}
    ctx.store.records.put(KIND, _key(principal_arn, name), principal_arn, "ACTIVE", setting)
    return setting


def get(ctx: Any, principal_arn: str, name: str) -> Doc | None:
    return ctx.store.records.get(KIND, _key(principal_arn, name))


def delete(ctx: Any, principal_arn: str, name: str) -> Doc | None:
    found = get(ctx, principal_arn, name)
    if found is not None:
        ctx.store.records.delete(KIND, _key(principal_arn, name))
    return found


def effective_setting(ctx: Any, principal_arn: str, name: str) -> Doc:
    """The principal's own setting, else the account default, else AWS's."""
    found = get(ctx, principal_arn, name) or get(ctx, root(ctx), name)
    if found is not None:
        return found
    return {"name": name, "value": RULES[name].default, "principalArn": principal_arn, "type": "aws_managed"}


def effective(ctx: Any, name: str) -> str:
    """The value in force for the account (its default, else AWS's)."""
    return effective_setting(ctx, root(ctx), name)["value"]


def listed(ctx: Any, principal_arn: str) -> list[Doc]:
    """The principal's own settings, in name order."""
    return sorted((doc for _, doc in ctx.store.records.children(KIND, principal_arn)), key=lambda d: d["name"])


# The use cases, each in its own transaction (the handlers in api/account_settings.py
# check the name and value first).

def put_setting(ctx: Any, given_principal: str | None, name: str, value: str) -> Doc:
    """PutAccountSetting: the principal named (default: the caller) gets `value`."""
    with ctx.store.transaction():
        return put(ctx, principal(ctx, given_principal), name, value)


def put_default(ctx: Any, name: str, value: str) -> Doc:
    """PutAccountSettingDefault: the account's own (root's) setting."""
    with ctx.store.transaction():
        return put(ctx, root(ctx), name, value)


def delete_setting(ctx: Any, given_principal: str | None, name: str) -> Doc:
    """DeleteAccountSetting: the deleted setting; one never set is refused,
    as AWS does."""
    with ctx.store.transaction():
        arn = principal(ctx, given_principal)
        found = delete(ctx, arn, name)
        if found is None:
            raise errors.InvalidParameterException(f"The account setting {name} is not set for {arn}.")
    return found
