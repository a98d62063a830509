"""Placement strategies and constraints on small clusters with known outcomes
(RunTask, StartTask, task-definition constraints), as the ECS developer guide
describes them."""

from __future__ import annotations

import collections
import random

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_task_definition, resource, resources


def add_instance(ecs, zone="us-east-1a", itype="t2.small", cpu=2048, memory=4096, **extra):
    attributes = [{"name": "ecs.availability-zone", "value": zone},
                  {"name": "ecs.instance-type", "value": itype}]
    attributes += [{"name": k, "value": v} for k, v in extra.items()]
    out = ecs.register_container_instance(
        cluster="default", totalResources=resources(cpu=cpu, memory=memory),
        versionInfo={"agentVersion": "1.0.0", "agentHash": "portside", "dockerVersion": "28"},
        attributes=attributes,
    )
    return out["containerInstance"]["containerInstanceArn"]


@pytest.fixture
def cluster(ecs):
    ecs.create_cluster()
    register_task_definition(ecs)  # web: cpu 256, memory 512
    return ecs


def placed_on(out):
    return collections.Counter(t["containerInstanceArn"] for t in out["tasks"])


def test_binpack_fills_one_instance_first(cluster):
    ecs = cluster
    big = add_instance(ecs, memory=8192)
    small = add_instance(ecs, memory=2048)
    out = ecs.run_task(taskDefinition="web", count=4, placementStrategy=[{"type": "binpack", "field": "memory"}])
    assert placed_on(out) == {small: 4}  # least memory left first, until it is full
    out = ecs.run_task(taskDefinition="web", count=3, placementStrategy=[{"type": "binpack", "field": "memory"}])
    assert placed_on(out) == {big: 3}
    ci = ecs.describe_container_instances(containerInstances=[small])["containerInstances"][0]
    assert resource(ci, "remainingResources", "MEMORY") == 0


def test_binpack_cpu(cluster):
    ecs = cluster
    roomy = add_instance(ecs, cpu=4096)
    tight = add_instance(ecs, cpu=1024)
    out = ecs.run_task(taskDefinition="web", count=6, placementStrategy=[{"type": "binpack", "field": "cpu"}])
    assert placed_on(out) == {tight: 4, roomy: 2}


def test_spread_balances_across_zones(cluster):
    ecs = cluster
    zone_a = [add_instance(ecs, zone="us-east-1a", cpu=8192, memory=16384) for _ in range(3)]
    zone_b = [add_instance(ecs, zone="us-east-1b", cpu=8192, memory=16384)]
    strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    out = ecs.run_task(taskDefinition="web", count=10, placementStrategy=strategy)
    counts = placed_on(out)
    assert counts[zone_b[0]] == 5 and sum(counts[a] for a in zone_a) == 5
    # a second call keeps the balance, counting the group's earlier tasks
    out = ecs.run_task(taskDefinition="web", count=4, placementStrategy=strategy)
    counts = placed_on(out)
    assert counts[zone_b[0]] == 2


def test_spread_by_instance_then_chained(cluster):
    ecs = cluster
    arns = [add_instance(ecs, zone=z, cpu=8192, memory=16384) for z in ("a", "a", "b", "b")]
    strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "spread", "field": "instanceId"}]
    out = ecs.run_task(taskDefinition="web", count=8, placementStrategy=strategy)
    assert placed_on(out) == {a: 2 for a in arns}
    out = ecs.run_task(taskDefinition="web", count=4, group="other",
                       placementStrategy=[{"type": "spread", "field": "host"}])
    assert placed_on(out) == {a: 1 for a in arns}  # spread counts the group's own tasks only


def test_spread_zone_then_binpack_memory(cluster):
    ecs = cluster
    add_instance(ecs, zone="a", memory=8192)  # binpack leaves the big ones empty
    a_small = add_instance(ecs, zone="a", memory=4096)
    add_instance(ecs, zone="b", memory=8192)
    b_small = add_instance(ecs, zone="b", memory=4096)
    strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}]
    out = ecs.run_task(taskDefinition="web", count=4, placementStrategy=strategy)
    assert placed_on(out) == {a_small: 2, b_small: 2}


def test_random_strategy_and_default(cluster):
    ecs = cluster
    arns = {add_instance(ecs) for _ in range(2)}
    out = ecs.run_task(taskDefinition="web", count=8, placementStrategy=[{"type": "random"}])
    assert len(out["tasks"]) == 8 and set(placed_on(out)) <= arns


