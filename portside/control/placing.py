"""Where tasks go: a request's placement rules, and the scheduler's
candidates built from what the store knows of each instance (documents,
free capacity, task groups) and whether its agent is connected.

RunTask, StartTask, the DAEMON scheduler (one named instance at a time) and
ListContainerInstances' `filter` all build candidates here; the pipeline
itself (filters, rankers) is scheduler/placement.py, which knows no store.
"""

from __future__ import annotations

import random

from ..domain import container_support
from ..domain.documents import Doc
from ..domain.resources import Reservation
from ..protocol import errors
from ..scheduler import query
from ..scheduler.placement import Candidate, Lookups, Placement, PlacementRuleError, Rules, parse_rules, place_lazily
from .context import Context

_rng = random.Random()  # seeded from os.urandom; placement needs chance, not secrecy


def placement_rules(
    definition: Doc | None,
    strategies: list[Doc] | None,
    constraints: list[Doc] | None,
) -> Rules:
    """The checked placement strategies and constraints of a request (with
    the task definition's constraints); a malformed one, or a bad cluster
    query expression, is an InvalidParameterException."""
    try:
        own = [*((definition or {}).get("placementConstraints") or []),
               *container_support.platform_constraints(definition)]
        return parse_rules(strategies, constraints, own)
    except (PlacementRuleError, query.QueryError) as exc:
        raise errors.InvalidParameterException(str(exc)) from exc


def task_group(definition: Doc, params: Doc) -> str:
    """The group a task of this request joins (as domain.task.new_task names it)."""
    group: str = params.get("group") or f"family:{definition['family']}"
    return group


def _lookups(ctx: Context, cluster: Doc, rules: Rules, group: str) -> Lookups:
    """The store queries the rules need, run on first use (indexed; no scan of every task)."""
    cluster_arn = cluster["clusterArn"]
    return Lookups(
        group_counts=lambda: ctx.placement.group_task_counts(cluster_arn, group),
        groups_on=lambda: ctx.placement.task_groups_on_instances(cluster_arn, rules.task_groups_named()),
        running_counts=lambda: ctx.store.running_task_counts(cluster_arn),
    )


def place_on(
    ctx: Context,
    cluster: Doc,
    arns: list[str],
    docs: dict[str, Doc],
    need: Reservation,
    count: int,
    rules: Rules,
    group: str,
) -> Placement:
    """Place up to `count` tasks over the instances `arns` names (documents
    read from `docs`, never changed); RunTask, StartTask and the DAEMON
    scheduler (one named instance at a time) share it."""
    lookups = _lookups(ctx, cluster, rules, group)

    def candidate_at(index: int) -> Candidate:
        arn = arns[index]
        doc = docs[arn]
        return Candidate.of(doc, ctx.agent_connected(doc), lookups, group, ctx.placement.free_capacity(arn))

    return place_lazily(len(arns), candidate_at, need, count, _rng, rules.filters, rules.strategies)


def instances_matching(
    ctx: Context, cluster: Doc, text: str, statuses: tuple[str, ...], after: int, wanted: int
) -> list[tuple[int, str]]:
    """(seq, ARN) of the instances past `after` that the cluster query
    language expression `text` selects, up to `wanted` of them."""
    try:
        expression = query.parse(text)
    except query.QueryError as exc:
        raise errors.InvalidParameterException(str(exc)) from exc
    cluster_arn = cluster["clusterArn"]
    lookups = Lookups(
        groups_on=lambda: ctx.placement.task_groups_on_instances(cluster_arn, expression.task_groups_named()),
        running_counts=lambda: ctx.store.running_task_counts(cluster_arn),
    )
    found = []
    for seq, arn in ctx.store.list_instance_arns(cluster_arn, statuses, after, 1 << 62):
        doc = ctx.placement.get_instance(arn)
        if doc is not None and expression.matches(Candidate.of(doc, ctx.agent_connected(doc), lookups)):
            found.append((seq, arn))
            if len(found) >= wanted:
                break
    return found
