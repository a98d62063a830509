"""The operations, one module per resource family (ECS) or service (logs).  Importing this package
registers every handler with the protocol dispatcher."""

from . import (  # noqa: F401  (imported for their @operation registrations)
    account_settings,
    agent,
    attributes,
    capacity_providers,
    clusters,
    container_agent,
    container_instances,
    daemons,
    execute_command,
    logs,
    namespaces,
    secretsmanager,
    service_deployments,
    services,
    ssm,
    tags,
    task_definitions,
    task_protection,
    task_sets,
    tasks,
)
