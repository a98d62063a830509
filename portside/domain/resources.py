"""Resource arithmetic for container instances: CPU, MEMORY, PORTS, PORTS_UDP.

An instance registers its totals; a task reserves CPU units, MiB and static host
ports; what remains is registered less the reservations of its live tasks.  For
PORTS and PORTS_UDP ECS lists the ports *in use* (reserved at registration plus
those tasks hold), and this module keeps that convention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Resources = list[dict[str, Any]]


@dataclass
class Reservation:
    """What one task holds on its instance."""

    cpu: int = 0
    memory: int = 0
    ports: list[int] = field(default_factory=list)
    ports_udp: list[int] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory": self.memory, "ports": self.ports, "portsUdp": self.ports_udp}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Reservation:
        doc = doc or {}
        return cls(doc.get("cpu", 0), doc.get("memory", 0), doc.get("ports", []), doc.get("portsUdp", []))


HOST_PORT_RANGE_ATTRIBUTE = "portside.host-port-range"  # an agent's `--host-port-range LOW-HIGH`


def parse_port_range(text: str) -> tuple[int, int] | None:
    """`LOW-HIGH` (1 ≤ LOW ≤ HIGH ≤ 65535) as a pair, else None."""
    low, sep, high = text.partition("-")
    if not (sep and low.isdigit() and high.isdigit()):
        return None
    pair = (int(low), int(high))
    return pair if 1 <= pair[0] <= pair[1] <= 65535 else None


def host_port_range(instance: dict[str, Any]) -> tuple[int, int] | None:
    """The host ports an instance's agent owns, when it shares its Docker host
    with other agents (its attribute); None: any port."""
    for attribute in instance.get("attributes") or ():
        if attribute.get("name") == HOST_PORT_RANGE_ATTRIBUTE:
            return parse_port_range(attribute.get("value") or "")
    return None


@dataclass
class Capacity:
    """An instance's free CPU and memory and its ports in use; `port_range`,
    when set, bounds the static host ports it can give a task at all."""

    cpu: int
    memory: int
    ports: set[int]
    ports_udp: set[int]
    port_range: tuple[int, int] | None = None

    @classmethod
    def empty(cls) -> Capacity:
        return cls(0, 0, set(), set())

    @classmethod
    def from_resources(cls, resources: Resources) -> Capacity:
        """Parsed once per resources list (documents are replaced, never
        changed in place), then copied: callers may change what they get."""
        memo = _parsed.get(id(resources))
        if memo is None or memo[0] is not resources:
            if len(_parsed) > 50_000:
                _parsed.clear()
            memo = _parsed[id(resources)] = (resources, cls._parse(resources))
        return memo[1].copy()

    def copy(self) -> Capacity:
        return Capacity(self.cpu, self.memory, set(self.ports), set(self.ports_udp), self.port_range)

    @classmethod
    def _parse(cls, resources: Resources) -> Capacity:
        by_name = {r["name"]: r for r in resources}
        return cls(
            cpu=_integer(by_name.get("CPU")),
            memory=_integer(by_name.get("MEMORY")),
            ports={int(p) for p in by_name.get("PORTS", {}).get("stringSetValue", [])},
            ports_udp={int(p) for p in by_name.get("PORTS_UDP", {}).get("stringSetValue", [])},
        )

    def to_resources(self) -> Resources:
        return [
            {"name": "CPU", "type": "INTEGER", "integerValue": self.cpu, "doubleValue": 0.0, "longValue": 0},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": self.memory, "doubleValue": 0.0, "longValue": 0},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in sorted(self.ports)],
             "doubleValue": 0.0, "longValue": 0, "integerValue": 0},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [str(p) for p in sorted(self.ports_udp)],
             "doubleValue": 0.0, "longValue": 0, "integerValue": 0},
        ]

    def shortfall(self, need: Reservation) -> str | None:
        """The ECS failure reason when `need` does not fit, else None."""
        if need.cpu > self.cpu:
            return "RESOURCE:CPU"
        if need.memory > self.memory:
            return "RESOURCE:MEMORY"
        if self.ports.intersection(need.ports) or self._outside_range(need.ports):
            return "RESOURCE:PORTS"
        if self.ports_udp.intersection(need.ports_udp) or self._outside_range(need.ports_udp):
            return "RESOURCE:PORTS_UDP"
        return None

    def _outside_range(self, ports: list[int]) -> bool:
        if self.port_range is None:
            return False
        low, high = self.port_range
        return any(not low <= port <= high for port in ports)

    def reserve(self, need: Reservation) -> None:
        self.cpu -= need.cpu
        self.memory -= need.memory
        self.ports.update(need.ports)
        self.ports_udp.update(need.ports_udp)

    # Used as the running total of what an instance's live tasks hold:

    def hold(self, task: Reservation) -> None:
        self.cpu += task.cpu
        self.memory += task.memory
        self.ports.update(task.ports)
        self.ports_udp.update(task.ports_udp)

    def unhold(self, task: Reservation) -> None:
        self.cpu -= task.cpu
        self.memory -= task.memory
        self.ports.difference_update(task.ports)
        self.ports_udp.difference_update(task.ports_udp)

    @classmethod
    def free(cls, registered: Resources, held: Capacity | None,
             port_range: tuple[int, int] | None = None) -> Capacity:
        """Registered less what live tasks hold; ports reserved at registration
        stay in use whatever tasks come and go."""
        free = cls.from_resources(registered)
        free.port_range = port_range
        if held is not None:
            free.cpu -= held.cpu
            free.memory -= held.memory
            free.ports |= held.ports
            free.ports_udp |= held.ports_udp
        return free


_parsed: dict[int, tuple[Resources, Capacity]] = {}


def _integer(resource: dict[str, Any] | None) -> int:
    if not resource:
        return 0
    for key in ("integerValue", "longValue"):
        if resource.get(key):
            return int(resource[key])
    return int(resource.get("doubleValue") or 0)


class InvalidResources(ValueError):
    pass


def normalise_registered(resources: Resources | None) -> Resources:
    """Totals as an agent registers them, with every resource ECS reports
    present; InvalidResources for entries no instance could have."""
    for r in resources or []:
        name = r.get("name")
        if not name:
            raise InvalidResources("Every resource needs a name.")
        if name in ("PORTS", "PORTS_UDP"):
            for port in r.get("stringSetValue") or []:
                if not (port.isdigit() and 0 <= int(port) <= 65535):
                    raise InvalidResources(f"{name} holds {port[:32]!r}, not a port number.")
        for key in ("integerValue", "longValue", "doubleValue"):
            value = r.get(key)
            if value is not None and not 0 <= value < 2**53:  # also refuses NaN
                raise InvalidResources(f"{name} {key} must be a number from 0 up.")
    return Capacity._parse(resources or []).to_resources()
