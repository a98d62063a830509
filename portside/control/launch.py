"""Starting tasks: RunTask, StartTask and the service scheduler's starts.

Placing a task and debiting its instance happen in one transaction, committed
before the answer leaves; a retried RunTask with the same clientToken answers
with the tasks the first call placed.  `run_task` and `start_task` open that
transaction; `launch_tasks` and `launch_on` run inside the caller's (the
service scheduler's reconcile of one service).
"""

from __future__ import annotations

import logging
from collections import Counter

from ..domain import container_support
from ..domain import task as tasks
from ..domain.capacity_providers import split
from ..domain.documents import Doc
from ..domain.resources import Reservation
from ..domain.task_definition import InvalidTaskDefinition
from ..protocol import errors
from ..protocol.serialize import Encoded, wire_json
from ..scheduler.placement import Candidate, Rules
from .capacity_providers import launch_type_of, strategy_for
from .context import Context
from .launch_types import NO_CAPACITY, Launch, checked_launch, place_fargate, task_fields
from .lookup import failure, instance_arn, require_cluster, task_definition
from .placing import place_on, placement_rules, task_group
from .task_tags import for_run

log = logging.getLogger("portside.tasks")

Failure = dict[str, str]
TaskAnswer = Encoded | Doc  # a stored wire document, or a document to serialize


def checked_task_definition(ctx: Context, params: Doc) -> Doc:
    """The ACTIVE definition `params["taskDefinition"]` names, with its overrides checked."""
    definition = task_definition(ctx, params["taskDefinition"])
    if definition is None:
        raise errors.ClientException("TaskDefinition not found.")
    if definition["status"] != "ACTIVE":
        raise errors.ClientException("TaskDefinition is inactive")
    problem = container_support.run_problem(definition) or tasks.override_problem(params.get("overrides"))
    if problem:
        raise errors.InvalidParameterException(problem)
    unknown = tasks.unknown_override_names(definition, params.get("overrides"))
    if unknown:
        raise errors.InvalidParameterException(
            f"Override for container named {unknown[0]} is not a container in the TaskDefinition."
        )
    return definition


def reservation(definition: Doc, params: Doc) -> Reservation:
    """What one task of this request holds on its instance."""
    try:
        return tasks.reservation_for(definition, params.get("overrides"))
    except InvalidTaskDefinition as exc:  # a bad cpu/memory override
        raise errors.InvalidParameterException(exc.message) from exc


def commit_placements(
    ctx: Context,
    cluster: Doc,
    definition: Doc,
    params: Doc,
    chosen: list[Candidate],
    need: Reservation,
    tags: list[dict[str, str]],
    launch: Launch | None = None,
) -> list[Encoded]:
    """Write the new tasks, each holding `need` on its instance (in the
    caller's transaction); returns the tasks' wire documents.  `launch`
    (default: the request's, checked) says what they are launched as."""
    if not chosen:
        return []
    launch = launch or checked_launch(definition, params)
    now = ctx.clock.now()
    fields = task_fields(launch)
    made = [tasks.new_task(ctx.arns, cluster, definition, c.doc, params, now, fields, launch.network)
            for c in chosen]
    hosts = None
    if launch.fargate:  # a Fargate task shows no instance; its row still names its host
        hosts = [task.pop("containerInstanceArn") for task in made]
    documents = ctx.store.add_tasks(made, need.to_doc(), params.get("clientToken"), hosts)
    if tags:
        for task in made:
            ctx.store.put_tags(task["taskArn"], tags)
        created = [wire_json("Task", task | {"tags": tags}) for task in made]
    else:
        created = [Encoded(document) for document in documents]
    group = task_group(definition, params)
    if log.isEnabledFor(logging.INFO):
        ids = " ".join(t["taskArn"].rpartition("/")[2] for t in made[:10]) + (" ..." if len(made) > 10 else "")
        reference = f", referenceId {params['referenceId']}" if params.get("referenceId") else ""
        log.info("placed %d task(s) of %s (group %s%s): %s", len(made),
                 definition.get("taskDefinitionArn", "").rpartition("/")[2], group, reference, ids,
                 extra={"cluster": cluster["clusterName"]})
    for arn, placed in Counter(c.arn for c in chosen).items():
        ctx.placement.hold(arn, need, group, times=placed)
        ctx.wakeups.notify(arn)  # the agent's poll answers once the commit is done
    return created


def launch_tasks(
    ctx: Context,
    cluster: Doc,
    definition: Doc,
    params: Doc,
    count: int,
    tags: list[dict[str, str]] | None = None,
    launch: Launch | None = None,
) -> tuple[list[Encoded], list[Failure]]:
    """Place and record up to `count` tasks of `definition` on the cluster's
    ACTIVE instances, in the caller's transaction: RunTask, and the REPLICA
    scheduler, start tasks through here.  `params` carries what RunTask takes
    (overrides, startedBy, group, clientToken, placementStrategy,
    placementConstraints, enableExecuteCommand).  Returns the new tasks' wire
    documents and the `failures` for what could not be placed.  Fargate
    tasks go to Portside's Fargate capacity (control/launch_types.py)."""
    launch = launch or checked_launch(definition, params)
    need = reservation(definition, params)
    if launch.fargate:
        placement = place_fargate(ctx, need, count, task_group(definition, params))
        created = commit_placements(ctx, cluster, definition, params, placement.chosen, need, tags or [], launch)
        missing = count - len(placement.chosen)
        return created, [{"reason": NO_CAPACITY}] if missing else []
    rules = placement_rules(definition, params.get("placementStrategy"), params.get("placementConstraints"))
    arns, docs = ctx.placement.instance_pool(cluster["clusterArn"], ("ACTIVE",))
    if launch.capacity_provider:  # only the instances whose agent joined the provider
        arns = [a for a in arns if docs[a].get("capacityProviderName") == launch.capacity_provider]
    placement = place_on(ctx, cluster, arns, docs, need, count, rules, task_group(definition, params))
    created = commit_placements(ctx, cluster, definition, params, placement.chosen, need, tags or [], launch)
    return created, [failure(a, r) for a, r in placement.rejections.items()]


