"""The ECS operations, one module per resource family.  Importing this package
registers every handler with the protocol dispatcher."""

from . import clusters, container_instances, tags  # noqa: F401
