"""Services: CreateService, DescribeServices, ListServices, UpdateService,
DeleteService.

The handlers only record what the user wants (the service, its deployments);
the service scheduler (scheduler/service_reconciler.py) starts and stops the
tasks, and is nudged at once after every change here.
"""

from __future__ import annotations

from ..control import service_deployments as deployment_history
from ..control.capacity_providers import launch_type_of, strategy_for
from ..control.launch import checked_task_definition
from ..control.launch_types import checked_launch, launch_params, service_launch_fields
from ..control.lookup import SERVICE_NAME, find_service, service_arn
from ..control.lookup import task_definition as resolve_task_definition
from ..control.placing import placement_rules
from ..control.services import nudge, task_counts
from ..domain import deployment_configuration
from ..domain import service as services
from ..domain import task_set as task_sets
from ..domain.documents import Doc
from ..domain.service_record import SchedulerMemory, new_service
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, failure, page, require_cluster, seq_page, validate_tags
from .context import Context

DESCRIBE_LIMIT = 10
# The Service list members AWS always answers with, empty or not (Ansible's
# ecs_service reads existing["loadBalancers"] on every run).
ALWAYS_LISTED = ("loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy",
                 "events", "deployments")
_UNSUPPORTED = {
    "loadBalancers": "Load balancers",
    "serviceRegistries": "Service registries",
    "volumeConfigurations": "Volume configurations",
    "vpcLatticeConfigurations": "VPC Lattice",
    "gatewayConnectors": "Gateway connectors",
    "monitoring": "Monitoring configurations (CloudWatch metric resolution)",
}


def require_active_service(ctx: Context, cluster: Doc, identifier: str) -> Doc:
    service = find_service(ctx, cluster, identifier)
    if service is None:
        raise errors.ServiceNotFoundException("Service not found.")
    if service["status"] != "ACTIVE":
        raise errors.ServiceNotActiveException("Service was not ACTIVE.")
    return service


def view(ctx: Context, service: Doc, with_tags: bool = False) -> Doc:
    """The Service shape, with counts derived from the tasks now."""
    shown = dict(service)
    for member in ALWAYS_LISTED:  # AWS answers these as [] when empty; tools index them
        shown.setdefault(member, [])
    shown["availabilityZoneRebalancing"] = "DISABLED"  # ENABLED is refused
    shown["resourceManagementType"] = "CUSTOMER"  # ECS-managed services are the Express gateway's
    counts = task_counts(ctx, service)
    running = pending = 0
    deployments = []
    for deployment in service["deployments"]:
        d = dict(deployment)
        r, p = counts.get(d["id"], (0, 0))
        d["runningCount"], d["pendingCount"] = r, p
        running, pending = running + r, pending + p
        deployments.append(d)
    shown["deployments"] = deployments
    if service.get("taskSets"):  # the EXTERNAL controller's: counted the same way
        shown["taskSets"] = []
        for task_set in service["taskSets"]:
            r, p = counts.get(task_set["id"], (0, 0))
            shown["taskSets"].append(dict(task_set, runningCount=r, pendingCount=p))
            running, pending = running + r, pending + p
    shown["runningCount"], shown["pendingCount"] = running, pending
    shown.update(deployment_history.current(ctx.store, service))
    if with_tags:
        shown["tags"] = ctx.store.get_tags(service["serviceArn"])
    return shown


def _check_configuration(config: Doc, strategy: str) -> None:
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


def _check_unsupported(params: Doc) -> None:
    if params.get("role") and not params.get("loadBalancers"):
        raise errors.InvalidParameterException(
            "IAM roles are only valid for services configured to use load balancers."
        )
    for member, what in _UNSUPPORTED.items():
        if params.get(member):
            raise errors.UnsupportedFeatureException(f"{what} are not supported by Portside.")
    if params.get("availabilityZoneRebalancing") == "ENABLED":
        raise errors.UnsupportedFeatureException(
            "Availability Zone rebalancing is not supported by Portside; services report "
            "availabilityZoneRebalancing DISABLED (the spread placement still balances new tasks across zones)."
        )
    connect = params.get("serviceConnectConfiguration")
    if connect and (connect.get("enabled") or connect.get("services") or connect.get("logConfiguration")
                    or connect.get("accessLogConfiguration") or connect.get("containerConfigurations")):
        raise errors.UnsupportedFeatureException(
            "Service Connect proxying is not supported by Portside; a serviceConnectConfiguration may only "
            "name its namespace, with enabled false."
        )
    controller = (params.get("deploymentController") or {}).get("type", "ECS")
    if controller == "CODE_DEPLOY":
        raise errors.InvalidParameterException(
            "The CODE_DEPLOY deployment controller needs AWS CodeDeploy, which Portside does not have; "
            "use the ECS or EXTERNAL deployment controller."
        )


