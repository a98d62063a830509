"""botocore's service models: the only schema Portside has.

Portside serves several AWS JSON 1.1 service families on one port (ECS,
CloudWatch Logs, Secrets Manager, SSM Parameter Store).  Each is a `Service`:
the botocore model that validates its requests and shapes its answers, the
`X-Amz-Target` prefix that routes to it, the name its SigV4 credential scope
carries, and the error code its shape validation answers with.  Models are
loaded once from the installed botocore, so validation and response shapes
follow exactly what boto3 and the AWS CLI expect.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel, Shape

F = TypeVar("F", bound=Callable[[Any], Any])


@dataclass(frozen=True)
class Service:
    """One AWS service family served on Portside's port."""

    name: str  # botocore's model name
    target_prefix: str  # X-Amz-Target: PREFIX.Operation
    signing_name: str  # the service of the SigV4 credential scope
    validation_error: str  # the code a request that breaks the input shape gets


ECS = Service("ecs", "AmazonEC2ContainerServiceV20141113", "ecs", "InvalidParameterException")
LOGS = Service("logs", "Logs_20140328", "logs", "InvalidParameterException")
SECRETS_MANAGER = Service("secretsmanager", "secretsmanager", "secretsmanager", "ValidationException")
SSM = Service("ssm", "AmazonSSM", "ssm", "ValidationException")

SERVICES: dict[str, Service] = {s.name: s for s in (ECS, LOGS, SECRETS_MANAGER, SSM)}
BY_TARGET_PREFIX: dict[str, Service] = {s.target_prefix: s for s in SERVICES.values()}

TARGET_PREFIX = ECS.target_prefix  # the ECS prefix, as older callers name it


def service_for_target(target: str | None) -> Service | None:
    """The service an `X-Amz-Target` header addresses, or None."""
    return BY_TARGET_PREFIX.get((target or "").partition(".")[0])


@cache
def service_model(name: str = "ecs") -> ServiceModel:
    """The model as a botocore session would give it (the same data: no
    handler changes these services' models on load), read through the
    loader alone: importing `botocore.session` pulls in the client, its docs
    and waiters, a third of a server's start."""
    return ServiceModel(_loader().load_service_model(name, "service-2"), service_name=name)


@cache
def _loader() -> Any:
    return create_loader()


@cache
def _operation_names(service: str) -> frozenset[str]:
    return frozenset(service_model(service).operation_names)


def operation_model(name: str, service: str = "ecs") -> OperationModel | None:
    """The operation, or None; only names the model has are ever cached (an
    unknown target must not be remembered: a flood of them would pin memory)."""
    if service not in SERVICES or name not in _operation_names(service):
        return None
    return _operation_model(name, service)


@cache
def _operation_model(name: str, service: str) -> OperationModel:
    return service_model(service).operation_model(name)


def declared_errors(operation: str, service: str = "ecs") -> frozenset[str]:
    """The error codes the model declares for an operation."""
    op = operation_model(operation, service)
    return frozenset(e.name for e in op.error_shapes) if op else frozenset()


def _shape_key(shape: Shape) -> Hashable:
    """A shape's identity: its name within its model.  Names repeat across
    models (`Tag`, `String`...), so the model's resolver is part of the key;
    a model is loaded once, so its resolver lives as long as the process."""
    return (id(getattr(shape, "_shape_resolver", None)), shape.name)


def compiled_per_shape(cache: dict[Any, F], shape: Shape, compile: Callable[[Shape], F]) -> F:
    """`compile(shape)`, made once per shape.  A placeholder goes in first, so
    a recursive shape's function calls the finished one."""
    key = _shape_key(shape)
    found = cache.get(key)
    if found is None:
        cell: list[F] = []
        cache[key] = lambda v: cell[0](v)  # type: ignore[assignment]
        found = compile(shape)
        cell.append(found)
        cache[key] = found
    return found
