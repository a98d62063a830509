"""Whether each container instance's agent is connected.

An agent's long poll is its heartbeat.  An instance whose agent has ever polled
is connected while it polls, and for `timeout` seconds after its last poll; a
server restart counts as a poll, so agents get that long to reconnect.  An
instance that no agent ever polled for (registered through the API by a tool
that reports task states itself) keeps the connection state it registered with.
"""

from __future__ import annotations

from typing import Any


class Heartbeats:
    def __init__(self, started_at: float, timeout: float = 30.0, agent_polled: set[str] | None = None) -> None:
        self._started_at = started_at
        self.timeout = timeout
        # instances an agent has ever polled for (the store keeps it: Store.agent_polled_instances)
        self._agent_polled = set(agent_polled or ())
        self._last_seen: dict[str, float] = {}
        self._polling: dict[str, int] = {}

    def agent_polls(self, arn: str) -> bool:
        """Whether an agent has ever polled for the instance."""
        return arn in self._agent_polled

    def agent_polled(self, arn: str) -> None:
        """An agent polls for the instance (the caller records it in the store)."""
        self._agent_polled.add(arn)

    def poll_started(self, arn: str, now: float) -> None:
        self._polling[arn] = self._polling.get(arn, 0) + 1
        self._last_seen[arn] = now

    def poll_ended(self, arn: str, now: float) -> None:
        left = self._polling.get(arn, 1) - 1
        if left:
            self._polling[arn] = left
        else:
            self._polling.pop(arn, None)
        self._last_seen[arn] = now

    def polled_since(self, since: float, now: float) -> dict[str, float]:
        """Instance ARN → its agent's last poll here, for the agents that
        polled here since `since` (`now` for those whose poll is held now)."""
        seen = {arn: at for arn, at in self._last_seen.items() if at >= since}
        return seen | dict.fromkeys(self._polling, now)

    def seen_elsewhere(self, polled: dict[str, float]) -> None:
        """Agents' polls other servers saw (servers sharing a database): an
        agent polling any of them is connected on every one."""
        for arn, at in polled.items():
            self._agent_polled.add(arn)
            if at > self._last_seen.get(arn, 0.0):
                self._last_seen[arn] = at

    def connected(self, instance: dict[str, Any], now: float) -> bool:
        if instance["status"] == "INACTIVE":
            return False
        arn = instance["containerInstanceArn"]
        if arn not in self._agent_polled:
            return bool(instance.get("agentConnected", True))
        if arn in self._polling:
            return True
        return now - self._last_seen.get(arn, self._started_at) <= self.timeout