def test_distinct_instance_never_colocates(cluster):
    ecs = cluster
    arns = [add_instance(ecs) for _ in range(3)]
    out = ecs.run_task(taskDefinition="web", count=5, placementConstraints=[{"type": "distinctInstance"}])
    assert placed_on(out) == {a: 1 for a in arns}
    assert {f["reason"] for f in out["failures"]} == {"DistinctInstance placement constraint unsatisfied."}
    assert {f["arn"] for f in out["failures"]} == set(arns)
    # the same group again: every instance already runs one
    out = ecs.run_task(taskDefinition="web", placementConstraints=[{"type": "distinctInstance"}])
    assert out["tasks"] == [] and len(out["failures"]) == 3
    # another group is free to go anywhere
    out = ecs.run_task(taskDefinition="web", count=3, group="g2", placementConstraints=[{"type": "distinctInstance"}])
    assert placed_on(out) == {a: 1 for a in arns}


def test_member_of_respects_attributes(cluster):
    ecs = cluster
    t2 = add_instance(ecs, itype="t2.small", stack="prod")
    add_instance(ecs, itype="g2.2xlarge", stack="dev")
    out = ecs.run_task(taskDefinition="web", count=5,
                       placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"}])
    assert placed_on(out) == {t2: 5}
    out = ecs.run_task(taskDefinition="web", placementConstraints=[
        {"type": "memberOf", "expression": "attribute:stack == staging"}])
    assert out["tasks"] == []
    assert {f["reason"] for f in out["failures"]} == {"MemberOf placement constraint unsatisfied."}


def test_member_of_task_group_affinity_and_anti_affinity(cluster):
    ecs = cluster
    a, b = add_instance(ecs), add_instance(ecs)
    out = ecs.start_task(taskDefinition="web", containerInstances=[a], group="databases")
    assert len(out["tasks"]) == 1
    near = [{"type": "memberOf", "expression": "task:group == databases"}]
    out = ecs.run_task(taskDefinition="web", count=3, placementConstraints=near)
    assert placed_on(out) == {a: 3}
    away = [{"type": "memberOf", "expression": "not(task:group == databases)"}]
    out = ecs.run_task(taskDefinition="web", count=3, placementConstraints=away)
    assert placed_on(out) == {b: 3}


def test_task_definition_constraints_apply(cluster):
    ecs = cluster
    add_instance(ecs, stack="dev")
    prod = add_instance(ecs, stack="prod")
    ecs.register_task_definition(
        family="pinned", containerDefinitions=[{"name": "c", "image": "busybox", "cpu": 10, "memory": 16}],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:stack == prod"}])
    out = ecs.run_task(taskDefinition="pinned", count=4)
    assert placed_on(out) == {prod: 4}
    # StartTask ignores strategies but the definition's constraint binds
    dev = [a for a in ecs.list_container_instances()["containerInstanceArns"] if a != prod][0]
    out = ecs.start_task(taskDefinition="pinned", containerInstances=[dev, prod])
    assert placed_on(out) == {prod: 1}
    assert out["failures"] == [{"arn": dev, "reason": "MemberOf placement constraint unsatisfied."}]


def test_constraints_and_strategies_together(cluster):
    ecs = cluster
    g2 = [add_instance(ecs, zone=z, itype="g2.2xlarge", cpu=8192, memory=16384) for z in ("a", "b", "d")]
    add_instance(ecs, zone="a", itype="t2.small", cpu=8192, memory=16384)
    out = ecs.run_task(
        taskDefinition="web", count=6,
        placementConstraints=[{"type": "memberOf", "expression":
                               "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != d"}],
        placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    assert placed_on(out) == {g2[0]: 3, g2[1]: 3}


def test_resource_reasons_come_before_constraints(cluster):
    ecs = cluster
    arn = add_instance(ecs, cpu=256)
    ecs.run_task(taskDefinition="web")
    out = ecs.run_task(taskDefinition="web", placementConstraints=[
        {"type": "memberOf", "expression": "attribute:stack == nope"}])
    assert out["failures"] == [{"arn": arn, "reason": "RESOURCE:CPU"}]


@pytest.mark.parametrize("kw", [
    {"placementConstraints": [{"type": "memberOf", "expression": "attribute:stack =="}]},
    {"placementConstraints": [{"type": "memberOf", "expression": "bogus == 1"}]},
    {"placementConstraints": [{"type": "memberOf"}]},
    {"placementConstraints": [{"type": "distinctInstance", "expression": "attribute:a exists"}]},
    {"placementConstraints": [{"type": "memberOf", "expression": "x" * 2001}]},
    {"placementConstraints": [{"type": "distinctInstance"}] * 11},
    {"placementStrategy": [{"type": "binpack", "field": "disk"}]},
    {"placementStrategy": [{"type": "binpack"}]},
    {"placementStrategy": [{"type": "spread"}]},
    {"placementStrategy": [{"type": "spread", "field": "zone"}]},
    {"placementStrategy": [{"type": "random"}] * 6},
])
def test_bad_rules_are_invalid_parameter(cluster, kw):
    ecs = cluster
    add_instance(ecs)
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(taskDefinition="web", **kw)
    assert error_code(excinfo) == "InvalidParameterException"


def test_definition_constraints_count_toward_ten(cluster):
    ecs = cluster
    add_instance(ecs)
    ecs.register_task_definition(
        family="six", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 16}],
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type exists"}] * 6)
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(taskDefinition="six", placementConstraints=[{"type": "distinctInstance"}] * 5)
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.register_task_definition(
            family="bad", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 16}],
            placementConstraints=[{"type": "memberOf", "expression": "attribute:x in [a"}])
    assert error_code(excinfo) == "InvalidParameterException"


