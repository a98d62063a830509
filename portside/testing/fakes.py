"""Fakes for unit tests and simulations, one per seam: a clock that moves only
when told to, a runtime without Docker (the one `--runtime fake` runs), and a
reporter that records what an agent would send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..agent.fake_runtime import FakeRuntime

__all__ = ["FakeRuntime", "ManualClock", "RecordingReporter", "Report"]


class ManualClock:
    """A clock (portside.clock.Clock) that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class Report:
    task_arn: str
    operation: str
    params: dict[str, Any]


@dataclass
class RecordingReporter:
    """Keeps every report in order instead of sending it (agent.task_manager.ReportSink)."""

    reports: list[Report] = field(default_factory=list)

    def submit(self, task_arn: str, operation: str, **params: Any) -> None:
        self.reports.append(Report(task_arn, operation, params))

    def statuses(self, task_arn: str) -> list[str]:
        """The task statuses reported for `task_arn`, in order."""
        return [r.params["status"] for r in self.reports
                if r.task_arn == task_arn and r.operation == "submit_task_state_change"]
