"""The BLUE_GREEN stage machine and PAUSE hooks (domain/lifecycle.py), without a server."""

from portside.domain import lifecycle
from portside.domain.service_plans import LiveTask

CONFIG = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}


def task(n, started_by, last="RUNNING", desired="RUNNING"):
    return LiveTask(f"t{n}", started_by, "i1", desired, last)


def test_green_in_full_then_bake_then_blue_stopped():
    lc = lifecycle.start("green", 1, now=0.0)
    assert lc.stage == "PRE_SCALE_UP"
    blue = [task(1, "blue"), task(2, "blue")]
    step = lifecycle.plan_blue_green(lc, CONFIG, 2, "green", blue, {"i1"}, True, now=0.0)
    assert (lc.stage, step.start, step.stop) == ("SCALE_UP", 2, [])  # all of green at once
    greens = [task(3, "green", last="PENDING"), task(4, "green")]
    step = lifecycle.plan_blue_green(lc, CONFIG, 2, "green", blue + greens, {"i1"}, True, now=1.0)
    assert (lc.stage, step.start, step.stop) == ("SCALE_UP", 0, [])  # waits for RUNNING
    greens[0] = task(3, "green")
    step = lifecycle.plan_blue_green(lc, CONFIG, 2, "green", blue + greens, {"i1"}, True, now=2.0)
    assert lc.stage == "BAKE_TIME" and step.stop == []
    step = lifecycle.plan_blue_green(lc, CONFIG, 2, "green", blue + greens, {"i1"}, True, now=61.0)
    assert lc.stage == "BAKE_TIME"
    step = lifecycle.plan_blue_green(lc, CONFIG, 2, "green", blue + greens, {"i1"}, True, now=62.5)
    assert lc.stage == "CLEAN_UP" and step.stop == blue
    assert lifecycle.completing(lc, "green")


def test_reconcile_stage_only_with_several_revisions():
    assert lifecycle.start("g", 2, 0.0).stage == "RECONCILE_SERVICE"
    assert lifecycle.start("g", 0, 0.0).stage == "PRE_SCALE_UP"


def test_pause_hook_waits_then_times_out():
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
              "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "ROLLBACK"}}]
    config = dict(CONFIG, bakeTimeInMinutes=0, lifecycleHooks=hooks)
    lc = lifecycle.start("green", 1, 0.0)
    greens = [task(3, "green")]
    lifecycle.plan_blue_green(lc, config, 1, "green", greens, {"i1"}, True, now=0.0)
    assert lc.stage == "POST_SCALE_UP"
    (run,) = lc.awaiting()
    assert run.expires_at == 120.0 and run.detail()["status"] == "AWAITING_ACTION"
    step = lifecycle.plan_blue_green(lc, config, 1, "green", greens, {"i1"}, True, now=100.0)
    assert lc.stage == "POST_SCALE_UP" and step.rollback is None
    step = lifecycle.plan_blue_green(lc, config, 1, "green", greens, {"i1"}, True, now=120.0)
    assert step.rollback and run.status == "TIMED_OUT"


def test_continued_hook_lets_it_go_on():
    hooks = [{"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"]}]
    config = dict(CONFIG, lifecycleHooks=hooks)
    lc = lifecycle.start("green", 1, 0.0)
    step = lifecycle.plan_blue_green(lc, config, 1, "green", [], {"i1"}, True, now=0.0)
    assert lc.stage == "PRE_SCALE_UP" and step.start == 0
    lc.awaiting()[0].status = "SUCCEEDED"
    step = lifecycle.plan_blue_green(lc, config, 1, "green", [], {"i1"}, True, now=1.0)
    assert lc.stage == "SCALE_UP" and step.start == 1
    assert len(lc.hooks) == 1  # not opened again


def test_hook_refusals():
    assert "AWS_LAMBDA" in lifecycle.hooks_problem(dict(CONFIG, lifecycleHooks=[{"lifecycleStages": ["PRE_SCALE_UP"]}]))
    assert "BLUE_GREEN" in lifecycle.hooks_problem({"lifecycleHooks": [{"targetType": "PAUSE"}]})
    assert lifecycle.hooks_problem(dict(CONFIG, lifecycleHooks=[
        {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}])) is None
