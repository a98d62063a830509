"""Placement as a pipeline: candidate instances → filters → rankers.

Filters (in ECS's order: agent, CPU/memory/ports, then the constraints) say
why an instance cannot take the task; every rejection is recorded, so a task
that fits nowhere comes back with ECS's own `failures` reasons (`AGENT`,
`RESOURCE:CPU`, "MemberOf placement constraint unsatisfied.", ...).  Rankers
are the placement strategies, applied in order: each one only breaks the ties
the ones before it left (`spread` by an attribute, then by instance, ...), and
what is still tied is chosen at random.

Cost.  Placing several tasks of one request only re-checks the instance just
chosen (nothing else changes), so a request costs O(instances + count) with
strategies.  With none (or `random` only) it costs O(count + instances
rejected): instances are drawn at random without replacement and checked as
they are drawn, so a 10,000-instance cluster with room is not even scanned.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain.resources import Capacity, Reservation
from ..metrics import observe_placement
from . import query

Filter = Callable[["Candidate", Reservation], str | None]

MEMBER_OF_UNSATISFIED = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE_UNSATISFIED = "DistinctInstance placement constraint unsatisfied."
MAX_STRATEGIES = 5
MAX_CONSTRAINTS = 10


class PlacementRuleError(ValueError):
    """A placement strategy or constraint that is not well formed."""


class Lookups:
    """What some rules need beyond the instance documents, loaded on first
    use, once per request: live tasks of the request's group per instance,
    task groups per instance, RUNNING tasks per instance."""

    def __init__(
        self,
        group_counts: Callable[[], dict[str, int]] = dict,
        groups_on: Callable[[], dict[str, set[str]]] = dict,
        running_counts: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._loaders = {"counts": group_counts, "groups": groups_on, "running": running_counts}
        self._loaded: dict[str, Any] = {}

    def get(self, what: str) -> Any:
        if what not in self._loaded:
            self._loaded[what] = self._loaders[what]()
        return self._loaded[what]


_NO_LOOKUPS = Lookups()


@dataclass(eq=False)
class Candidate:
    """An instance as placement sees it: its document and its free capacity,
    which placements made in the same request keep debiting.  It is also the
    subject a cluster-query expression reads."""

    doc: dict[str, Any]
    capacity: Capacity
    connected: bool = True
    placed: int = 0  # tasks this request put here
    lookups: Lookups = field(default=_NO_LOOKUPS, repr=False)
    group: str | None = None  # the group of the tasks being placed
    _attributes: dict[str, str] | None = field(default=None, repr=False)

    @property
    def arn(self) -> str:
        return self.doc["containerInstanceArn"]

    @classmethod
    def of(cls, doc: dict[str, Any], connected: bool = True, lookups: Lookups = _NO_LOOKUPS,
           group: str | None = None, capacity: Capacity | None = None) -> Candidate:
        """`capacity` (the instance's free capacity, a copy) defaults to the
        document's remainingResources."""
        if capacity is None:
            capacity = Capacity.from_resources(doc["remainingResources"])
        return cls(doc, capacity, connected, 0, lookups, group)

    # the query language's view ---------------------------------------------

    def attribute(self, name: str) -> str | None:
        if self._attributes is None:
            self._attributes = {a["name"]: a.get("value") or "" for a in self.doc.get("attributes") or ()}
        return self._attributes.get(name)

    def field(self, name: str) -> Any:
        if name == "agentConnected":
            return self.connected
        if name == "agentVersion":
            return (self.doc.get("versionInfo") or {}).get("agentVersion")
        if name == "runningTasksCount":
            return self.lookups.get("running").get(self.arn, 0)
        return self.doc.get(name)  # ec2InstanceId, registeredAt

    def task_groups(self) -> Iterable[str]:
        groups = self.lookups.get("groups").get(self.arn, ())
        if self.placed and self.group:
            return {*groups, self.group}
        return groups

    @property
    def group_count(self) -> int:
        """Live tasks of the request's group here, this request's included."""
        return self.lookups.get("counts").get(self.arn, 0) + self.placed


# -- filters -------------------------------------------------------------------


def agent_connected(candidate: Candidate, need: Reservation) -> str | None:
    return None if candidate.connected else "AGENT"


def fits(candidate: Candidate, need: Reservation) -> str | None:
    return candidate.capacity.shortfall(need)


def member_of(expression: query.Expression) -> Filter:
    def check(candidate: Candidate, need: Reservation) -> str | None:
        return None if expression.matches(candidate) else MEMBER_OF_UNSATISFIED

    return check


def distinct_instance(candidate: Candidate, need: Reservation) -> str | None:
    return DISTINCT_INSTANCE_UNSATISFIED if candidate.group_count else None


DEFAULT_FILTERS: tuple[Filter, ...] = (agent_connected, fits)


# -- rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    type: str  # random | spread | binpack
    field: str | None = None  # spread: instanceId | attribute:NAME; binpack: cpu | memory


@dataclass
class Rules:
    """A request's strategies and constraints, checked and parsed."""

    strategies: list[Strategy] = field(default_factory=list)
    expressions: list[query.Expression] = field(default_factory=list)
    distinct: bool = False

    @property
    def ranked(self) -> bool:
        return any(s.type != "random" for s in self.strategies)

    @property
    def filters(self) -> tuple[Filter, ...]:
        chain = list(DEFAULT_FILTERS)
        chain.extend(member_of(e) for e in self.expressions)
        if self.distinct:
            chain.append(distinct_instance)
        return tuple(chain)

    @property
    def needs_group_counts(self) -> bool:
        return self.distinct or any(s.type == "spread" for s in self.strategies)

    def task_groups_named(self) -> set[str] | None:
        """The task groups memberOf expressions ask about (None: all)."""
        names: set[str] = set()
        for expression in self.expressions:
            named = expression.task_groups_named()
            if named is None:
                return None
            names |= named
        return names

    def uses(self, name: str) -> bool:
        return any(e.uses_field(name) for e in self.expressions)


def parse_rules(
    strategies: Sequence[dict[str, Any]] | None,
    constraints: Sequence[dict[str, Any]] | None,
    definition_constraints: Sequence[dict[str, Any]] | None = None,
) -> Rules:
    """Check and parse placementStrategy and placementConstraints (the
    request's and the task definition's); raises PlacementRuleError or
    query.QueryError."""
    strategies = list(strategies or [])
    constraints = [*(constraints or []), *(definition_constraints or [])]
    if len(strategies) > MAX_STRATEGIES:
        raise PlacementRuleError(f"placementStrategy can have at most {MAX_STRATEGIES} items.")
    if len(constraints) > MAX_CONSTRAINTS:
        raise PlacementRuleError(
            f"A task can have at most {MAX_CONSTRAINTS} placement constraints, "
            "counting those of the task definition and those given at run time."
        )
    rules = Rules()
    for given in strategies:
        rules.strategies.append(_strategy(given))
    for given in constraints:
        kind, expression = given.get("type"), given.get("expression")
        if kind == "distinctInstance":
            if expression:
                raise PlacementRuleError(
                    "An expression cannot be specified for the distinctInstance placement constraint."
                )
            rules.distinct = True
        elif kind == "memberOf":
            if not expression:
                raise PlacementRuleError("The memberOf placement constraint requires an expression.")
            rules.expressions.append(query.parse(expression))
        else:
            raise PlacementRuleError(f"Unknown placement constraint type: {kind}.")
    return rules


def _strategy(given: dict[str, Any]) -> Strategy:
    kind, name = given.get("type"), given.get("field")
    if kind == "random":
        return Strategy("random")
    if kind == "binpack":
        if not name or name.lower() not in ("cpu", "memory"):
            raise PlacementRuleError(f"Invalid binpack field '{name}': use cpu or memory.")
        return Strategy("binpack", name.lower())
    if kind == "spread":
        if not name:
            raise PlacementRuleError("The spread placement strategy requires a field.")
        if name.lower() in ("instanceid", "host"):
            return Strategy("spread", "instanceId")
        if name.startswith("attribute:") and len(name) > len("attribute:"):
            return Strategy("spread", name)
        raise PlacementRuleError(
            f"Invalid spread field '{name}': use instanceId, host or attribute:<name>."
        )
    raise PlacementRuleError(f"Unknown placement strategy type: {kind}.")


# -- placing -------------------------------------------------------------------


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
    strategies: Sequence[Strategy] = (),
) -> Placement:
    """Place up to `count` tasks needing `need` each on built candidates,
    booking them on the chosen candidates' capacity."""
    return place_lazily(len(candidates), candidates.__getitem__, need, count, rng, filters, strategies)


