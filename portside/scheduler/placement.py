"""Placement as a pipeline: candidate instances → filters → a ranker.

Every instance a filter rejects records why, so a task that fits nowhere comes
back with ECS's own `failures` reasons (`AGENT`, `RESOURCE:CPU`, ...).  The
default scheduler of RunTask ranks the feasible instances at random.
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
    chosen: Candidate | None
    rejections: list[tuple[str, str]]  # (instance ARN, reason)


def place_one(
    candidates: list[Candidate],
    need: Reservation,
    rng: random.Random,
    filters: tuple[Filter, ...] = DEFAULT_FILTERS,
) -> Placement:
    """Choose an instance for one task and book `need` on it."""
    feasible, rejections = [], []
    for candidate in candidates:
        for check in filters:
            reason = check(candidate, need)
            if reason:
                rejections.append((candidate.arn, reason))
                break
        else:
            feasible.append(candidate)
    if not feasible:
        return Placement(None, rejections)
    chosen = rng.choice(feasible)
    chosen.capacity.reserve(need)
    return Placement(chosen, [])
