"""Which `deploymentConfiguration` members the service scheduler acts on,
and the refusal for each one it cannot (a table, not scattered ifs).

The scheduler runs ROLLING deployments with minimumHealthyPercent,
maximumPercent and the circuit breaker (with its thresholdConfiguration and
resetOnHealthyTask, domain/circuit_breaker.py), and BLUE_GREEN deployments with
bakeTimeInMinutes and PAUSE lifecycle hooks (domain/lifecycle.py).
Everything else in botocore's DeploymentConfiguration is refused by name
rather than stored and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import circuit_breaker, lifecycle

Doc = dict[str, Any]

# member → (is it asked for?, what the refusal says)
_REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "strategy": (lambda v: v not in (None, "ROLLING", "BLUE_GREEN"),
                 "Deployment strategy {value} is not supported by Portside; it runs ROLLING and BLUE_GREEN "
                 "deployments (LINEAR and CANARY shift load balancer traffic, which Portside does not have)."),
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
    found = circuit_breaker.threshold_problem(breaker)
    if found:
        return found
    blue_green = config.get("strategy") == "BLUE_GREEN"
    bake = config.get("bakeTimeInMinutes")
    if bake is not None and not blue_green:
        return "bakeTimeInMinutes applies to the BLUE_GREEN deployment strategy only."
    if blue_green:
        if bake is None:
            return "bakeTimeInMinutes must be provided for the BLUE_GREEN deployment strategy."
        if not 0 <= bake <= 1440:
            return "bakeTimeInMinutes must be between 0 and 1440."
        if breaker.get("enable"):
            return ("The deployment circuit breaker can only be used with the ROLLING deployment strategy; "
                    "a BLUE_GREEN deployment is rolled back with StopServiceDeployment or a PAUSE hook.")
    return lifecycle.hooks_problem(config)