def place_lazily(
    size: int,
    candidate_at: Callable[[int], Candidate],
    need: Reservation,
    count: int,
    rng: random.Random,
    filters: tuple[Filter, ...] = DEFAULT_FILTERS,
    strategies: Sequence[Strategy] = (),
) -> Placement:
    """As `place`, over `size` candidates built on demand by `candidate_at`."""
    if any(s.type != "random" for s in strategies):
        placement = _place_ranked([candidate_at(i) for i in range(size)], need, count, rng, filters, strategies)
    else:
        placement = _place_random(size, candidate_at, need, count, rng, filters)
    observe_placement(len(placement.chosen), count - len(placement.chosen), placement.rejections.values())
    return placement


def _place_random(
    size: int,
    candidate_at: Callable[[int], Candidate],
    need: Reservation,
    count: int,
    rng: random.Random,
    filters: tuple[Filter, ...],
) -> Placement:
    """Uniform among the feasible, drawing without replacement (a virtual
    Fisher-Yates shuffle): an instance found infeasible leaves the pool; one
    that took a task stays in it while it still fits."""
    rejections: dict[str, str] = {}
    built: dict[int, Candidate] = {}
    moved: dict[int, int] = {}  # pool slot → candidate index, where they differ
    remaining = size
    chosen: list[Candidate] = []
    while len(chosen) < count and remaining:
        slot = rng.randrange(remaining)
        index = moved.get(slot, slot)
        candidate = built.get(index)
        if candidate is None:
            candidate = built[index] = candidate_at(index)
        reason = _rejection(candidate, need, filters)
        if reason is None:
            candidate.capacity.reserve(need)
            candidate.placed += 1
            chosen.append(candidate)
            reason = _rejection(candidate, need, filters)
        if reason:  # drop it from the pool in O(1)
            rejections[candidate.arn] = reason
            last = remaining - 1
            moved[slot] = moved.get(last, last)
            remaining = last
    if len(chosen) == count:
        rejections = {}
    return Placement(chosen, rejections)