def test_placement_never_exceeds_resources(cluster):
    """Property: whatever the strategies, constraints and task sizes, no
    instance's remaining CPU or memory goes negative, and the tasks placed on
    each account exactly for what it lost."""
    ecs = cluster
    rng = random.Random(7)
    arns = [add_instance(ecs, zone=rng.choice("abc"), cpu=rng.choice([512, 1024, 2048]),
                         memory=rng.choice([1024, 2048, 3072])) for _ in range(6)]
    sizes = {}
    for i in range(5):
        cpu, memory = rng.choice([0, 128, 256, 512]), rng.choice([64, 256, 512, 1024])
        register_task_definition(ecs, family=f"f{i}", cpu=cpu, memory=memory)
        sizes[f"f{i}"] = (cpu, memory)
    strategies = [[], [{"type": "binpack", "field": "memory"}], [{"type": "binpack", "field": "cpu"}],
                  [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                   {"type": "spread", "field": "instanceId"}],
                  [{"type": "random"}]]
    used = collections.defaultdict(lambda: [0, 0])
    for _ in range(40):
        family = rng.choice(list(sizes))
        kw = {"placementStrategy": rng.choice(strategies)}
        if rng.random() < 0.3:
            kw["placementConstraints"] = [{"type": "distinctInstance"}]
        out = ecs.run_task(taskDefinition=family, count=rng.randint(1, 10), **kw)
        for task in out["tasks"]:
            used[task["containerInstanceArn"]][0] += sizes[family][0]
            used[task["containerInstanceArn"]][1] += sizes[family][1]
    for ci in ecs.describe_container_instances(containerInstances=arns)["containerInstances"]:
        cpu, memory = resource(ci, "remainingResources", "CPU"), resource(ci, "remainingResources", "MEMORY")
        assert cpu >= 0 and memory >= 0
        assert resource(ci, "registeredResources", "CPU") - cpu == used[ci["containerInstanceArn"]][0]
        assert resource(ci, "registeredResources", "MEMORY") - memory == used[ci["containerInstanceArn"]][1]


def test_task_groups_follow_live_tasks_across_restart_and_stop(server):
    """Which groups run where is derived from the live tasks: it survives a
    kill -9 of the server, and a task that stops frees its instance for
    distinctInstance and leaves memberOf task:group."""
    import signal

    ecs = server.client()
    ecs.create_cluster()
    register_task_definition(ecs)
    a, b = add_instance(ecs), add_instance(ecs)
    distinct = [{"type": "distinctInstance"}]
    out = ecs.run_task(taskDefinition="web", count=2, group="g", placementConstraints=distinct)
    tasks = {t["containerInstanceArn"]: t["taskArn"] for t in out["tasks"]}
    assert set(tasks) == {a, b}

    server.restart(signal.SIGKILL)
    ecs = server.client()
    out = ecs.run_task(taskDefinition="web", group="g", placementConstraints=distinct)
    assert out["tasks"] == [] and {f["arn"] for f in out["failures"]} == {a, b}

    ecs.stop_task(task=tasks[a])
    ecs.submit_task_state_change(task=tasks[a], status="STOPPED")
    near = [{"type": "memberOf", "expression": "task:group == g"}]
    assert placed_on(ecs.run_task(taskDefinition="web", count=2, placementConstraints=near)) == {b: 2}
    out = ecs.run_task(taskDefinition="web", group="g", placementConstraints=distinct)
    assert placed_on(out) == {a: 1}
    spread = [{"type": "spread", "field": "instanceId"}]
    out = ecs.run_task(taskDefinition="web", count=2, group="g", placementStrategy=spread)
    assert placed_on(out) == {a: 1, b: 1}
