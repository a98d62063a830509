"""The deployment circuit breaker's resetOnHealthyTask (default true) and
thresholdConfiguration, with real containers: a task that reaches a healthy
state (RUNNING and its health check passed) sets the deployment's failure
count back to 0; with resetOnHealthyTask false the count only grows, and
the deployment fails at the COUNT threshold.  Failed tasks here are tasks
the service stopped for failing their health check.

With the reset, the threshold leaves room for the tasks that fail before
the first healthy one: the two running when /ctl/open appears, their two
replacements if they were started just before it, and one started beside
the healthy one whose check runs first by a moment (five failed tasks after
two were seen: COUNT 4 and 5 both failed in CI).  Without it, COUNT 5 is
reached while one task stays healthy."""

import time
from itertools import pairwise

import pytest

from conftest import TEST_IMAGE

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done"
# unhealthy until /ctl/open exists; then the first task to take /ctl/slot turns healthy, the others do not
SCRIPT = f"[ -f /ctl/open ] && mkdir /ctl/slot 2>/dev/null && touch /tmp/good; {LOOP}"
CHECK = {"command": ["CMD-SHELL", "test -f /tmp/good"], "interval": 5, "timeout": 2, "retries": 1}


@pytest.mark.parametrize("reset", [None, False], ids=["default", "false"])
def test_a_task_reaching_a_healthy_state_resets_the_failure_count(server, docker_agent, tmp_path, reset):
    ecs = server.client()
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    ecs.register_task_definition(family="flaky", volumes=[{"name": "ctl", "host": {"sourcePath": str(ctl)}}],
                                 containerDefinitions=[{
                                     "name": "app", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", SCRIPT],
                                     "healthCheck": CHECK,
                                     "mountPoints": [{"sourceVolume": "ctl", "containerPath": "/ctl"}]}])
    threshold = 5 if reset is False else 12
    breaker = {"enable": True, "rollback": False, "thresholdConfiguration": {"type": "COUNT", "value": threshold}}
    if reset is not None:
        breaker["resetOnHealthyTask"] = reset
    ecs.create_service(serviceName="flaky", taskDefinition="flaky", desiredCount=2,
                       deploymentConfiguration={"deploymentCircuitBreaker": breaker})

    def deployment():
        return ecs.describe_services(services=["flaky"])["services"][0]["deployments"][0]

    deadline = time.monotonic() + 40
    while deployment()["failedTasks"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    (ctl / "open").touch()  # from now on one new task turns HEALTHY, the others still fail their check
    seen = [deployment()]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = deployment()
        seen.append(now)
        dropped = any(b["failedTasks"] < a["failedTasks"] for a, b in pairwise(seen))
        if (reset is None and dropped) or now["rolloutState"] == "FAILED":
            break
        time.sleep(0.2)
    counts = [d["failedTasks"] for d in seen]
    if reset is None:
        assert dropped, (counts, seen[-1]["rolloutState"])  # reset to 0 when the running task reached a healthy state
        assert seen[-1]["rolloutState"] == "IN_PROGRESS"
    else:
        assert counts == sorted(counts), counts  # never reset
        assert seen[-1]["rolloutState"] == "FAILED" and seen[-1]["failedTasks"] >= threshold, counts
        assert seen[-1]["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    ecs.update_service(service="flaky", desiredCount=0)
    ecs.delete_service(service="flaky", force=True)
