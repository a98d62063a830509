"""Services: CreateService, DescribeServices, ListServices, UpdateService,
DeleteService.

The handlers check the request and shape the answer; control/service_changes.py
records what the user wants (the service, its deployments), and the service
scheduler (scheduler/service_reconciler.py) starts and stops the tasks.
"""

from __future__ import annotations

from ..control import service_changes
from ..control import service_deployments as deployment_history
from ..control.lookup import SERVICE_NAME, service_arn
from ..control.service_changes import check_configuration
from ..control.services import task_counts
from ..domain import service as services
from ..domain.documents import Doc
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
    check_configuration(configuration, strategy)
    if external and configuration.get("strategy") == "BLUE_GREEN":
        raise errors.InvalidParameterException(
            "The BLUE_GREEN deployment strategy is run by the ECS deployment controller; with EXTERNAL, "
            "blue/green is done with task sets.")
    service, created = service_changes.create(ctx, name, params, tags, strategy, configuration)
    if not created:
        return {"service": view(ctx, service)}  # a retried CreateService
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
    return {"service": view(ctx, service_changes.update(ctx, params))}


@operation("DeleteService")
def delete_service(ctx: Context, params: Doc) -> Doc:
    service = service_changes.delete(ctx, params.get("cluster"), params["service"], bool(params.get("force")))
    return {"service": view(ctx, service)}