def _place_ranked(
    candidates: list[Candidate],
    need: Reservation,
    count: int,
    rng: random.Random,
    filters: tuple[Filter, ...],
    strategies: Sequence[Strategy],
) -> Placement:
    feasible: list[Candidate] = []
    rejections: dict[str, str] = {}
    for candidate in candidates:
        reason = _rejection(candidate, need, filters)
        if reason:
            rejections[candidate.arn] = reason
        else:
            feasible.append(candidate)
    # Tasks of the group per attribute value, for spread by attribute (all
    # candidates count, feasible or not: the spread is of the group's tasks).
    spreads = {s.field: _value_counts(candidates, s.field) for s in strategies
               if s.type == "spread" and s.field and s.field != "instanceId"}
    rank = _ranking(strategies, spreads, rng)
    chosen: list[Candidate] = []
    for _ in range(count):
        if not feasible:
            break
        index = min(range(len(feasible)), key=lambda i: rank(feasible[i]))
        pick = feasible[index]
        pick.capacity.reserve(need)
        pick.placed += 1
        for name, counts in spreads.items():
            value = pick.attribute(name[len("attribute:") :])
            counts[value] = counts.get(value, 0) + 1
        chosen.append(pick)
        reason = _rejection(pick, need, filters)
        if reason:
            rejections[pick.arn] = reason
            feasible[index] = feasible[-1]
            feasible.pop()
    if len(chosen) == count:
        rejections = {}
    return Placement(chosen, rejections)


def _value_counts(candidates: list[Candidate], name: str) -> dict[str | None, int]:
    attribute = name[len("attribute:") :]
    counts: dict[str | None, int] = {}
    for candidate in candidates:
        value = candidate.attribute(attribute)
        counts[value] = counts.get(value, 0) + candidate.group_count
    return counts


def _ranking(
    strategies: Sequence[Strategy], spreads: dict[str, dict[str | None, int]], rng: random.Random
) -> Callable[[Candidate], tuple[Any, ...]]:
    """The sort key of a candidate: one part per strategy, lowest best, and a
    random last part so ties go to chance."""
    parts: list[Callable[[Candidate], Any]] = []
    for strategy in strategies:
        if strategy.type == "random":
            parts.append(lambda c: rng.random())
            break  # nothing after random can break a tie
        if strategy.type == "binpack":
            parts.append((lambda c: c.capacity.cpu) if strategy.field == "cpu" else (lambda c: c.capacity.memory))
        elif strategy.field == "instanceId":
            parts.append(lambda c: c.group_count)
        else:
            name = strategy.field or ""
            counts, attribute = spreads[name], name[len("attribute:") :]
            parts.append(_spread_key(counts, attribute))
    parts.append(lambda c: rng.random())
    return lambda c: tuple(part(c) for part in parts)


def _spread_key(counts: dict[str | None, int], attribute: str) -> Callable[[Candidate], int]:
    """Rank by how many of the group's tasks share the candidate's value of `attribute`."""
    return lambda c: counts.get(c.attribute(attribute), 0)


def _rejection(candidate: Candidate, need: Reservation, filters: tuple[Filter, ...]) -> str | None:
    for check in filters:
        reason = check(candidate, need)
        if reason:
            return reason
    return None
