"""Daemons and daemon task definitions: the use cases behind api/daemons.py
and what the scheduler reads of a daemon (its instances and tasks).

Daemon task definitions are records of kind `daemon-task-definition` (keyed
by ARN, parent: the family); daemons records of kind `daemon` (keyed by ARN,
parent: the cluster), each a `domain.daemon.Daemon`.  The rules are in
domain/daemon.py and domain/daemon_task_definition.py; the tasks are started
and stopped by scheduler/daemon_reconciler.py.
"""

from __future__ import annotations

from .. import arns as arn_parsing
from ..domain import daemon as rules
from ..domain import daemon_task_definition as dtd
from ..domain import health
from ..domain.daemon import Daemon, Where
from ..domain.documents import Doc
from ..domain.service_plans import LiveTask
from ..protocol import errors
from . import capacity_providers
from .context import Context
from .lookup import family_revision, require_cluster, task_definition
from .services import nudge

KIND = "daemon"
TD_KIND = "daemon-task-definition"
NAME = dtd.FAMILY  # daemon names follow the same rule
MANAGED_ONLY = "ECS Managed Daemons is only supported for Amazon ECS Managed Instances Capacity Providers."


# -- daemon task definitions ---------------------------------------------------------------


def _named(ctx: Context, identifier: str) -> tuple[str, int | None] | None:
    """(family, revision or None) a `family`, `family:revision` or ARN names."""
    return family_revision(ctx, identifier, TD_KIND, lambda family: bool(dtd.FAMILY.match(family)))


def definition(ctx: Context, identifier: str) -> Doc | None:
    """The DaemonTaskDefinition a family (its latest ACTIVE revision),
    `family:revision` or ARN names, or None."""
    named = _named(ctx, identifier)
    if named is None:
        return None
    family, revision = named
    if revision is not None:
        return ctx.store.records.get(TD_KIND, ctx.arns.daemon_task_definition(family, revision))
    active = ctx.store.records.children(TD_KIND, family, ("ACTIVE",))
    return max((doc for _, doc in active), key=lambda d: d["revision"], default=None)


def runnable_definition(ctx: Context, arn: str) -> Doc | None:
    """The TaskDefinition a daemon task definition ARN amounts to (what its tasks run)."""
    return task_definition(ctx, arn)


