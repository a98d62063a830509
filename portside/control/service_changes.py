"""CreateService, UpdateService and DeleteService: recording what the user
wants of a service (the service, its deployments, their history), each in
its own transaction.  The service scheduler (scheduler/service_reconciler.py)
starts and stops the tasks, and is nudged once each change has been made.

api/services.py checks what needs no store first (names, unsupported
members, the deployment configuration) and shapes the answers.
"""

from __future__ import annotations

from ..domain import deployment_configuration
from ..domain import service as services
from ..domain import task_set as task_sets
from ..domain.documents import Doc
from ..domain.service_record import SchedulerMemory, new_service
from ..protocol import errors
from . import service_deployments as deployment_history
from .capacity_providers import launch_type_of, strategy_for
from .context import Context
from .launch import checked_task_definition
from .launch_types import checked_launch, launch_params, service_launch_fields
from .lookup import find_service, require_cluster
from .lookup import task_definition as resolve_task_definition
from .placing import placement_rules
from .services import nudge


def require_active_service(ctx: Context, cluster: Doc, identifier: str) -> Doc:
    service = find_service(ctx, cluster, identifier)
    if service is None:
        raise errors.ServiceNotFoundException("Service not found.")
    if service["status"] != "ACTIVE":
        raise errors.ServiceNotActiveException("Service was not ACTIVE.")
    return service


def check_configuration(config: Doc, strategy: str) -> None:
    """A deployment configuration AWS would accept for this scheduling strategy."""
    refused = deployment_configuration.refusal(config)
    if refused:
        raise errors.InvalidParameterException(refused)
    if strategy == "DAEMON" and config.get("strategy") == "BLUE_GREEN":
        raise errors.InvalidParameterException(
            "The BLUE_GREEN deployment strategy is not supported with the DAEMON scheduling strategy.")
    minimum, maximum = config.get("minimumHealthyPercent"), config.get("maximumPercent")
    if minimum is not None and not 0 <= minimum <= 100:
        raise errors.InvalidParameterException("minimumHealthyPercent must be between 0 and 100.")
    if maximum is not None:
        if strategy == "DAEMON" and maximum != 100:
            raise errors.InvalidParameterException(
                "The maximumPercent parameter must be 100 for services using the DAEMON scheduling strategy."
            )
        if maximum < 100 or maximum > 10000:
            raise errors.InvalidParameterException("maximumPercent must be between 100 and 10000.")


def create(
    ctx: Context, name: str, params: Doc, tags: list[dict[str, str]], strategy: str, configuration: Doc
) -> tuple[Doc, bool]:
    """(the service, whether this call made it).  A retried CreateService (same
    clientToken) is answered with the service the first call made; any other
    ACTIVE service of that name is refused, as AWS does."""
    controller = (params.get("deploymentController") or {}).get("type", "ECS")
    external = controller == "EXTERNAL"
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        arn = ctx.arns.service(cluster["clusterName"], name)
        existing = store.get_service(arn)
        if existing is not None and existing["status"] == "ACTIVE":
            token = params.get("clientToken")
            if token and store.get_service_memory(arn).client_token == token:
                return existing, False  # a retried CreateService
            raise errors.InvalidParameterException("Creation of service was not idempotent.")
        if existing is not None and existing["status"] == "DRAINING":
            raise errors.InvalidParameterException("Unable to Start a service that is still Draining.")
        definition = launch = None
        provider_strategy = None
        if not external:
            definition = checked_task_definition(ctx, {"taskDefinition": params["taskDefinition"]})
            provider_strategy = strategy_for(ctx, cluster, params)
            if provider_strategy and strategy == "DAEMON":
                raise errors.InvalidParameterException(
                    "Capacity provider strategies are not supported with the DAEMON scheduling strategy.")
            launch = checked_launch(definition, params)
            for item in provider_strategy or []:  # each provider's tasks must be launchable
                launch = checked_launch(definition, params, launch_type_of(item["capacityProvider"]),
                                        item["capacityProvider"])
            if launch.fargate and strategy == "DAEMON":
                raise errors.InvalidParameterException(
                    "The DAEMON scheduling strategy is not supported with the FARGATE launch type.")
        if launch is not None and not launch.fargate:
            placement_rules(definition, params.get("placementStrategy"), params.get("placementConstraints"))
        service = new_service(arn, name, cluster["clusterArn"], definition["taskDefinitionArn"] if definition else None,
                              launch.launch_type if launch else "EC2", params, configuration, strategy,
                              f"arn:aws:iam::{ctx.config.account_id}:root", now)
        service["deploymentController"] = {"type": controller}
        if launch is not None:
            service.update(service_launch_fields(launch, params.get("platformVersion")))
        if provider_strategy:  # launched by strategy, not by launch type
            del service["launchType"]
            service["capacityProviderStrategy"] = provider_strategy
        memory = SchedulerMemory(client_token=params.get("clientToken"), stopped_watermark=now)
        if strategy == "DAEMON":
            service["desiredCount"] = store.count_instances(cluster["clusterArn"], ("ACTIVE",))
        if external:
            service["taskSets"] = []  # the EXTERNAL controller deploys through task sets (api/task_sets.py)
        elif definition is not None:
            services.start_deployment(service, memory, definition["taskDefinitionArn"], now)
        deployment_history.forget(store, arn)
        deployment_history.sync(store, ctx.arns, service, now)
        store.put_service(service, memory)
        store.remove_tags(arn, [t["key"] for t in store.get_tags(arn)])
        store.put_tags(arn, tags)
    nudge(ctx, service["serviceArn"])
    return service, True


