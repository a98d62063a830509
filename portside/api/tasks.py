"""Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks.

Placing a task and debiting its instance happen in one transaction, committed
before the answer leaves; a retried RunTask with the same clientToken answers
with the tasks the first call placed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from ..domain import task as tasks
from ..domain.resources import Reservation
from ..domain.task_definition import InvalidTaskDefinition
from ..protocol import errors
from ..protocol.dispatch import operation
from ..protocol.serialize import Encoded, wire_json
from ..scheduler import query
from ..scheduler.placement import Candidate, Lookups, PlacementRuleError, Rules, parse_rules, place_lazily
from .common import decode_token, failure, page, require_cluster, seq_page, validate_tags
from .container_instances import instance_arn
from .context import Context
from .task_definitions import resolve as resolve_task_definition

_rng = random.Random()  # seeded from os.urandom; placement needs chance, not secrecy


def task_arn(ctx: Context, cluster: dict[str, Any], identifier: str) -> str | None:
    """The full ARN a task id or ARN names within `cluster`."""
    cluster_name, task_id = ctx.arns.member_id(identifier, "task")
    if not task_id or (cluster_name and cluster_name != cluster["clusterName"]):
        return None
    return ctx.arns.task(cluster["clusterName"], task_id)


def task_view(task: dict[str, Any], tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    shown = dict(task)
    if tags is not None:
        shown["tags"] = tags
    else:
        shown.pop("tags", None)
    return shown


def release_resources(ctx: Context, task: dict[str, Any]) -> None:
    """Give a stopped task's CPU, memory and ports back to its instance."""
    arn = task.get("containerInstanceArn")
    if arn:
        held = Reservation.from_doc(ctx.store.task_reservation(task["taskArn"]))
        ctx.store.hold(arn, held, task.get("group") or "", release=True)