def register_definition(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> Doc:
    store = ctx.store
    with store.transaction():
        family = params["family"]
        revisions = [doc["revision"] for _, doc in store.records.children(TD_KIND, family)]
        revision = max(revisions, default=0) + 1
        arn = ctx.arns.daemon_task_definition(family, revision)
        try:
            doc = dtd.build(params, arn=arn, revision=revision, registered_at=ctx.clock.now(),
                            registered_by=f"arn:aws:iam::{ctx.arns.account}:root")
        except dtd.InvalidDaemonTaskDefinition as exc:
            raise errors.ClientException(exc.message) from exc
        store.records.put(TD_KIND, arn, family, doc["status"], doc)
        store.put_tags(arn, tags)
    return doc


def delete_definition(ctx: Context, identifier: str) -> Doc:
    named = _named(ctx, identifier)
    if named is None or named[1] is None:
        raise errors.ClientException(
            "The specified daemon task definition identifier is invalid. Specify family:revision or the full ARN.")
    store = ctx.store
    with store.transaction():
        arn = ctx.arns.daemon_task_definition(named[0], named[1])
        doc = store.records.get(TD_KIND, arn)
        if doc is None:
            raise errors.ClientException("The specified daemon task definition does not exist.")
        if doc["status"] != "ACTIVE":
            raise errors.ClientException(
                f"The specified daemon task definition is {doc['status']}; only an ACTIVE one can be deleted.")
        doc["status"] = "DELETE_IN_PROGRESS"
        doc["deleteRequestedAt"] = ctx.clock.now()
        store.records.put(TD_KIND, arn, doc["family"], doc["status"], doc)
    return doc


def list_definitions(ctx: Context, params: Doc) -> list[Doc]:
    """ListDaemonTaskDefinitions' summaries, filtered and sorted as asked."""
    status = params.get("status") or "ACTIVE"
    docs = ctx.store.records.of_kind(TD_KIND, None if status == "ALL" else (status,))
    if params.get("family"):
        docs = [d for d in docs if d["family"] == params["family"]]
    if params.get("familyPrefix"):
        docs = [d for d in docs if d["family"].startswith(params["familyPrefix"])]
    if params.get("revision") == "LAST_REGISTERED":
        last: dict[str, Doc] = {}
        for d in docs:
            if d["revision"] > last.get(d["family"], {"revision": 0})["revision"]:
                last[d["family"]] = d
        docs = list(last.values())
    docs.sort(key=lambda d: (d["family"], d["revision"]), reverse=params.get("sort") == "DESC")
    return [dtd.summary(d) for d in docs]


# -- daemons ----------------------------------------------------------------------------------


def load(ctx: Context, arn: str) -> Daemon | None:
    record = ctx.store.records.get(KIND, arn)
    return Daemon.from_record(record) if record else None


def save(ctx: Context, daemon: Daemon) -> None:
    ctx.store.records.put(KIND, daemon.arn, daemon.cluster_arn, daemon.status, daemon.to_record())


def to_reconcile(ctx: Context) -> list[str]:
    """ARNs of the daemons the scheduler looks after (ACTIVE and being deleted)."""
    return [d["arn"] for d in ctx.store.records.of_kind(KIND, ("ACTIVE", "DELETE_IN_PROGRESS"))]


def require(ctx: Context, arn: str, missing: type[errors.ECSError] = errors.DaemonNotFoundException) -> Daemon:
    """The daemon a daemonArn names (`missing` otherwise: DaemonNotFoundException
    where the operation declares it, ClientException where it does not)."""
    parsed = arn_parsing.parse(arn)
    daemon = None
    if parsed is not None and parsed.kind == "daemon" and len(parsed.parts) == 2 and ctx.arns.owns(parsed):
        require_cluster(ctx, parsed.parts[0])
        daemon = load(ctx, arn)
    if daemon is None or daemon.status == rules.GONE:
        raise missing(f"The daemon {arn[:512]} does not exist.")
    return daemon


def locate(ctx: Context, arn: str, kind: str) -> Daemon | None:
    """The daemon a daemon-deployment or daemon-revision ARN (`KIND/CLUSTER/DAEMON/ID`) belongs to."""
    parsed = arn_parsing.parse(arn)
    if parsed is None or parsed.kind != kind or len(parsed.parts) != 3 or not ctx.arns.owns(parsed):
        return None
    return load(ctx, ctx.arns.daemon(parsed.parts[0], parsed.parts[1]))


def _providers(ctx: Context, cluster: Doc, given: list[str]) -> list[str]:
    """The capacity provider ARNs a request names: existing, ACTIVE, Managed
    Instances providers of the cluster."""
    if not given:
        raise errors.InvalidParameterException("capacityProviderArns must name at least one capacity provider.")
    if len(set(given)) != len(given):
        raise errors.InvalidParameterException("The capacity providers list contains duplicates.")
    found = []
    for identifier in given:
        doc = capacity_providers.get(ctx, identifier)
        if doc is None or doc["status"] != "ACTIVE":
            raise errors.InvalidParameterException(
                f"The specified capacity provider {identifier[:512]} does not exist or is not ACTIVE.")
        if doc.get("type") != "MANAGED_INSTANCES":
            raise errors.InvalidParameterException(f"{MANAGED_ONLY} {doc['name']} is not one.")
        if doc.get("cluster") != cluster["clusterName"]:
            raise errors.InvalidParameterException(
                f"The capacity provider {doc['name']} is not associated with cluster {cluster['clusterName']}.")
        found.append(doc["capacityProviderArn"])
    return found


def _configuration(given: Doc | None, current: Doc | None = None) -> Doc:
    config = dict(current or {"drainPercent": rules.DEFAULT_DRAIN_PERCENT, "bakeTimeInMinutes": 0})
    for member, value in (given or {}).items():
        if value is not None:
            config[member] = value
    drain = config.get("drainPercent")
    if drain is not None and not 0.0 <= drain <= 100.0:
        raise errors.InvalidParameterException("drainPercent must be between 0.0 and 100.0.")
    bake = config.get("bakeTimeInMinutes")
    if bake is not None and not 0 <= bake <= 1440:
        raise errors.InvalidParameterException("bakeTimeInMinutes must be between 0 and 1440.")
    alarms = config.get("alarms") or {}
    if alarms.get("enable"):
        raise errors.InvalidParameterException(
            "CloudWatch alarms are not available here: deploymentConfiguration.alarms cannot be enabled.")
    return config


def _settings(params: Doc, current: Doc | None = None) -> Doc:
    settings = dict(current or {"propagateTags": "NONE", "enableECSManagedTags": False,
                                "enableExecuteCommand": False, "critical": True})
    for member in ("propagateTags", "enableECSManagedTags", "enableExecuteCommand", "critical"):
        if params.get(member) is not None:
            settings[member] = params[member]
    if settings["enableECSManagedTags"]:
        raise errors.InvalidParameterException(
            "enableECSManagedTags is not supported by Portside for daemons: it adds no managed tags to tasks.")
    return settings


def _active_definition(ctx: Context, identifier: str) -> Doc:
    doc = definition(ctx, identifier)
    if doc is None:
        raise errors.ClientException("The specified daemon task definition does not exist.")
    if doc["status"] != "ACTIVE":
        raise errors.ClientException("The specified daemon task definition is not ACTIVE.")
    return doc


def _new_rollout(ctx: Context, daemon: Daemon, doc: Doc, sources: list[str], now: float) -> Doc:
    cluster_name = daemon.cluster_arn.rsplit("/", 1)[-1]
    revision_arn = ctx.arns.daemon_revision(cluster_name, daemon.name, rules.new_ids())
    daemon.task_definition = doc["daemonTaskDefinitionArn"]
    daemon.revisions[revision_arn] = rules.new_revision(daemon, revision_arn, doc, now)
    deployment_arn = ctx.arns.daemon_deployment(cluster_name, daemon.name, rules.new_ids())
    return rules.start_deployment(daemon, deployment_arn, revision_arn, sources, now)


def create(ctx: Context, params: Doc, tags: list[dict[str, str]]) -> Daemon:
    name = params["daemonName"]
    if not NAME.match(name):
        raise errors.InvalidParameterException(
            "Daemon name can only contain letters (uppercase and lowercase), numbers, hyphens and underscores, "
            "up to 255 characters.")
    token = params.get("clientToken")
    if token is not None and not (1 <= len(token) <= 36 and all(33 <= ord(ch) <= 126 for ch in token)):
        raise errors.InvalidParameterException(
            "clientToken must be up to 36 ASCII characters in the range of 33-126 (inclusive).")
    configuration = _configuration(params.get("deploymentConfiguration"))
    settings = _settings(params)
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, params.get("clusterArn"))
        arn = ctx.arns.daemon(cluster["clusterName"], name)
        existing = load(ctx, arn)
        if existing is not None and existing.status != rules.GONE:
            token = params.get("clientToken")
            if token and existing.memory.client_token == token:
                return existing  # a retried CreateDaemon
            if existing.status == "DELETE_IN_PROGRESS":
                raise errors.InvalidParameterException(f"The daemon {name} is still being deleted.")
            raise errors.InvalidParameterException(f"A daemon named {name} already exists in this cluster.")
        providers = _providers(ctx, cluster, params["capacityProviderArns"])
        doc = _active_definition(ctx, params["daemonTaskDefinitionArn"])
        daemon = Daemon(arn=arn, cluster_arn=cluster["clusterArn"], name=name, status="ACTIVE", created_at=now,
                        updated_at=now, task_definition=doc["daemonTaskDefinitionArn"],
                        capacity_providers=providers, configuration=configuration, settings=settings, tags=tags,
                        memory=rules.DaemonMemory(client_token=params.get("clientToken"), stopped_watermark=now))
        _new_rollout(ctx, daemon, doc, [], now)
        save(ctx, daemon)
        store.remove_tags(arn, [t["key"] for t in store.get_tags(arn)])
        store.put_tags(arn, tags)
    nudge(ctx)
    return daemon


