"""Placement as a pipeline: candidate instances → filters → a ranker.

Every instance a filter rejects records why, so a task that fits nowhere comes
back with ECS's own `failures` reasons (`AGENT`, `RESOURCE:CPU`, ...).  The
default scheduler of RunTask ranks the feasible instances at random.

The filters run once per request over all candidates; placing several tasks
of the same request then only re-checks the instance just chosen, so a
RunTask of `count` tasks costs O(instances + count), not their product.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from ..domain.resources import Capacity, Reservation

Filter = Callable[["Candidate", Reservation], str | None]


@dataclass
class Candidate:
    """An instance as placement sees it: its document and its free capacity,
    which placements made in the same request keep debiting."""

    doc: dict[str, Any]
    capacity: Capacity
    connected: bool = True
    placed: int = 0  # tasks this request put here

    @property
    def arn(self) -> str:
        return self.doc["containerInstanceArn"]

    @classmethod
    def of(cls, doc: dict[str, Any], connected: bool = True) -> "Candidate":
        return cls(doc, Capacity.from_resources(doc["remainingResources"]), connected)


def agent_connected(candidate: Candidate, need: Reservation) -> str | None:
    return None if candidate.connected else "AGENT"


def fits(candidate: Candidate, need: Reservation) -> str | None:
    return candidate.capacity.shortfall(need)


DEFAULT_FILTERS: tuple[Filter, ...] = (agent_connected, fits)


@dataclass
class Placement:
    chosen: list[Candidate]  # one entry per placed task
    rejections: dict[str, str]  # instance ARN → why it took no (more) tasks


def place(
    candidates: list[Candidate],
    need: Reservation,
    count: int,
    rng: random.Random,
    filters: tuple[Filter, ...] = DEFAULT_FILTERS,
) -> Placement:
    """Place up to `count` tasks needing `need` each, booking them on the
    chosen candidates' capacity."""
    feasible: list[Candidate] = []
    rejections: dict[str, str] = {}
    for candidate in candidates:
        reason = _rejection(candidate, need, filters)
        if reason:
            rejections[candidate.arn] = reason
        else:
            feasible.append(candidate)
    chosen = []
    for _ in range(count):
        if not feasible:
            break
        index = rng.randrange(len(feasible))
        pick = feasible[index]
        pick.capacity.reserve(need)
        pick.placed += 1
        chosen.append(pick)
        reason = _rejection(pick, need, filters)
        if reason:  # full now: drop it in O(1)
            rejections[pick.arn] = reason
            feasible[index] = feasible[-1]
            feasible.pop()
    if len(chosen) == count:
        rejections = {}
    return Placement(chosen, rejections)


def _rejection(candidate: Candidate, need: Reservation, filters: tuple[Filter, ...]) -> str | None:
    for check in filters:
        reason = check(candidate, need)
        if reason:
            return reason
    return None
