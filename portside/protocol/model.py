"""botocore's ECS service model: the only schema Portside has.

Loaded once from the installed botocore, so request validation and response
shapes follow exactly what boto3 and the AWS CLI expect.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any, TypeVar

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

F = TypeVar("F", bound=Callable[[Any], Any])

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


@lru_cache(maxsize=1)
def _operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation_model(name: str) -> OperationModel | None:
    """The operation, or None; only names the model has are ever cached (an
    unknown target must not be remembered: a flood of them would pin memory)."""
    if name not in _operation_names():
        return None
    return _operation_model(name)


@cache
def _operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def declared_errors(operation: str) -> frozenset[str]:
    """The error codes the model declares for an operation."""
    op = operation_model(operation)
    return frozenset(e.name for e in op.error_shapes) if op else frozenset()


def compiled_per_shape(cache: dict[str, F], shape: Shape, compile: Callable[[Shape], F]) -> F:
    """`compile(shape)`, made once per shape name (names are unique within the
    model).  A placeholder goes in first, so a recursive shape's function
    calls the finished one."""
    found = cache.get(shape.name)
    if found is None:
        cell: list[F] = []
        cache[shape.name] = lambda v: cell[0](v)  # type: ignore[assignment]
        found = compile(shape)
        cell.append(found)
        cache[shape.name] = found
    return found