def update(ctx: Context, params: Doc) -> Daemon:
    """UpdateDaemon: a new revision, and a deployment rolling it out from
    the revisions its tasks run now."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        daemon = require(ctx, params["daemonArn"])
        if daemon.status != "ACTIVE":
            raise errors.DaemonNotActiveException(f"The daemon {daemon.arn} is not ACTIVE.")
        cluster = require_cluster(ctx, daemon.cluster_arn)
        configuration = _configuration(params.get("deploymentConfiguration"), daemon.configuration)
        settings = _settings(params, daemon.settings)
        providers = _providers(ctx, cluster, params["capacityProviderArns"])
        doc = _active_definition(ctx, params["daemonTaskDefinitionArn"])
        running = {t.started_by for t in tasks(ctx, daemon) if t.wanted}
        sources = [arn for arn in daemon.revisions if daemon.started_by(arn) in running]
        daemon.configuration, daemon.settings, daemon.capacity_providers = configuration, settings, providers
        _new_rollout(ctx, daemon, doc, sources, now)
        save(ctx, daemon)
    nudge(ctx)
    return daemon


def delete(ctx: Context, arn: str) -> Daemon:
    """DeleteDaemon: DELETE_IN_PROGRESS, and a deployment that stops every task."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        daemon = require(ctx, arn)
        if daemon.status != "ACTIVE":
            raise errors.DaemonNotActiveException(f"The daemon {daemon.arn} is not ACTIVE.")
        running = {t.started_by for t in tasks(ctx, daemon) if t.wanted}
        sources = [a for a in daemon.revisions if daemon.started_by(a) in running]
        cluster_name = daemon.cluster_arn.rsplit("/", 1)[-1]
        deployment_arn = ctx.arns.daemon_deployment(cluster_name, daemon.name, rules.new_ids())
        rules.start_deployment(daemon, deployment_arn, None, sources, now, rules.DELETING)
        daemon.status = "DELETE_IN_PROGRESS"
        save(ctx, daemon)
    nudge(ctx)
    return daemon


