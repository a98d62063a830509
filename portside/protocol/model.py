"""botocore's ECS service model: the only schema Portside has.

Loaded once from the installed botocore, so request validation and response
shapes follow exactly what boto3 and the AWS CLI expect.
"""

from __future__ import annotations

from functools import lru_cache

import botocore.session
from botocore.model import OperationModel, ServiceModel

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


@lru_cache(maxsize=None)
def operation_model(name: str) -> OperationModel | None:
    model = service_model()
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def declared_errors(operation: str) -> frozenset[str]:
    """The error codes the model declares for an operation."""
    op = operation_model(operation)
    return frozenset(e.name for e in op.error_shapes) if op else frozenset()
