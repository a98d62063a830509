"""ECS errors as values of the protocol.

Handlers raise one of these; only the protocol layer turns them into the
`{"__type": ..., "message": ...}` body AWS sends.  Every class is named after the
ECS error shape (or the AWS JSON-protocol error) it stands for, so the name *is*
the wire code.
"""

from __future__ import annotations


class ECSError(Exception):
    """Base of every error the API answers with; `code` is the wire `__type`."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__


class ServerException(ECSError):
    status = 500


class ClientException(ECSError):
    pass


class InvalidParameterException(ECSError):
    pass


class ClusterNotFoundException(ECSError):
    def __init__(self, message: str = "Cluster not found.") -> None:
        super().__init__(message)


class ClusterContainsContainerInstancesException(ECSError):
    pass


class ClusterContainsServicesException(ECSError):
    pass


class ClusterContainsTasksException(ECSError):
    pass


class ResourceNotFoundException(ECSError):
    pass


class ServiceNotFoundException(ECSError):
    pass


class ServiceNotActiveException(ECSError):
    pass


class UnsupportedFeatureException(ECSError):
    pass


class AccessDeniedException(ECSError):
    pass


class LimitExceededException(ECSError):
    pass


class TargetNotFoundException(ECSError):
    pass


class AttributeLimitExceededException(ECSError):
    pass


# Fargate, capacity providers (the Fargate issue).


class PlatformUnknownException(ECSError):
    pass


class PlatformTaskDefinitionIncompatibilityException(ECSError):
    pass


class ResourceInUseException(ECSError):
    pass


class ConflictException(ECSError):
    pass


class ServiceDeploymentNotFoundException(ECSError):
    pass


class TaskSetNotFoundException(ECSError):
    pass


class NoUpdateAvailableException(ECSError):
    pass


class TargetNotConnectedException(ECSError):
    pass


class NamespaceNotFoundException(ECSError):
    pass


class DaemonNotFoundException(ECSError):
    pass


class DaemonNotActiveException(ECSError):
    pass


class MissingVersionException(ECSError):
    pass


class UpdateInProgressException(ECSError):
    pass


# Errors of the AWS JSON 1.1 protocol itself (not ECS shapes).


class SerializationException(ECSError):
    pass


class UnknownOperationException(ECSError):
    pass


class ValidationException(ECSError):
    pass


class RequestEntityTooLargeException(ECSError):
    status = 413