def tasks(ctx: Context, daemon: Daemon) -> list[LiveTask]:
    """The daemon's tasks not yet STOPPED, less orphans on deregistered
    instances (no agent reports on them again); a RUNNING task whose
    definition has a health check counts as healthy once it is HEALTHY."""
    gone = {d["containerInstanceArn"] for d in ctx.placement.list_instances(daemon.cluster_arn, ("INACTIVE",))}
    checked = {daemon.started_by(arn) for arn, revision in daemon.revisions.items()
               if _has_check(ctx, revision["daemonTaskDefinitionArn"])}
    live = []
    for arn, started_by, instance, desired, last in ctx.store.service_tasks(daemon.cluster_arn, daemon.group):
        if instance in gone:
            continue
        healthy = True
        if last == "RUNNING" and started_by in checked:
            healthy = (ctx.store.get_task(arn) or {}).get("healthStatus") == "HEALTHY"
        live.append(LiveTask(arn, started_by, instance, desired, last, healthy=healthy))
    return live


def _has_check(ctx: Context, definition_arn: str) -> bool:
    return health.has_check(runnable_definition(ctx, definition_arn))


def instances(ctx: Context, daemon: Daemon) -> tuple[dict[str, Where], list[str], dict[str, Doc]]:
    """The cluster's instances of the daemon's providers ({ARN: Where}), the
    ACTIVE ones in order, and every instance document by ARN."""
    names = {arn.rsplit("/", 1)[-1]: arn for arn in daemon.capacity_providers}
    docs = ctx.placement.list_instances(daemon.cluster_arn, ("ACTIVE", "DRAINING"))
    where: dict[str, Where] = {}
    active = []
    for doc in docs:
        provider = names.get(doc.get("capacityProviderName") or "")
        if provider is None:
            continue
        where[doc["containerInstanceArn"]] = Where(provider, doc["status"] == "ACTIVE")
        if doc["status"] == "ACTIVE":
            active.append(doc["containerInstanceArn"])
    return where, active, {d["containerInstanceArn"]: d for d in docs}
