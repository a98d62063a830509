"""How a RunTask or service launches its tasks: the launch type (EC2 or
FARGATE), its platform version and family, the task's awsvpc network
configuration, and, for Fargate, the capacity Portside manages.

Fargate tasks run on hosts whose agent offers Fargate capacity (attribute
`portside.fargate-capacity`: `portside up`'s local agent, `portside agent
--fargate` anywhere else).  As on AWS the task has no containerInstanceArn and
the user needs no instance of their own, but the host's CPU and memory are
really held: the task's row names the host, and its reservation is debited
there as any task's is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..domain import fargate
from ..domain.capacity_providers import FARGATE_PROVIDERS
from ..domain.documents import Doc
from ..domain.resources import Reservation
from ..protocol import errors
from ..scheduler.placement import Candidate, Placement, place_lazily

FARGATE_ATTRIBUTE = fargate.FARGATE_ATTRIBUTE
NO_CAPACITY = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

_rng = random.Random()


@dataclass(frozen=True)
class Launch:
    """What a request's tasks are launched as; new tasks copy it."""

    launch_type: str = "EC2"
    platform_version: str | None = None
    platform_family: str | None = None
    network: Doc | None = None  # the checked awsvpcConfiguration
    capacity_provider: str | None = None
    ephemeral_storage_gib: int | None = None

    @property
    def fargate(self) -> bool:
        return self.launch_type == "FARGATE"


def checked_launch(definition: Doc, params: Doc, launch_type: str | None = None,
                   capacity_provider: str | None = None) -> Launch:
    """The launch a RunTask / CreateService request asks for, checked as AWS
    checks it (InvalidParameterException, ClientException,
    PlatformUnknownException with AWS's wording)."""
    launch_type = launch_type or params.get("launchType") or "EC2"
    problem = fargate.launch_type_problem(definition, launch_type)
    if problem:
        if launch_type in fargate.LAUNCH_TYPES_RUN_HERE:
            raise errors.InvalidParameterException(problem)
        raise errors.UnsupportedFeatureException(problem)
    try:
        version = fargate.platform_version(launch_type, params.get("platformVersion"))
        network = fargate.network_configuration(
            definition.get("networkMode"), launch_type, params.get("networkConfiguration"))
    except fargate.UnknownPlatform as exc:
        raise errors.PlatformUnknownException(exc.message) from exc
    except fargate.FargateProblem as exc:
        raise errors.InvalidParameterException(exc.message) from exc
    if launch_type == "FARGATE":
        if params.get("placementStrategy") or params.get("placementConstraints"):
            raise errors.InvalidParameterException(
                "Task placement strategies and constraints are not supported with the FARGATE launch type."
            )
        problem = fargate.runtime_platform_problem(definition)
        if problem:
            raise errors.PlatformTaskDefinitionIncompatibilityException(problem)
        storage = (definition.get("ephemeralStorage") or {}).get("sizeInGiB")
        return Launch("FARGATE", version, fargate.platform_family(definition), network, capacity_provider,
                      storage or fargate.DEFAULT_EPHEMERAL_STORAGE_GIB)
    return Launch("EC2", None, None, network, capacity_provider)


def fargate_pool(ctx: Any) -> tuple[list[str], dict[str, Doc]]:
    """Every ACTIVE instance, in any cluster, whose agent offers Fargate capacity."""
    arns: list[str] = []
    docs: dict[str, Doc] = {}
    after = ""
    while True:
        clusters = ctx.store.list_cluster_arns(after, 100)
        for cluster_arn in clusters:
            pool, cached = ctx.placement.instance_pool(cluster_arn, ("ACTIVE",))
            for arn in pool:
                doc = cached[arn]
                if any(a.get("name") == FARGATE_ATTRIBUTE for a in doc.get("attributes") or ()):
                    arns.append(arn)
                    docs[arn] = doc
        if len(clusters) < 100:
            return arns, docs
        after = clusters[-1]


def place_fargate(ctx: Any, need: Reservation, count: int, group: str) -> Placement:
    """Up to `count` Fargate tasks on the Fargate capacity (random, as AWS
    does not let the user steer it); what does not fit is AWS's capacity
    failure."""
    arns, docs = fargate_pool(ctx)

    def candidate_at(index: int) -> Candidate:
        doc = docs[arns[index]]
        return Candidate.of(doc, ctx.agent_connected(doc), group=group,
                            capacity=ctx.placement.free_capacity(arns[index]))

    return place_lazily(len(arns), candidate_at, need, count, _rng)


def task_fields(launch: Launch) -> Doc:
    """The Task members a launch sets (beyond what every task has)."""
    fields: Doc = {"launchType": launch.launch_type}
    if launch.fargate:
        fields["platformVersion"] = launch.platform_version
        fields["platformFamily"] = launch.platform_family
        fields["ephemeralStorage"] = {"sizeInGiB": launch.ephemeral_storage_gib}
    if launch.capacity_provider:
        fields["capacityProviderName"] = launch.capacity_provider
    return fields


def service_launch_fields(launch: Launch, platform_version: str | None) -> Doc:
    """The Service members its launch sets: a Fargate service keeps the
    platform version asked for (LATEST by default; its tasks report the one
    it resolved to), and an awsvpc service its network configuration."""
    fields: Doc = {}
    if launch.fargate:
        fields["platformVersion"] = platform_version or "LATEST"
        fields["platformFamily"] = launch.platform_family
    if launch.network:
        fields["networkConfiguration"] = {"awsvpcConfiguration": launch.network}
    return fields


def launch_params(service: Doc) -> Doc:
    """The RunTask members a service's tasks are launched with."""
    if service.get("capacityProviderStrategy"):
        params: Doc = {"capacityProviderStrategy": service["capacityProviderStrategy"]}
    else:
        params = {"launchType": service.get("launchType") or "EC2"}
    for member in ("networkConfiguration", "platformVersion"):
        if service.get(member):
            params[member] = service[member]
    return params


def on_fargate(ctx: Any, service: Doc) -> bool:
    """Whether a service's tasks run on Portside's Fargate capacity."""
    if service.get("launchType") == "FARGATE":
        return True
    return any(item["capacityProvider"] in FARGATE_PROVIDERS for item in service.get("capacityProviderStrategy") or ())
