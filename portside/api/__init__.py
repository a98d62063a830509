"""The ECS operations, one module per resource family.  Importing this package
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
    namespaces,
    service_deployments,
    services,
    tags,
    task_definitions,
    task_protection,
    task_sets,
    tasks,
)
