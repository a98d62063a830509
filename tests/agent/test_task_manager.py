"""The agent's task manager on its own: no server, no agent, no Docker.  It is
given a fake runtime, a recording reporter and a manual clock (portside/testing),
and says when it is done through the callback it was given."""

import asyncio

from portside.agent.task_manager import TaskHost, TaskManager
from portside.domain.status import Status
from portside.testing.fakes import FakeRuntime, ManualClock, RecordingReporter

ARN = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"


def _task(*containers: dict) -> dict:
    return {"taskArn": ARN, "desiredStatus": "RUNNING", "lastStatus": "PENDING", "networkMode": "bridge",
            "family": "app", "revision": 1, "containers": list(containers)}


def _host(runtime: FakeRuntime, reporter: RecordingReporter, clock: ManualClock, done: list) -> TaskHost:
    return TaskHost(runtime=runtime, reporter=reporter, clock=clock, cluster="default",
                    instance_arn="arn:aws:ecs:us-east-1:123456789012:container-instance/default/i1",
                    stop_timeout=30.0, finished=done.append)


def test_a_task_runs_exits_and_is_reported_in_order_with_the_clock_it_was_given():
    async def scenario():
        runtime, reporter, clock, done = FakeRuntime(), RecordingReporter(), ManualClock(1000.0), []
        manager = TaskManager(_host(runtime, reporter, clock, done),
                              _task({"name": "app", "image": "fake", "command": ["sh", "-c", "exit 3"]}), [])
        task = manager.start()
        assert manager.start() is task  # started once; the manager keeps the reference
        await asyncio.wait_for(task, 5)
        return manager, reporter, done

    manager, reporter, done = asyncio.run(scenario())
    assert done == [manager]
    assert reporter.statuses(ARN) == ["RUNNING", "STOPPED"]
    stopped = reporter.reports[-1].params
    assert stopped["executionStoppedAt"] == 1000.0 and stopped["pullStartedAt"] == 1000.0
    assert stopped["containers"][0]["exitCode"] == 3 and stopped["containers"][0]["status"] == "STOPPED"
    assert manager.containers["app"].status is Status.STOPPED


def test_desired_stopped_stops_the_running_containers():
    async def scenario():
        runtime, reporter, clock, done = FakeRuntime(), RecordingReporter(), ManualClock(), []
        manager = TaskManager(_host(runtime, reporter, clock, done),
                              _task({"name": "app", "image": "fake"}), [])  # runs until stopped
        task = manager.start()
        while reporter.statuses(ARN) != ["RUNNING"]:
            await asyncio.sleep(0.01)
        manager.set_desired("STOPPED")
        await asyncio.wait_for(task, 5)
        return reporter, done

    reporter, done = asyncio.run(scenario())
    assert len(done) == 1
    assert reporter.statuses(ARN) == ["RUNNING", "STOPPED"]
    assert reporter.reports[-1].params["containers"][0]["exitCode"] == 143  # SIGTERM


def test_a_failed_pull_stops_the_task_before_anything_runs():
    async def scenario():
        reporter, done = RecordingReporter(), []
        manager = TaskManager(_host(FakeRuntime(), reporter, ManualClock(), done),
                              _task({"name": "app", "image": "does-not-exist"}), [])
        await asyncio.wait_for(manager.start(), 5)
        return reporter

    reporter = asyncio.run(scenario())
    assert reporter.statuses(ARN) == ["STOPPED"]
    assert reporter.reports[-1].params["containers"][0]["reason"].startswith("CannotPullContainerError")


def test_created_is_the_agents_own_status_and_never_reported():
    from portside.domain.status import REPORTED

    assert Status.PENDING < Status.CREATED < Status.RUNNING
    assert "CREATED" not in REPORTED and "RUNNING" in REPORTED
