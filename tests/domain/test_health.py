"""Task health as ECS derives it from its containers' (pure)."""

from portside.domain import health
from portside.domain.service import LiveTask, plan_replica


def test_essential_containers_with_checks_decide():
    H, U, K = health.HEALTHY, health.UNHEALTHY, health.UNKNOWN
    assert health.task_health([]) == K
    assert health.task_health([(True, False, K)]) == K  # no check anywhere
    assert health.task_health([(True, True, H), (False, True, U)]) == H  # non-essential ignored
    assert health.task_health([(True, True, H), (True, True, K)]) == K
    assert health.task_health([(True, True, U), (True, True, K)]) == U
    assert health.task_health([(True, False, K), (False, True, U)]) == U  # only non-essential checks


def test_docker_states():
    assert [health.from_docker(s) for s in ("starting", "healthy", "unhealthy", None)] == [
        "UNKNOWN", "HEALTHY", "UNHEALTHY", "UNKNOWN"]


def test_a_rollout_keeps_old_tasks_while_new_ones_are_not_healthy():
    old = LiveTask("a", "old", "i", "RUNNING", "RUNNING")
    new = LiveTask("b", "new", "i", "RUNNING", "RUNNING", healthy=False)
    plan = plan_replica(1, 100, 200, "new", [old, new], {"i"})
    assert plan.stop == []  # the new task is RUNNING but not yet healthy
    plan = plan_replica(1, 100, 200, "new", [old, LiveTask("b", "new", "i", "RUNNING", "RUNNING")], {"i"})
    assert plan.stop == [old]
