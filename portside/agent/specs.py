"""From the task the server sends to the containers the runtime creates.

The server has already applied the task's overrides; this module maps each
ECS container-definition member onto Docker's option (the table of what is
applied is `domain.container_support`) and adds the labels that tie each
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
    HealthCheck,
    Mount,
    PortMapping,
    Ulimit,
    VolumeSpec,
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
        linux = c.get("linuxParameters") or {}
        capabilities = linux.get("capabilities") or {}
        log = c.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs":  # the agent ships it (log_shipper.py) from Docker's own log
            log = {}
        spec = ContainerSpec(
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
            hostname=c.get("hostname"),
            network_disabled=bool(c.get("disableNetworking")),
            privileged=bool(c.get("privileged")),
            read_only=bool(c.get("readonlyRootFilesystem")),
            dns=list(c.get("dnsServers") or []),
            dns_search=list(c.get("dnsSearchDomains") or []),
            extra_hosts={h["hostname"]: h["ipAddress"] for h in c.get("extraHosts") or []},
            security_opt=list(c.get("dockerSecurityOptions") or []),
            stdin_open=bool(c.get("interactive")),
            tty=bool(c.get("pseudoTerminal")),
            ulimits=[Ulimit(u["name"], int(u["softLimit"]), int(u["hardLimit"]))
                     for u in c.get("ulimits") or []],
            sysctls={s["namespace"]: s["value"] for s in c.get("systemControls") or []
                     if s.get("namespace")},
            cap_add=list(capabilities.get("add") or []),
            cap_drop=list(capabilities.get("drop") or []),
            devices=[f"{d['hostPath']}:{d.get('containerPath') or d['hostPath']}:"
                     + _permissions(d.get("permissions")) for d in linux.get("devices") or []],
            init=bool(linux.get("initProcessEnabled")),
            shm_size_mib=linux.get("sharedMemorySize"),
            tmpfs={t["containerPath"]: ",".join([*(t.get("mountOptions") or []), f"size={t['size']}m"])
                   for t in linux.get("tmpfs") or []},
            max_swap_mib=linux.get("maxSwap"),
            swappiness=linux.get("swappiness") if linux.get("maxSwap") is not None else None,
            pid_mode=task.get("pidMode"),
            ipc_mode=task.get("ipcMode"),
            log_driver=log.get("logDriver"),
            log_options=dict(log.get("options") or {}),
            volumes_from=[(v["sourceContainer"], bool(v.get("readOnly"))) for v in c.get("volumesFrom") or []],
        )
        check = c.get("healthCheck")
        if check:
            spec.health_check = HealthCheck(
                test=list(check["command"]),
                interval=check.get("interval") or 30,
                timeout=check.get("timeout") or 5,
                retries=check.get("retries") or 3,
                start_period=check.get("startPeriod") or 0,
            )
        specs[c["name"]] = spec
    return specs


def _permissions(given: list[str] | None) -> str:
    """ECS's ["read", "write", "mknod"] as Docker's cgroup permissions `rwm`."""
    letters = {"read": "r", "write": "w", "mknod": "m"}
    return "".join(letters[p] for p in given if p in letters) if given else "rwm"


def task_volume_name(task_arn: str, volume: str) -> str:
    """A task-scoped Docker volume: one per task, named after it."""
    return f"ecs-{task_arn.rsplit('/', 1)[-1]}-{volume}"


def volume_specs(task: dict[str, Any], instance_arn: str = "") -> list[VolumeSpec]:
    """The Docker volumes a task's containers mount: task-scoped ones (a
    `dockerVolumeConfiguration` with scope task, or a volume with no host
    path) live and die with the task, labelled with it and this host's
    instance (so a restarted agent finds those of tasks that are gone);
    shared ones outlive it."""
    wanted = {m.get("sourceVolume") for c in task["containers"] for m in c.get("mountPoints", [])}
    result = []
    for volume in task.get("volumes", []):
        if volume["name"] not in wanted or (volume.get("host") or {}).get("sourcePath"):
            continue
        config = volume.get("dockerVolumeConfiguration") or {}
        shared = config.get("scope") == "shared"
        result.append(VolumeSpec(
            name=volume["name"] if shared else task_volume_name(task["taskArn"], volume["name"]),
            driver=config.get("driver") or "local",
            driver_opts=dict(config.get("driverOpts") or {}),
            labels={**(config.get("labels") or {}),
                    **({} if shared else {LABEL_TASK_ARN: task["taskArn"], LABEL_INSTANCE: instance_arn})},
            task_scoped=not shared,
            autoprovision=bool(config.get("autoprovision")) if shared else True,
        ))
    return result


def _mount(point: dict[str, Any], volumes: dict[str, Any], task_arn: str) -> Mount:
    volume = volumes.get(point.get("sourceVolume", ""), {})
    read_only = bool(point.get("readOnly", False))
    host_path = (volume.get("host") or {}).get("sourcePath")
    if host_path:
        return Mount(host_path, point["containerPath"], read_only)
    docker_volume = volume.get("dockerVolumeConfiguration")
    if docker_volume and docker_volume.get("scope") == "shared":
        return Mount(volume["name"], point["containerPath"], read_only, named_volume=True)
    name = task_volume_name(task_arn, volume.get("name", point.get("sourceVolume")))
    return Mount(name, point["containerPath"], read_only, named_volume=True)


def host_mode_bindings(spec: ContainerSpec) -> list[dict[str, Any]]:
    """In host network mode a container's ports are the host's own."""
    return [
        {"bindIP": "0.0.0.0", "containerPort": p.container_port,
         "hostPort": p.host_port or p.container_port, "protocol": p.protocol}
        for p in spec.ports
    ]
