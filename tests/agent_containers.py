"""What an agent left on the Docker engine, for the multi-server tests:
its containers by task, and their removal at a test's end."""

from __future__ import annotations

from collections import defaultdict

from portside.agent.runtime import LABEL_INSTANCE, LABEL_TASK_ARN


def containers_by_task(docker_client, instance_arn: str) -> dict[str, list[dict]]:
    """Task ARN → its containers on the instance's agent (all, stopped ones too)."""
    found: dict[str, list[dict]] = defaultdict(list)
    for container in docker_client.api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={instance_arn}"}):
        found[container["Labels"].get(LABEL_TASK_ARN, "")].append(container)
    return found


def remove_containers(docker_client, instance_arn: str) -> None:
    """Every container of the instance's agent, gone (those already going are let be)."""
    for containers in containers_by_task(docker_client, instance_arn).values():
        for container in containers:
            try:
                docker_client.api.remove_container(container["Id"], force=True)
            except Exception:
                pass
