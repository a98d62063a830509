"""awsvpc on one host: each task gets its own network namespace, held by a
pause ("sandbox") container on a Portside-managed user-defined bridge (one per
subnet the task names), and every container of the task joins that namespace
(`--network container:<pause>`), so they reach each other on localhost and
the host reaches the task on its own address.  That address is the task's
"ENI": the agent reports it to the server, which shows it as the task's
ElasticNetworkInterface attachment.

The ECS agent does the same with a pause container and CNI plugins; here
Docker's bridge driver is the CNI.  Removing the pause container (after the
task's containers have stopped) releases the namespace and its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_INSTANCE,
    LABEL_TASK_ARN,
    ContainerSpec,
    ContainerState,
    Runtime,
    RuntimeFailure,
)

PAUSE_CONTAINER = "~internal~ecs~pause"  # the name the ECS agent gives its pause container
NETWORK_PREFIX = "portside-"


@dataclass
class Sandbox:
    runtime_id: str
    network: str
    ip: str
    mac: str


def network_name(subnet: str) -> str:
    """The Docker network a subnet of awsvpcConfiguration stands for on this host."""
    return NETWORK_PREFIX + subnet


def is_pause(state: ContainerState) -> bool:
    return state.container_name == PAUSE_CONTAINER


def _pause_spec(task: dict[str, Any], cluster: str, instance_arn: str, image: str, network: str) -> ContainerSpec:
    labels = {
        LABEL_TASK_ARN: task["taskArn"],
        LABEL_CONTAINER_NAME: PAUSE_CONTAINER,
        LABEL_CLUSTER: cluster,
        LABEL_INSTANCE: instance_arn,
    }
    # an IPC namespace others may join must be made shareable by its owner
    ipc = "shareable" if task.get("ipcMode") == "task" else None
    return ContainerSpec(name=PAUSE_CONTAINER, image=image, labels=labels, network_mode=network, ipc_mode=ipc)


async def open_sandbox(runtime: Runtime, task: dict[str, Any], cluster: str, instance_arn: str,
                       adopted: str | None) -> Sandbox:
    """The task's sandbox: the adopted pause container when it still runs,
    else a new one on the subnet's network (made when missing)."""
    subnet = (task.get("awsvpc") or {}).get("subnet") or "default"
    network = network_name(subnet)
    await runtime.ensure_network(network)
    if adopted:
        state = await runtime.inspect(adopted)
        if state is not None and state.running and network in state.networks:
            return _sandbox(state, network)
        await runtime.remove(adopted)  # its namespace is gone: the task's containers must go too
    image = await runtime.ensure_pause_image()
    runtime_id = await runtime.create(_pause_spec(task, cluster, instance_arn, image, network))
    state = await runtime.start(runtime_id)
    if network not in state.networks or not state.networks[network][0]:
        raise RuntimeFailure(f"CannotStartContainerError: the task's network namespace got no address on {network}")
    return _sandbox(state, network)


def _sandbox(state: ContainerState, network: str) -> Sandbox:
    ip, mac = state.networks[network]
    return Sandbox(state.runtime_id, network, ip, mac)


def join(spec: ContainerSpec, sandbox: Sandbox) -> None:
    """A task container joins the sandbox's namespace: its ports are the
    task's own (no host port is published).  With `pidMode`/`ipcMode: task`
    it joins the sandbox's PID/IPC namespace too, as every container of the
    task does, so they see each other's processes / share memory."""
    spec.network_mode = f"container:{sandbox.runtime_id}"
    if spec.pid_mode == "task":
        spec.pid_mode = f"container:{sandbox.runtime_id}"
    if spec.ipc_mode == "task":
        spec.ipc_mode = f"container:{sandbox.runtime_id}"


async def close_sandbox(runtime: Runtime, runtime_id: str | None) -> None:
    """Release the namespace and its address (the task's containers have stopped)."""
    if runtime_id:
        await runtime.stop(runtime_id, 0)
        await runtime.remove(runtime_id)
