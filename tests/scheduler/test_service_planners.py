"""The DAEMON planner and the rollout step, without a server: what one tick
of the service scheduler decides from the tasks and instances it read."""

from portside.domain.service_plans import LiveTask, daemon_leaving, plan_daemon, plan_rollout


def t(arn, dep, instance, last="RUNNING", desired="RUNNING"):
    return LiveTask(arn, dep, instance, desired, last)


# -- DAEMON ------------------------------------------------------------------------------


def test_daemon_starts_one_task_on_every_active_instance_without_one():
    plan = plan_daemon(True, "d", 0, [t("a1", "d", "i-a")], ["i-a", "i-b", "i-c"], {})
    assert plan.desired == 3 and plan.start_on == ["i-b", "i-c"] and plan.stop == []


def test_daemon_keeps_one_primary_task_per_instance():
    tasks = [t("a1", "d", "i-a"), t("a2", "d", "i-a", last="PENDING")]
    plan = plan_daemon(True, "d", 0, tasks, ["i-a"], {})
    assert [x.arn for x in plan.stop] == ["a2"] and plan.start_on == []


def test_daemon_starts_nothing_when_it_may_not():
    plan = plan_daemon(True, "d", 0, [], ["i-a", "i-b"], {}, may_start=False)
    assert plan.start_on == [] and plan.desired == 2


def test_daemon_replaces_old_deployment_tasks_within_minimum_healthy():
    old = [t(f"o{k}", "old", f"i-{k}") for k in range(4)]
    active = [f"i-{k}" for k in range(4)]
    plan = plan_daemon(True, "new", 50, old, active, {})  # keep 2 of 4 healthy: replace 2 now
    assert [x.arn for x in plan.stop] == ["o0", "o1"] and plan.start_on == []
    stopping = [t(x.arn, "old", x.instance_arn, desired="STOPPED") for x in plan.stop]
    plan = plan_daemon(True, "new", 50, stopping + old[2:], active, {})
    assert plan.start_on == ["i-0", "i-1"]  # the stopped ones' instances are free for the new deployment


def test_daemon_task_leaves_a_draining_instance_after_the_others():
    tasks = [t("a1", "d", "i-a"), t("b1", "d", "i-b")]
    assert daemon_leaving(tasks, ["i-a"], True) == ["i-b"]
    plan = plan_daemon(True, "d", 0, tasks, ["i-a"], {"i-b": 3})  # two other tasks still on i-b
    assert plan.stop == [] and plan.desired == 1
    plan = plan_daemon(True, "d", 0, tasks, ["i-a"], {"i-b": 1})  # only the daemon task left
    assert [x.arn for x in plan.stop] == ["b1"]


def test_a_deleted_daemon_stops_everything_at_once():
    tasks = [t("a1", "d", "i-a"), t("b1", "d", "i-b"), t("x", "d", None)]
    plan = plan_daemon(False, "d", 0, tasks, ["i-a", "i-b"], {"i-a": 5})
    assert plan.desired == 0 and sorted(x.arn for x in plan.stop) == ["a1", "b1", "x"] and plan.start_on == []


# -- the rollout step ------------------------------------------------------------------


PRIMARY = {"id": "new", "rolloutState": "IN_PROGRESS"}
OLD = {"id": "old", "rolloutState": "COMPLETED"}


def test_rollout_keeps_deployments_with_tasks_and_counts_them():
    tasks = [t("n1", "new", "i-a"), t("n2", "new", "i-a", last="PENDING"),
             t("o1", "old", "i-a"), t("o2", "old", "i-a", desired="STOPPED")]
    step = plan_rollout("ACTIVE", 2, [PRIMARY, OLD], tasks, was_steady=False)
    assert step.kept == ["new", "old"] and step.desired == {"old": 1}
    assert step.counts == {"new": (1, 1), "old": (2, 0)} and (step.running, step.pending) == (3, 1)
    assert not step.settled and not step.completed and not step.became_steady


def test_rollout_completes_once_the_primary_alone_runs_desired():
    tasks = [t("n1", "new", "i-a"), t("n2", "new", "i-b")]
    step = plan_rollout("ACTIVE", 2, [PRIMARY, OLD], tasks, was_steady=False)
    assert step.kept == ["new"]  # the old deployment's tasks are gone: INACTIVE
    assert step.settled and step.completed and step.became_steady
    step = plan_rollout("ACTIVE", 2, [{"id": "new", "rolloutState": "COMPLETED"}], tasks, was_steady=True)
    assert step.settled and not step.completed and not step.became_steady


def test_a_task_on_its_way_out_keeps_the_service_unsettled():
    tasks = [t("n1", "new", "i-a"), t("n2", "new", "i-b"), t("n3", "new", "i-b", desired="STOPPED")]
    step = plan_rollout("ACTIVE", 2, [PRIMARY], tasks, was_steady=True)
    assert not step.settled and not step.completed


def test_a_deleted_service_is_drained_when_its_tasks_are_gone():
    assert not plan_rollout("DRAINING", 0, [PRIMARY], [t("n1", "new", "i-a")], False).drained
    step = plan_rollout("DRAINING", 0, [PRIMARY, OLD], [], False)
    assert step.drained and not step.settled and step.kept == ["new"]


def test_an_unhealthy_task_keeps_the_rollout_in_progress_and_costs_health():
    tasks = [t("n1", "new", "i-a"), LiveTask("n2", "new", "i-b", "RUNNING", "RUNNING", healthy=False)]
    step = plan_rollout("ACTIVE", 2, [PRIMARY], tasks, was_steady=False)
    assert not step.settled and not step.completed
    old = [t(f"o{k}", "old", f"i-{k}", last="RUNNING") for k in range(2)]
    unhealthy_new = [LiveTask("n", "new", "i-9", "RUNNING", "RUNNING", healthy=False)]
    plan = plan_daemon(True, "new", 100, old + unhealthy_new, ["i-0", "i-1", "i-9"], {})
    assert plan.stop == []  # 2 healthy of 3 wanted: nothing to spare at 100 %


def test_after_failures_a_service_settles_only_once_its_tasks_stay_running():
    """A container that crashes at once is RUNNING for a moment: a tick that
    saw that moment must not reset the failure streak (a crash loop on Docker
    was never throttled)."""
    tasks = [t("n1", "new", "i-a")]
    step = plan_rollout("ACTIVE", 1, [PRIMARY], tasks, was_steady=False, fail_streak=3, now=100.0,
                        stable_after_s=10.0)
    assert not step.settled and not step.became_steady and step.settled_since == 100.0
    step = plan_rollout("ACTIVE", 1, [PRIMARY], tasks, False, 3, step.settled_since, 109.0, 10.0)
    assert not step.settled and step.settled_since == 100.0
    step = plan_rollout("ACTIVE", 1, [PRIMARY], tasks, False, 3, step.settled_since, 110.0, 10.0)
    assert step.settled and step.became_steady
    # no failures: settled at once, as before
    assert plan_rollout("ACTIVE", 1, [PRIMARY], tasks, False, 0, None, 100.0, 10.0).settled
    # the task gone meanwhile: the clock starts again
    assert plan_rollout("ACTIVE", 1, [PRIMARY], [], False, 3, 100.0, 120.0, 10.0).settled_since is None
