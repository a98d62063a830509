"""Capacity providers: what a provider is (its document and the defaults ECS
fills in), the rules for names and strategies, and how a strategy splits
tasks between providers by `base` and `weight`.

Pure functions; refusals raise `CapacityProviderProblem` with AWS's wording
(the API layer answers InvalidParameterException).

There are no Auto Scaling groups or EC2 launches here: an EC2 provider's
capacity is the container instances whose agent joined it (`portside agent
--capacity-provider NAME`); its ASG ARN, launch template and managedScaling
are stored and reported as given.  FARGATE and FARGATE_SPOT are Portside's
Fargate capacity.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
CAPACITY_PROVIDER_ATTRIBUTE = "portside.capacity-provider"  # how an agent says which provider it joined
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
RESERVED_PREFIXES = ("aws", "ecs", "fargate")
MAX_STRATEGY_ITEMS = 20  # ECS's limit on a strategy's providers

_MANAGED_SCALING_DEFAULTS = {"status": "ENABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
                             "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}


class CapacityProviderProblem(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise CapacityProviderProblem(
            "The capacity provider name is invalid. Up to 255 letters (uppercase and lowercase), "
            "numbers, underscores, and hyphens are allowed.")
    if name.lower().startswith(RESERVED_PREFIXES):
        raise CapacityProviderProblem(
            "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\".")


def new_provider(arn: str, params: Doc, cluster_name: str | None) -> Doc:
    """The CapacityProvider document for a CreateCapacityProvider request."""
    asg, managed = params.get("autoScalingGroupProvider"), params.get("managedInstancesProvider")
    if bool(asg) == bool(managed):
        raise CapacityProviderProblem(
            "Specify either autoScalingGroupProvider or managedInstancesProvider, but not both.")
    doc: Doc = {"capacityProviderArn": arn, "name": params["name"], "status": "ACTIVE",
                "updateStatus": "CREATE_COMPLETE"}
    if asg:
        doc["type"] = "EC2_AUTOSCALING"
        doc["autoScalingGroupProvider"] = _asg(asg)
    else:
        if not cluster_name:
            raise CapacityProviderProblem(
                "A cluster must be specified for a capacity provider of Amazon ECS Managed Instances.")
        doc["type"] = "MANAGED_INSTANCES"
        doc["cluster"] = cluster_name
        doc["managedInstancesProvider"] = copy.deepcopy(managed)
    return doc


def _asg(given: Doc) -> Doc:
    asg = copy.deepcopy(given)
    asg["managedScaling"] = {**_MANAGED_SCALING_DEFAULTS, **(asg.get("managedScaling") or {})}
    asg.setdefault("managedTerminationProtection", "DISABLED")
    asg.setdefault("managedDraining", "ENABLED")
    if asg["managedTerminationProtection"] == "ENABLED" and asg["managedScaling"]["status"] != "ENABLED":
        raise CapacityProviderProblem(
            "The managed termination protection setting for the capacity provider is invalid. To enable "
            "managed termination protection for a capacity provider, the capacity provider must have "
            "managed scaling enabled.")
    return asg


def update_provider(doc: Doc, params: Doc) -> Doc:
    """UpdateCapacityProvider: what was given replaces what was there."""
    updated = copy.deepcopy(doc)
    asg, managed = params.get("autoScalingGroupProvider"), params.get("managedInstancesProvider")
    if asg:
        if updated.get("type") != "EC2_AUTOSCALING":
            raise CapacityProviderProblem("autoScalingGroupProvider can only update an Auto Scaling group provider.")
        current = updated["autoScalingGroupProvider"]
        merged = {**current, **{k: v for k, v in asg.items() if k != "managedScaling"}}
        merged["managedScaling"] = {**current.get("managedScaling", {}), **(asg.get("managedScaling") or {})}
        updated["autoScalingGroupProvider"] = _asg(merged)
    if managed:
        if updated.get("type") != "MANAGED_INSTANCES":
            raise CapacityProviderProblem(
                "managedInstancesProvider can only update a capacity provider of Amazon ECS Managed Instances.")
        updated["managedInstancesProvider"] = {**updated.get("managedInstancesProvider", {}), **managed}
    updated["updateStatus"] = "UPDATE_COMPLETE"
    return updated


def fargate_provider(arn: str, name: str) -> Doc:
    return {"capacityProviderArn": arn, "name": name, "status": "ACTIVE", "type": name}


def check_strategy(strategy: list[Doc], usable: set[str], kinds: dict[str, str]) -> list[Doc]:
    """A capacity provider strategy as ECS checks it; `usable` names the
    providers it may use (the cluster's), `kinds` each provider's type.
    Returns it with weights defaulted (0)."""
    if len(strategy) > MAX_STRATEGY_ITEMS:
        raise CapacityProviderProblem(
            f"The capacity provider strategy can have at most {MAX_STRATEGY_ITEMS} items.")
    names = [item["capacityProvider"] for item in strategy]
    if len(set(names)) != len(names):
        raise CapacityProviderProblem("The capacity provider strategy contains duplicate capacity providers.")
    for name in names:
        if name not in usable:
            raise CapacityProviderProblem(
                f"The specified capacity provider strategy cannot contain a capacity provider that is not "
                f"associated with the cluster. Associate the capacity provider with the cluster or specify "
                f"a valid capacity provider and try again. Capacity provider: {name}")
    fargate = [n for n in names if kinds.get(n) in FARGATE_PROVIDERS]
    if fargate and len(fargate) != len(names):
        raise CapacityProviderProblem(
            "The specified capacity provider strategy cannot contain a mix of capacity providers using "
            "Auto Scaling groups and Fargate providers. Specify one or the other and try again.")
    if sum(1 for item in strategy if item.get("base")) > 1:
        raise CapacityProviderProblem(
            "The specified capacity provider strategy cannot contain more than one capacity provider "
            "with a base value.")
    checked = [{"capacityProvider": item["capacityProvider"], "weight": item.get("weight", 0),
                "base": item.get("base", 0)} for item in strategy]
    if strategy and not any(item["weight"] > 0 for item in checked):
        raise CapacityProviderProblem(
            "The specified capacity provider strategy must contain at least one capacity provider "
            "with a weight greater than zero.")
    return checked


@dataclass(frozen=True)
class Share:
    provider: str
    count: int


def split(strategy: list[Doc], count: int, running: dict[str, int] | None = None) -> list[Share]:
    """How `count` new tasks divide among the strategy's providers, as ECS
    documents it: the provider with a `base` gets tasks until it runs `base`
    of them, the rest go by `weight` (each task to the provider furthest below
    its weighted share, ties in strategy order).  `running` counts the tasks
    each provider already runs (a service's), which the split takes into account."""
    have = {item["capacityProvider"]: (running or {}).get(item["capacityProvider"], 0) for item in strategy}
    added = {name: 0 for name in have}
    for _ in range(count):
        chosen = None
        for item in strategy:
            if item.get("base", 0) > have[item["capacityProvider"]]:
                chosen = item["capacityProvider"]
                break
        if chosen is None:
            weighted = [item for item in strategy if item.get("weight", 0) > 0]
            if not weighted:
                break
            total = sum(have[item["capacityProvider"]] - item.get("base", 0) for item in weighted) + 1
            weight_sum = sum(item["weight"] for item in weighted)

            deficits = [have[item["capacityProvider"]] - item.get("base", 0) - total * item["weight"] / weight_sum
                        for item in weighted]
            chosen = weighted[deficits.index(min(deficits))]["capacityProvider"]
        have[chosen] += 1
        added[chosen] += 1
    return [Share(item["capacityProvider"], added[item["capacityProvider"]])
            for item in strategy if added[item["capacityProvider"]]]
