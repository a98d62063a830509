"""The ECS operations, one module per resource family.  Importing this package
registers every handler with the protocol dispatcher."""

from . import agent, clusters, container_instances, tags, task_definitions, tasks  # noqa: F401
from . import services  # noqa: F401
from . import attributes  # noqa: F401
from . import service_deployments  # noqa: F401
from . import container_agent  # noqa: F401
from . import namespaces  # noqa: F401
from . import execute_command  # noqa: F401
from . import task_sets  # noqa: F401