def update(ctx: Context, params: Doc) -> Doc:
    """UpdateService: the service as changed; a change to what its tasks run
    (task definition, placement, network, platform, providers, or
    forceNewDeployment) starts a new deployment."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        service = require_active_service(ctx, cluster, params["service"])
        memory = store.get_service_memory(service["serviceArn"])
        daemon = service["schedulingStrategy"] == "DAEMON"
        external = task_sets.is_external(service)
        wanted_controller = (params.get("deploymentController") or {}).get("type")
        if wanted_controller and wanted_controller != service["deploymentController"]["type"]:
            raise errors.InvalidParameterException(
                "Changing a service's deployment controller is not supported by Portside.")
        if external and (params.get("taskDefinition") or params.get("forceNewDeployment")):
            raise errors.InvalidParameterException(
                "A service with the EXTERNAL deployment controller deploys through task sets: create a task set "
                "(CreateTaskSet) instead of updating taskDefinition or forcing a new deployment.")
        if params.get("desiredCount") is not None:
            if daemon:
                raise errors.InvalidParameterException(
                    "The daemon scheduling strategy does not support a desired count for services."
                )
            if params["desiredCount"] < 0:
                raise errors.InvalidParameterException("desiredCount cannot be negative.")
            if params["desiredCount"] != service["desiredCount"]:
                service["desiredCount"] = params["desiredCount"]
                if external:
                    task_sets.rescale(service, now)
                else:
                    services.primary(service)["desiredCount"] = params["desiredCount"]
                memory.steady = False
        if params.get("deploymentConfiguration"):
            configuration = services.merge_deployment_configuration(
                service["deploymentConfiguration"], params["deploymentConfiguration"]
            )
            check_configuration(configuration, service["schedulingStrategy"])
            if external and configuration.get("strategy") == "BLUE_GREEN":
                raise errors.InvalidParameterException(
                    "The BLUE_GREEN deployment strategy is run by the ECS deployment controller; with EXTERNAL, "
                    "blue/green is done with task sets.")
            service["deploymentConfiguration"] = configuration
        redeploy = bool(params.get("forceNewDeployment"))
        for member in ("placementConstraints", "placementStrategy"):
            if params.get(member) is not None:
                if member == "placementStrategy" and daemon and params[member]:
                    raise errors.InvalidParameterException(
                        "The daemon scheduling strategy does not support placement strategies."
                    )
                if params[member] != service.get(member):
                    service[member] = params[member]
                    redeploy = True
        for member in ("enableExecuteCommand", "healthCheckGracePeriodSeconds", "propagateTags",
                       "serviceConnectConfiguration",
                       "enableECSManagedTags"):
            if params.get(member) is not None:
                service[member] = params[member]
        definition_arn = service["taskDefinition"]
        if params.get("taskDefinition"):
            definition = checked_task_definition(ctx, {"taskDefinition": params["taskDefinition"]})
            if definition["taskDefinitionArn"] != definition_arn:
                definition_arn = definition["taskDefinitionArn"]
                redeploy = True
        for member in ("networkConfiguration", "platformVersion"):
            if params.get(member) is not None and params[member] != service.get(member):
                redeploy = True
        if params.get("capacityProviderStrategy") is not None:
            asked_strategy = strategy_for(ctx, cluster,
                                          {"capacityProviderStrategy": params["capacityProviderStrategy"]})
            if asked_strategy != service.get("capacityProviderStrategy"):
                if service.get("schedulingStrategy") == "DAEMON":
                    raise errors.InvalidParameterException(
                        "Capacity provider strategies are not supported with the DAEMON scheduling strategy.")
                service.pop("launchType", None)
                service["capacityProviderStrategy"] = asked_strategy
                redeploy = True
        if redeploy and not external:
            deployed = resolve_task_definition(ctx, definition_arn)
            if deployed is None:
                raise errors.ClientException("TaskDefinition not found.")
            asked = launch_params(service)
            for member in ("networkConfiguration", "platformVersion"):
                if params.get(member) is not None:
                    asked[member] = params[member]
            provider = (service.get("capacityProviderStrategy") or [{}])[0].get("capacityProvider")
            launch_type = launch_type_of(provider) if provider else asked["launchType"]
            if launch_type == "EC2":
                asked |= {"placementStrategy": service.get("placementStrategy"),
                          "placementConstraints": service.get("placementConstraints")}
            launch = checked_launch(deployed, asked, launch_type, provider)
            service.pop("networkConfiguration", None)
            service.update(service_launch_fields(launch, asked.get("platformVersion")))
            if not launch.fargate:
                placement_rules(deployed, service.get("placementStrategy"), service.get("placementConstraints"))
            services.start_deployment(service, memory, definition_arn, now)
        deployment_history.sync(store, ctx.arns, service, now)
        store.put_service(service, memory)
    nudge(ctx, service["serviceArn"])
    return service


def delete(ctx: Context, cluster_id: str | None, identifier: str, force: bool) -> Doc:
    """DeleteService: the service, DRAINING (its scheduler stops its tasks);
    one scaled above 0 only with `force`; one already DRAINING as it is."""
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, cluster_id)
        service = find_service(ctx, cluster, identifier)
        if service is None or service["status"] == "INACTIVE":
            raise errors.ServiceNotFoundException("Service not found.")
        if service["status"] == "DRAINING":
            return service  # already being deleted: nothing changes
        if (service["schedulingStrategy"] == "REPLICA" and service["desiredCount"] > 0
                and not force):
            raise errors.InvalidParameterException(
                "The service cannot be stopped while it is scaled above 0."
            )
        service["status"] = "DRAINING"
        service["desiredCount"] = 0
        for deployment in service["deployments"]:
            deployment["desiredCount"] = 0
            deployment["updatedAt"] = now
        deployment_history.sync(store, ctx.arns, service, now)
        store.put_service(service)
    nudge(ctx, service["serviceArn"])
    return service
