"""From the task the server sends to the containers the runtime creates.

The server has already applied the task's overrides; this module maps ECS
container-definition members onto Docker's (command, entryPoint, environment,
cpu → CPU shares, memory → hard limit, memoryReservation → soft limit, port
mappings, volumes and mount points) and adds the labels that tie each
container to its task.
"""

from __future__ import annotations

from typing import Any

from .runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_FAMILY,
    LABEL_INSTANCE,
    LABEL_REVISION,
    LABEL_TASK_ARN,
    ContainerSpec,
    Mount,
    PortMapping,
)


def container_specs(task: dict[str, Any], cluster: str, instance_arn: str) -> dict[str, ContainerSpec]:
    network_mode = task.get("networkMode") or "bridge"
    volumes = {v["name"]: v for v in task.get("volumes", [])}
    specs = {}
    for c in task["containers"]:
        labels = {
            **(c.get("dockerLabels") or {}),
            LABEL_TASK_ARN: task["taskArn"],
            LABEL_CONTAINER_NAME: c["name"],
            LABEL_CLUSTER: cluster,
            LABEL_FAMILY: str(task.get("family")),
            LABEL_REVISION: str(task.get("revision")),
            LABEL_INSTANCE: instance_arn,
        }
        specs[c["name"]] = ContainerSpec(
            name=c["name"],
            image=c["image"],
            labels=labels,
            command=c.get("command"),
            entry_point=c.get("entryPoint"),
            environment={e["name"]: e.get("value", "") for e in c.get("environment", [])},
            working_dir=c.get("workingDirectory"),
            user=c.get("user"),
            cpu_shares=int(c.get("cpu") or 0) or None,
            memory_mib=c.get("memory"),
            memory_reservation_mib=c.get("memoryReservation"),
            network_mode=network_mode,
            ports=[
                PortMapping(
                    container_port=int(p["containerPort"]),
                    host_port=int(p["hostPort"]) if p.get("hostPort") else None,
                    protocol=p.get("protocol", "tcp"),
                )
                for p in c.get("portMappings", [])
                if p.get("containerPort")
            ],
            mounts=[_mount(m, volumes, task["taskArn"]) for m in c.get("mountPoints", [])],
        )
    return specs


def _mount(point: dict[str, Any], volumes: dict[str, Any], task_arn: str) -> Mount:
    volume = volumes.get(point.get("sourceVolume", ""), {})
    read_only = bool(point.get("readOnly", False))
    host_path = (volume.get("host") or {}).get("sourcePath")
    if host_path:
        return Mount(host_path, point["containerPath"], read_only)
    docker_volume = volume.get("dockerVolumeConfiguration")
    if docker_volume and docker_volume.get("scope") == "shared":
        return Mount(volume["name"], point["containerPath"], read_only, named_volume=True)
    # A task-scoped volume: one Docker volume per task, named after it.
    name = f"ecs-{task_arn.rsplit('/', 1)[-1]}-{volume.get('name', point.get('sourceVolume'))}"
    return Mount(name, point["containerPath"], read_only, named_volume=True)


def host_mode_bindings(spec: ContainerSpec) -> list[dict[str, Any]]:
    """In host network mode a container's ports are the host's own."""
    return [
        {"bindIP": "0.0.0.0", "containerPort": p.container_port,
         "hostPort": p.host_port or p.container_port, "protocol": p.protocol}
        for p in spec.ports
    ]
