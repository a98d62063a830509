"""Secrets for a task's containers, resolved when the task starts, as the ECS
agent does with the task execution role: `secrets` become environment
variables, `repositoryCredentials.credentialsParameter` the registry
credentials of the image pull.

`valueFrom` is a Secrets Manager secret ARN, optionally followed by
`:json-key:version-stage:version-id` (each part may be empty), or an SSM
parameter name or ARN.  Values are fetched from the Portside server (the
agent's key may call GetSecretValue and GetParameters), handed to the runtime
and never logged, reported or saved by the agent.  Anything missing fails the
task before its containers are created, with ECS's
`ResourceInitializationError: unable to pull secrets or registry auth: ...`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .runtime import RuntimeFailure
from .server_client import ServerRefused, ServerUnavailable

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
Call = Callable[..., Awaitable[dict[str, Any]]]
RETRY_SECONDS = 30.0


class SecretsUnavailable(RuntimeFailure):
    def __init__(self, detail: str) -> None:
        super().__init__(PREFIX + detail)


@dataclass(frozen=True)
class SecretRef:
    """A Secrets Manager reference: the secret, and which part of which version."""

    secret_id: str
    json_key: str | None
    stage: str | None
    version_id: str | None

    @classmethod
    def parse(cls, value_from: str) -> SecretRef:
        head, sep, rest = value_from.partition(":secret:")
        parts = rest.split(":")
        secret_id = head + sep + parts[0]
        extra = parts[1:] + ["", "", ""]
        return cls(secret_id, extra[0] or None, extra[1] or None, extra[2] or None)


@dataclass
class Resolved:
    environment: dict[str, str]
    registry_auth: dict[str, str] | None

    def __repr__(self) -> str:  # never print a value by accident
        return f"Resolved(environment=<{len(self.environment)} hidden>, registry_auth=<hidden>)"


def is_secrets_manager(value_from: str) -> bool:
    return value_from.startswith("arn:") and ":secretsmanager:" in value_from


class SecretResolver:
    def __init__(self, call: Call) -> None:
        self._call = call  # async (service, operation, **params) -> answer

    async def resolve(self, container: dict[str, Any]) -> Resolved:
        """The container's secrets as environment variables, and its registry
        credentials; SecretsUnavailable with ECS's wording when any is missing."""
        environment: dict[str, str] = {}
        parameters: dict[str, list[str]] = {}  # SSM name → env var names
        for secret in container.get("secrets") or []:
            name, value_from = secret.get("name", ""), secret.get("valueFrom", "")
            if is_secrets_manager(value_from):
                environment[name] = await self._secret_value(SecretRef.parse(value_from))
            else:
                parameters.setdefault(value_from, []).append(name)
        if parameters:
            values = await self._parameters(list(parameters))
            for value_from, names in parameters.items():
                for name in names:
                    environment[name] = values[value_from]
        auth = None
        credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
        if credentials:
            auth = await self._registry_auth(credentials)
        return Resolved(environment, auth)

    async def _with_retries(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """A call retried while the server is away (for a while), as the ECS agent retries."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                return await self._call(service, operation, **params)
            except ServerUnavailable as exc:
                if loop.time() > deadline:
                    raise SecretsUnavailable(
                        f"execution resource retrieval failed: {service} unreachable: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _secret_value(self, ref: SecretRef) -> str:
        params: dict[str, Any] = {"SecretId": ref.secret_id}
        if ref.stage:
            params["VersionStage"] = ref.stage
        if ref.version_id:
            params["VersionId"] = ref.version_id
        try:
            answer = await self._with_retries("secretsmanager", "GetSecretValue", **params)
        except ServerRefused as exc:
            raise SecretsUnavailable(
                "execution resource retrieval failed: unable to retrieve secret from asm: "
                f"service call has been retried 1 time(s): {exc}. Please check your task network configuration."
            ) from exc
        value = answer.get("SecretString")
        if value is None:
            raise SecretsUnavailable(
                f"execution resource retrieval failed: secret {ref.secret_id} holds a binary value; "
                "only SecretString can be injected")
        if ref.json_key is None:
            return value
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if not isinstance(document, dict) or ref.json_key not in document:
            raise SecretsUnavailable(
                f"execution resource retrieval failed: retrieved secret from Secrets Manager did not contain "
                f"json key {ref.json_key}")
        found = document[ref.json_key]
        return found if isinstance(found, str) else json.dumps(found)

    async def _parameters(self, names: list[str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
            chunk = names[start: start + 10]
            try:
                answer = await self._with_retries("ssm", "GetParameters", Names=chunk, WithDecryption=True)
            except ServerRefused as exc:
                raise SecretsUnavailable(
                    "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                    f"service call has been retried 1 time(s): {exc}") from exc
            invalid = answer.get("InvalidParameters") or []
            if invalid:
                raise SecretsUnavailable(
                    "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                    f"service call has been retried 1 time(s): invalid parameters: {', '.join(invalid)}")
            by_name = {p["Name"]: p["Value"] for p in answer.get("Parameters", [])}
            by_arn = {p.get("ARN"): p["Value"] for p in answer.get("Parameters", [])}
            for name in chunk:
                bare = name.rsplit(":parameter", 1)[-1] if name.startswith("arn:") else name
                value = by_arn.get(name) or by_name.get(name) or by_name.get(bare) or by_name.get(bare.lstrip("/"))
                if value is None:
                    raise SecretsUnavailable(
                        "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                        f"invalid parameters: {name}")
                values[name] = value
        return values

    async def _registry_auth(self, value_from: str) -> dict[str, str]:
        try:
            answer = await self._with_retries("secretsmanager", "GetSecretValue",
                                              SecretId=SecretRef.parse(value_from).secret_id)
        except ServerRefused as exc:
            raise SecretsUnavailable(
                "execution resource retrieval failed: unable to retrieve secret from asm: "
                f"service call has been retried 1 time(s): {exc}") from exc
        try:
            document = json.loads(answer.get("SecretString") or "")
            return {"username": str(document["username"]), "password": str(document["password"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretsUnavailable(
                "execution resource retrieval failed: the private registry credentials secret must hold "
                'a JSON document with "username" and "password"') from exc