def checked_task_definition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The ACTIVE definition `params["taskDefinition"]` names, with its overrides checked."""
    definition = resolve_task_definition(ctx, params["taskDefinition"])
    if definition is None:
        raise errors.ClientException("TaskDefinition not found.")
    if definition["status"] != "ACTIVE":
        raise errors.ClientException("TaskDefinition is inactive")
    problem = tasks.override_problem(params.get("overrides"))
    if problem:
        raise errors.InvalidParameterException(problem)
    unknown = tasks.unknown_override_names(definition, params.get("overrides"))
    if unknown:
        raise errors.InvalidParameterException(
            f"Override for container named {unknown[0]} is not a container in the TaskDefinition."
        )
    if params.get("capacityProviderStrategy"):
        raise errors.UnsupportedFeatureException("Capacity provider strategies are not supported by Portside.")
    if params.get("launchType", "EC2") != "EC2":
        raise errors.InvalidParameterException(
            f"Launch type {params['launchType']} is not supported; Portside runs the EC2 launch type."
        )
    return definition


def _reservation(definition: dict[str, Any], params: dict[str, Any]) -> Reservation:
    try:
        return tasks.reservation_for(definition, params.get("overrides"))
    except InvalidTaskDefinition as exc:  # a bad cpu/memory override
        raise errors.InvalidParameterException(exc.message) from exc


def commit_placements(
    ctx: Context,
    cluster: dict[str, Any],
    definition: dict[str, Any],
    params: dict[str, Any],
    chosen: list[Candidate],
    need: Reservation,
    tags: list[dict[str, str]],
) -> list[Encoded]:
    """Write the new tasks, each holding `need` on its instance (in the
    caller's transaction); returns the tasks' wire documents."""
    now = ctx.clock.now()
    made = [tasks.new_task(ctx.arns, cluster, definition, c.doc, params, now) for c in chosen]
    documents = ctx.store.add_tasks(made, need.to_doc(), params.get("clientToken"))
    if tags:
        for task in made:
            ctx.store.put_tags(task["taskArn"], tags)
        created = [wire_json("Task", task | {"tags": tags}) for task in made]
    else:
        created = [Encoded(document) for document in documents]
    group = task_group(definition, params)
    for arn, placed in Counter(c.arn for c in chosen).items():
        ctx.store.hold(arn, need, group, times=placed)
        ctx.wakeups.notify(arn)  # the agent's poll answers once the commit is done
    return created


def placement_rules(
    definition: dict[str, Any] | None,
    strategies: list[dict[str, Any]] | None,
    constraints: list[dict[str, Any]] | None,
) -> Rules:
    """The checked placement strategies and constraints of a request (with
    the task definition's constraints); a malformed one, or a bad cluster
    query expression, is an InvalidParameterException."""
    try:
        return parse_rules(strategies, constraints, (definition or {}).get("placementConstraints"))
    except (PlacementRuleError, query.QueryError) as exc:
        raise errors.InvalidParameterException(str(exc)) from exc


def task_group(definition: dict[str, Any], params: dict[str, Any]) -> str:
    """The group a task of this request joins (as domain.task.new_task names it)."""
    return params.get("group") or f"family:{definition['family']}"


def _lookups(ctx: Context, cluster: dict[str, Any], rules: Rules, group: str) -> Lookups:
    """The store queries the rules need, run on first use (indexed; no scan of every task)."""
    cluster_arn = cluster["clusterArn"]
    return Lookups(
        group_counts=lambda: ctx.store.group_task_counts(cluster_arn, group),
        groups_on=lambda: ctx.store.task_groups_on_instances(cluster_arn, rules.task_groups_named()),
        running_counts=lambda: ctx.store.running_task_counts(cluster_arn),
    )


def place_on(
    ctx: Context,
    cluster: dict[str, Any],
    arns: list[str],
    docs: dict[str, dict[str, Any]],
    need: Reservation,
    count: int,
    rules: Rules,
    group: str,
):
    """Place up to `count` tasks over the instances `arns` names (documents
    read from `docs`, never changed); RunTask, StartTask and the DAEMON
    scheduler (one named instance at a time) share it."""
    lookups = _lookups(ctx, cluster, rules, group)

    def candidate_at(index: int) -> Candidate:
        arn = arns[index]
        doc = docs[arn]
        return Candidate.of(doc, ctx.agent_connected(doc), lookups, group, ctx.store.free_capacity(arn))

    return place_lazily(len(arns), candidate_at, need, count, _rng, rules.filters, rules.strategies)


@operation("RunTask")
def run_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = validate_tags(params.get("tags"))
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        token = params.get("clientToken")
        if token:
            earlier = store.tasks_by_client_token(cluster["clusterArn"], token)
            if earlier:
                views = [task_view(t, store.get_tags(t["taskArn"])) for t in earlier]
                return {"tasks": views, "failures": []}
        definition = checked_task_definition(ctx, params)
        placement_rules(definition, params.get("placementStrategy"), params.get("placementConstraints"))
        if not store.instance_pool(cluster["clusterArn"], ("ACTIVE", "DRAINING"))[0]:  # in memory
            raise errors.InvalidParameterException("No Container Instances were found in your cluster.")
        created, failures = launch_tasks(ctx, cluster, definition, params, params.get("count", 1), tags)
    return {"tasks": created, "failures": failures}


def launch_tasks(
    ctx: Context,
    cluster: dict[str, Any],
    definition: dict[str, Any],
    params: dict[str, Any],
    count: int,
    tags: list[dict[str, str]] | None = None,
) -> tuple[list[Encoded], list[dict[str, str]]]:
    """Place and record up to `count` tasks of `definition` on the cluster's
    ACTIVE instances, in the caller's transaction: RunTask, and the service
    scheduler, start tasks through here.  `params` carries what RunTask takes
    (overrides, startedBy, group, clientToken, placementStrategy,
    placementConstraints, enableExecuteCommand).  Returns the new tasks' wire
    documents and the `failures` for what could not be placed."""
    need = _reservation(definition, params)
    rules = placement_rules(definition, params.get("placementStrategy"), params.get("placementConstraints"))
    arns, docs = ctx.store.instance_pool(cluster["clusterArn"], ("ACTIVE",))
    placement = place_on(ctx, cluster, arns, docs, need, count, rules, task_group(definition, params))
    created = commit_placements(ctx, cluster, definition, params, placement.chosen, need, tags or [])
    return created, [failure(a, r) for a, r in placement.rejections.items()]


@operation("StartTask")
def start_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = validate_tags(params.get("tags"))
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        definition = checked_task_definition(ctx, params)
        need = _reservation(definition, params)
        # StartTask places where it is told: no strategies; the task
        # definition's memberOf constraints still bind.
        rules = placement_rules(definition, None, None)
        group = task_group(definition, params)
        chosen, failures = [], []
        for identifier in params["containerInstances"]:
            arn = instance_arn(ctx, cluster, identifier)
            doc = store.get_instance(arn) if arn else None
            if doc is None:
                failures.append(failure(arn or identifier, "MISSING"))
                continue
            if doc["status"] != "ACTIVE":
                failures.append(failure(arn, doc["status"]))
                continue
            placement = place_on(ctx, cluster, [arn], {arn: doc}, need, 1, rules, group)
            chosen.extend(placement.chosen)
            failures.extend(failure(a, r) for a, r in placement.rejections.items())
        created = commit_placements(ctx, cluster, definition, params, chosen, need, tags)
    return {"tasks": created, "failures": failures}


@operation("StopTask")
def stop_task(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        arn = task_arn(ctx, cluster, params["task"])
        task = store.get_task(arn) if arn else None
        if task is None:
            raise errors.InvalidParameterException("The referenced task was not found.")
        if not tasks.request_stop(task, params.get("reason"), ctx.clock.now()):
            return {"task": task_view(task)}
        stored = store.put_task(task)  # a stored task carries no tags: it is the answer as it is
        if task.get("containerInstanceArn"):
            ctx.wakeups.notify(task["containerInstanceArn"])
    return {"task": Encoded(stored)}


@operation("DescribeTasks")
def describe_tasks(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    if not params["tasks"]:
        raise errors.InvalidParameterException("Tasks cannot be empty.")
    wanted = [(ident, task_arn(ctx, cluster, ident)) for ident in params["tasks"]]
    found = ctx.store.get_task_documents([arn for _, arn in wanted if arn])
    with_tags = "TAGS" in params.get("include", ())
    shown: list[Encoded] = []
    failures = []
    for identifier, arn in wanted:
        document = found.get(arn) if arn else None
        if document is None:
            failures.append(failure(arn or identifier, "MISSING"))
        elif with_tags:
            shown.append(wire_json("Task", json.loads(document) | {"tags": ctx.store.get_tags(arn)}))
        else:
            shown.append(Encoded(document))
    return {"tasks": shown, "failures": failures}


@operation("ListTasks")
def list_tasks(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    cluster = require_cluster(ctx, params.get("cluster"))
    desired = params.get("desiredStatus", "RUNNING")
    filters = {"desired_status": desired}
    if params.get("containerInstance"):
        filters["instance_arn"] = instance_arn(ctx, cluster, params["containerInstance"]) or ""
    if params.get("serviceName"):
        from .services import find_service  # services import this module

        service = find_service(ctx, cluster, params["serviceName"])
        if service is None:
            raise errors.ServiceNotFoundException("Service not found.")
        filters["service_name"] = service["serviceName"]
    for member, column in (("family", "family"), ("startedBy", "started_by"), ("launchType", "launch_type")):
        if params.get(member):
            filters[column] = params[member]
    after = decode_token(params.get("nextToken"), 0)
    limit = page(params)
    if desired == "PENDING":  # as AWS documents: a PENDING desired status matches nothing
        return {"taskArns": []}
    rows = ctx.store.list_task_arns(cluster["clusterArn"], filters, after, limit + 1)
    return seq_page("taskArns", rows, limit)