def launch_by_strategy(
    ctx: Context,
    cluster: Doc,
    definition: Doc,
    params: Doc,
    count: int,
    strategy: list[Doc],
    tags: list[dict[str, str]] | None = None,
    running: dict[str, int] | None = None,
) -> tuple[list[Encoded], list[Failure]]:
    """Up to `count` tasks split over a capacity provider strategy by base and
    weight (`running`: what each provider already runs for a service), each
    share placed on its provider's capacity."""
    created: list[Encoded] = []
    failures: list[Failure] = []
    for share in split(strategy, count, running):
        launch = checked_launch(definition, params, launch_type_of(share.provider), share.provider)
        made, missed = launch_tasks(ctx, cluster, definition, params, share.count, tags, launch)
        created.extend(made)
        failures.extend(missed)
    return created, failures


def _place_one(ctx: Context, cluster: Doc, doc: Doc, need: Reservation, rules: Rules, group: str,
               chosen: list[Candidate], failures: list[Failure]) -> None:
    """Place one task on the instance `doc` (or say why not)."""
    arn = doc["containerInstanceArn"]
    placement = place_on(ctx, cluster, [arn], {arn: doc}, need, 1, rules, group)
    chosen.extend(placement.chosen)
    failures.extend(failure(a, r) for a, r in placement.rejections.items())


def launch_on(
    ctx: Context,
    cluster: Doc,
    definition: Doc,
    params: Doc,
    instances: list[Doc],
    tags: list[dict[str, str]] | None = None,
    launch: Launch | None = None,
) -> tuple[list[Encoded], list[Failure]]:
    """One task on each of `instances`, as StartTask places: where it is told,
    no strategies; the definition's and `params["placementConstraints"]`
    memberOf constraints still bind.  The DAEMON scheduler and daemons start
    their tasks through here, in the caller's transaction (`launch`: what
    they are launched as, by default the request's)."""
    need = reservation(definition, params)
    rules = placement_rules(definition, None, params.get("placementConstraints"))
    group = task_group(definition, params)
    chosen: list[Candidate] = []
    failures: list[Failure] = []
    for doc in instances:
        _place_one(ctx, cluster, doc, need, rules, group, chosen, failures)
    return commit_placements(ctx, cluster, definition, params, chosen, need, tags or [], launch), failures


def run_task(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> tuple[list[TaskAnswer], list[Failure]]:
    """RunTask: up to `count` tasks placed by the request's strategies and
    constraints, committed in one transaction."""
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        token = params.get("clientToken")
        if token:
            earlier = store.tasks_by_client_token(cluster["clusterArn"], token)
            if earlier:
                return [t | {"tags": store.get_tags(t["taskArn"])} for t in earlier], []
        definition = checked_task_definition(ctx, params)
        tags = for_run(ctx, cluster, definition, params, tags)
        strategy = strategy_for(ctx, cluster, params)
        if strategy:
            created, failures = launch_by_strategy(ctx, cluster, definition, params, params.get("count", 1),
                                                   strategy, tags)
            return list(created), failures
        launch = checked_launch(definition, params)
        if not launch.fargate:
            placement_rules(definition, params.get("placementStrategy"), params.get("placementConstraints"))
            if not ctx.placement.instance_pool(cluster["clusterArn"], ("ACTIVE", "DRAINING"))[0]:  # in memory
                raise errors.InvalidParameterException("No Container Instances were found in your cluster.")
        created, failures = launch_tasks(ctx, cluster, definition, params, params.get("count", 1), tags, launch)
    return list(created), failures


def start_task(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> tuple[list[TaskAnswer], list[Failure]]:
    """StartTask: one task on each named instance, committed in one transaction."""
    store = ctx.store
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        definition = checked_task_definition(ctx, params)
        tags = for_run(ctx, cluster, definition, params, tags)
        launch = checked_launch(definition, params, "EC2")
        need = reservation(definition, params)
        # StartTask places where it is told: no strategies; the task
        # definition's memberOf constraints still bind.
        rules = placement_rules(definition, None, None)
        group = task_group(definition, params)
        chosen: list[Candidate] = []
        failures: list[Failure] = []
        for identifier in params["containerInstances"]:
            arn = instance_arn(ctx, cluster, identifier)
            doc = ctx.placement.get_instance(arn) if arn else None
            if arn is None or doc is None:
                failures.append(failure(arn or identifier, "MISSING"))
            elif doc["status"] != "ACTIVE":
                failures.append(failure(arn, doc["status"]))
            else:
                _place_one(ctx, cluster, doc, need, rules, group, chosen, failures)
        created = commit_placements(ctx, cluster, definition, params, chosen, need, tags, launch)
    return list(created), failures
