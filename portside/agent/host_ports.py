"""Dynamic host ports from an agent's own range (`--host-port-range`).

Without a range, a bridge container's unpublished port gets an ephemeral
port from Docker.  Two agents sharing one Docker host (each with its own
--cpu-units/--memory-mib) would then draw from the same pool as each other
and, worse, both accept the same static hostPort, so each takes a range of
its own, as the ECS agent's ECS_DYNAMIC_HOST_PORT_RANGE bounds its dynamic
ports: the server places static hostPorts outside the range elsewhere
(`portside.host-port-range` attribute, domain/resources.py) and this module
hands out dynamic ones inside it, round-robin, skipping ports something on
the host already holds.
"""

from __future__ import annotations

import socket

from .runtime import ContainerSpec, RuntimeFailure


class HostPortRange:
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self._next = low

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    def assign(self, spec: ContainerSpec) -> None:
        """Give each of a bridge container's port mappings without a hostPort
        a free port of the range (other network modes publish none)."""
        if spec.network_mode != "bridge":
            return
        for mapping in spec.ports:
            if mapping.host_port is None:
                mapping.host_port = self._free_port(mapping.protocol)

    def _free_port(self, protocol: str) -> int:
        for _ in range(self.high - self.low + 1):
            port = self._next
            self._next = self.low if port == self.high else port + 1
            if _bindable(port, protocol):
                return port
        raise RuntimeFailure(f"CannotStartContainerError: no free host port left in this agent's range {self}")


def _bindable(port: int, protocol: str) -> bool:
    """Whether nothing on this host holds the port (Docker's proxy binds
    the ports it publishes)."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
