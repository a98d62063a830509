"""PutAttributes, ListAttributes, DeleteAttributes and ListContainerInstances'
`filter`, as the ECS API reference and developer guide describe them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition


@pytest.fixture
def two(ecs):
    ecs.create_cluster()
    ecs.a = register_instance(ecs)
    ecs.b = register_instance(ecs)
    return ecs


def attrs(ecs, arn):
    ci = ecs.describe_container_instances(containerInstances=[arn])["containerInstances"][0]
    return {a["name"]: a.get("value") for a in ci["attributes"]}


def test_put_list_delete_round_trip(two):
    ecs = two
    out = ecs.put_attributes(attributes=[
        {"name": "stack", "value": "prod", "targetId": ecs.a},
        {"name": "project", "value": "a", "targetId": ecs.a.rsplit("/", 1)[1], "targetType": "container-instance"},
        {"name": "gpu", "targetId": ecs.b},
    ])
    assert len(out["attributes"]) == 3
    assert attrs(ecs, ecs.a)["stack"] == "prod" and attrs(ecs, ecs.a)["project"] == "a"
    assert "gpu" in attrs(ecs, ecs.b)
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert listed == [{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": ecs.a}]
    assert ecs.list_attributes(targetType="container-instance", attributeName="stack",
                               attributeValue="dev")["attributes"] == []
    builtin = ecs.list_attributes(targetType="container-instance", attributeName="ecs.availability-zone")
    assert {a["targetId"] for a in builtin["attributes"]} == {ecs.a, ecs.b}
    # replace a value
    ecs.put_attributes(attributes=[{"name": "stack", "value": "dev", "targetId": ecs.a}])
    assert attrs(ecs, ecs.a)["stack"] == "dev"
    ecs.delete_attributes(attributes=[{"name": "stack", "targetId": ecs.a}])
    assert "stack" not in attrs(ecs, ecs.a) and attrs(ecs, ecs.a)["project"] == "a"


def test_list_attributes_pages(two):
    ecs = two
    ecs.put_attributes(attributes=[{"name": f"k{i}", "value": "v", "targetId": ecs.a} for i in range(5)])
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        out = ecs.list_attributes(targetType="container-instance", maxResults=3, **kw)
        seen += [(a["targetId"], a["name"]) for a in out["attributes"]]
        token = out.get("nextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) and {n for _, n in seen} >= {f"k{i}" for i in range(5)}


def test_attribute_limit(two):
    ecs = two
    ecs.put_attributes(attributes=[{"name": f"k{i}", "value": "v", "targetId": ecs.a} for i in range(10)])
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(attributes=[{"name": "one-more", "value": "v", "targetId": ecs.a}])
    assert error_code(excinfo) == "AttributeLimitExceededException"
    ecs.put_attributes(attributes=[{"name": "k0", "value": "again", "targetId": ecs.a}])  # a replace is fine


def test_target_not_found(two):
    ecs = two
    missing = ecs.a.rsplit("/", 1)[0] + "/00000000000000000000000000000000"
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(attributes=[{"name": "x", "value": "y", "targetId": missing}])
    assert error_code(excinfo) == "TargetNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_attributes(attributes=[{"name": "x", "targetId": missing}])
    assert error_code(excinfo) == "TargetNotFoundException"


@pytest.mark.parametrize("attribute", [
    {"name": "", "value": "v"},
    {"name": "bad name", "value": "v"},
    {"name": "n" * 129, "value": "v"},
    {"name": "ok", "value": " leading"},
    {"name": "ok", "value": "v" * 129},
    {"name": "ok", "value": "semi;colon"},
    {"name": "ecs.instance-type", "value": "t2.small"},
])
def test_bad_attributes(two, attribute):
    ecs = two
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(attributes=[{**attribute, "targetId": two.a}])
    assert error_code(excinfo) == "InvalidParameterException"


def test_short_id_needs_target_type_and_value_needs_name(two):
    ecs = two
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(attributes=[{"name": "x", "value": "y", "targetId": ecs.a.rsplit("/", 1)[1]}])
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_attributes(targetType="container-instance", attributeValue="y")
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(attributes=[{"name": f"k{i}", "value": "v", "targetId": ecs.a} for i in range(11)])
    assert error_code(excinfo) == "InvalidParameterException"


def test_put_is_all_or_nothing(two):
    ecs = two
    with pytest.raises(ClientError):
        ecs.put_attributes(attributes=[{"name": "good", "value": "v", "targetId": ecs.a},
                                       {"name": "x", "value": "y", "targetId": ecs.a[:-3] + "abc"}])
    assert "good" not in attrs(ecs, ecs.a)


def test_list_container_instances_filter(two):
    ecs = two
    ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": ecs.a},
                                   {"name": "stack", "value": "dev", "targetId": ecs.b}])
    def listed(expression, **kw):
        return ecs.list_container_instances(filter=expression, **kw)["containerInstanceArns"]
    assert listed("attribute:stack == prod") == [ecs.a]
    assert listed("attribute:stack != prod") == [ecs.b]
    assert listed("attribute:stack in [prod, dev]") == [ecs.a, ecs.b]
    assert listed("attribute:ecs.availability-zone == local-1a and attribute:stack =~ d.*") == [ecs.b]
    assert listed("attribute:nothing exists") == []
    assert listed("agentConnected == true") == [ecs.a, ecs.b]
    assert listed("runningTasksCount == 0") == [ecs.a, ecs.b]
    assert listed("registeredAt > 2018-02-13") == [ecs.a, ecs.b]
    register_task_definition(ecs)
    ecs.start_task(taskDefinition="web", containerInstances=[ecs.b], group="databases")
    assert listed("task:group == databases") == [ecs.b]
    assert listed("not(task:group == databases)") == [ecs.a]
    first = ecs.list_container_instances(filter="attribute:stack exists", maxResults=1)
    assert first["containerInstanceArns"] == [ecs.a]
    rest = ecs.list_container_instances(filter="attribute:stack exists", nextToken=first["nextToken"])
    assert rest["containerInstanceArns"] == [ecs.b] and "nextToken" not in rest
    for bad in ("attribute:stack ==", "stack == prod", "(attribute:a exists"):
        with pytest.raises(ClientError) as excinfo:
            listed(bad)
        assert error_code(excinfo) == "InvalidParameterException"


def test_placement_reads_put_attributes(two):
    ecs = two
    register_task_definition(ecs)
    ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": ecs.b}])
    out = ecs.run_task(taskDefinition="web", count=4,
                       placementConstraints=[{"type": "memberOf", "expression": "attribute:stack == prod"}])
    assert {t["containerInstanceArn"] for t in out["tasks"]} == {ecs.b}
