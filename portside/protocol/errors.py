"""AWS errors as values of the protocol.

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


AWSError = ECSError  # the base, by the name the other service families know it by


class ServiceError(ECSError):
    """An error whose wire code is given rather than named by a class: the
    other service families (Logs, Secrets Manager, SSM) have many codes, each
    raised in one or two places, and a class per code would only repeat it."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self._code = code
        self.status = status

    @property
    def code(self) -> str:
        return self._code


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