@operation("CreateService")
def create_service(ctx: Context, params: Doc) -> Doc:
    tags = validate_tags(params.get("tags"))
    name = params["serviceName"]
    if not SERVICE_NAME.match(name):
        raise errors.InvalidParameterException(
            "Service name can only contain letters (uppercase and lowercase), numbers, hyphens and underscores, "
            "up to 255 characters."
        )
    _check_unsupported(params)
    strategy = params.get("schedulingStrategy") or "REPLICA"
    if strategy == "DAEMON":
        if params.get("desiredCount") is not None:
            raise errors.InvalidParameterException(
                "The daemon scheduling strategy does not support a desired count for services."
            )
        if params.get("placementStrategy"):
            raise errors.InvalidParameterException(
                "The daemon scheduling strategy does not support placement strategies."
            )
    elif params.get("desiredCount") is None:
        raise errors.InvalidParameterException(
            "desiredCount is required for services of the REPLICA scheduling strategy."
        )
    if params.get("desiredCount") is not None and params["desiredCount"] < 0:
        raise errors.InvalidParameterException("desiredCount cannot be negative.")
    controller = (params.get("deploymentController") or {}).get("type", "ECS")
    external = controller == "EXTERNAL"
    if external and strategy == "DAEMON":
        raise errors.InvalidParameterException(
            "The EXTERNAL deployment controller supports the REPLICA scheduling strategy only.")
    if external and params.get("taskDefinition"):
        raise errors.InvalidParameterException(
            "A service with the EXTERNAL deployment controller takes its task definitions from its task sets "
            "(CreateTaskSet), not from taskDefinition.")
    if not external and not params.get("taskDefinition"):
        raise errors.InvalidParameterException("TaskDefinition is required for the ECS deployment controller.")
    configuration = services.merge_deployment_configuration(
        services.default_deployment_configuration(strategy), params.get("deploymentConfiguration")
    )
    _check_configuration(configuration, strategy)
    if external and configuration.get("strategy") == "BLUE_GREEN":
        raise errors.InvalidParameterException(
            "The BLUE_GREEN deployment strategy is run by the ECS deployment controller; with EXTERNAL, "
            "blue/green is done with task sets.")
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        arn = ctx.arns.service(cluster["clusterName"], name)
        existing = store.get_service(arn)
        if existing is not None and existing["status"] == "ACTIVE":
            token = params.get("clientToken")
            if token and store.get_service_memory(arn).client_token == token:
                return {"service": view(ctx, existing)}  # a retried CreateService
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
    return {"service": view(ctx, service, with_tags=bool(tags))}


@operation("DescribeServices")
def describe_services(ctx: Context, params: Doc) -> Doc:
    identifiers = params["services"]
    if len(identifiers) > DESCRIBE_LIMIT:
        raise errors.InvalidParameterException("services can have at most 10 items.")
    cluster = require_cluster(ctx, params.get("cluster"))
    if not identifiers:
        raise errors.InvalidParameterException("Services cannot be empty.")
    with_tags = "TAGS" in params.get("include", ())
    shown, failures = [], []
    for identifier in identifiers:
        arn = service_arn(ctx, cluster, identifier)
        service = ctx.store.get_service(arn) if arn else None
        if service is None:
            failures.append(failure(arn or identifier, "MISSING"))
        else:
            shown.append(view(ctx, service, with_tags))
    return {"services": shown, "failures": failures}


@operation("ListServices")
def list_services(ctx: Context, params: Doc) -> Doc:
    cluster = require_cluster(ctx, params.get("cluster"))
    filters = {}
    if params.get("launchType"):
        filters["launch_type"] = params["launchType"]
    if params.get("schedulingStrategy"):
        filters["scheduling_strategy"] = params["schedulingStrategy"]
    after = decode_token(params.get("nextToken"), 0)
    limit = page(params, 10)
    if params.get("resourceManagementType") == "ECS":  # every service here is the customer's
        return {"serviceArns": []}
    rows = ctx.store.list_service_arns(cluster["clusterArn"], filters, after, limit + 1)
    return seq_page("serviceArns", rows, limit)


@operation("UpdateService")
def update_service(ctx: Context, params: Doc) -> Doc:
    _check_unsupported(params)
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
            _check_configuration(configuration, service["schedulingStrategy"])
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
    return {"service": view(ctx, service)}


@operation("DeleteService")
def delete_service(ctx: Context, params: Doc) -> Doc:
    store, now = ctx.store, ctx.clock.now()
    with store.transaction():
        cluster = require_cluster(ctx, params.get("cluster"))
        service = find_service(ctx, cluster, params["service"])
        if service is None or service["status"] == "INACTIVE":
            raise errors.ServiceNotFoundException("Service not found.")
        if service["status"] == "DRAINING":
            return {"service": view(ctx, service)}  # already being deleted
        if (service["schedulingStrategy"] == "REPLICA" and service["desiredCount"] > 0
                and not params.get("force")):
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
    return {"service": view(ctx, service)}
