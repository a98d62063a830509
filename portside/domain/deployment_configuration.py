"""Which `deploymentConfiguration` members the service scheduler acts on,
and the refusal for each one it cannot (a table, not scattered ifs).

The scheduler runs ROLLING deployments with minimumHealthyPercent,
maximumPercent and the circuit breaker.  Everything else in botocore's
DeploymentConfiguration is refused by name rather than stored and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]

# member → (is it asked for?, what the refusal says)
_REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "strategy": (lambda v: v not in (None, "ROLLING"),
                 "Deployment strategy {value} is not supported by Portside; it runs ROLLING deployments."),
    "bakeTimeInMinutes": (lambda v: bool(v),
                          "bakeTimeInMinutes applies to BLUE_GREEN deployments, which Portside does not run."),
    "lifecycleHooks": (lambda v: bool(v),
                       "Deployment lifecycle hooks are not supported by Portside (AWS_LAMBDA hooks cannot run "
                       "here, and PAUSE hooks are not implemented)."),
    "alarms": (lambda v: bool(v and v.get("enable")),
               "CloudWatch alarms are not available here: deploymentConfiguration.alarms cannot be enabled."),
    "linearConfiguration": (lambda v: v is not None,
                            "linearConfiguration applies to LINEAR deployments, which Portside does not run."),
    "canaryConfiguration": (lambda v: v is not None,
                            "canaryConfiguration applies to CANARY deployments, which Portside does not run."),
    "earlySuccessCriteria": (lambda v: v is not None,
                             "earlySuccessCriteria is not supported by Portside."),
}


def refusal(config: Doc) -> str | None:
    """The message refusing the first member Portside cannot act on, or None."""
    for member, (asked, message) in _REFUSED.items():
        value = config.get(member)
        if asked(value):
            return message.format(value=value)
    breaker = config.get("deploymentCircuitBreaker") or {}
    if breaker.get("thresholdConfiguration"):
        return "deploymentCircuitBreaker.thresholdConfiguration is not supported by Portside."
    return None
