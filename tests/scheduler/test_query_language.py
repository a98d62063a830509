"""The cluster query language: grammar, operators, errors (pure, no server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from portside.scheduler.query import QueryError, parse


@dataclass
class Inst:
    attributes: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def attribute(self, name):
        return self.attributes.get(name)

    def field(self, name):
        return self.fields.get(name)

    def task_groups(self):
        return self.groups


T2 = Inst({"ecs.instance-type": "t2.small", "ecs.availability-zone": "us-east-1a", "stack": "prod"},
          {"ec2InstanceId": "i-abcd1234", "agentConnected": True, "agentVersion": "1.14.5",
           "registeredAt": 1_600_000_000.0, "runningTasksCount": 1}, ["service:production"])
G2 = Inst({"ecs.instance-type": "g2.2xlarge", "ecs.availability-zone": "us-east-1d"},
          {"ec2InstanceId": "i-wxyx7890", "agentConnected": False, "agentVersion": "1.9.0",
           "registeredAt": 1_500_000_000.0, "runningTasksCount": 0}, [])


@pytest.mark.parametrize("text, t2, g2", [
    ("attribute:ecs.instance-type == t2.small", True, False),
    ("attribute:ecs.instance-type equals t2.small", True, False),
    ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True, False),
    ("attribute:ecs.availability-zone not_in [us-east-1a, us-east-1b]", False, True),
    ("attribute:ecs.availability-zone !in [us-east-1a]", False, True),
    ("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", False, False),
    ("attribute:ecs.instance-type =~ g2.* or attribute:ecs.availability-zone != us-east-1d", True, True),
    ("attribute:ecs.instance-type matches t2.*", True, False),
    ("attribute:ecs.instance-type !~ t2.*", False, True),
    ("attribute:ecs.instance-type not_matches 't2\\..*'", False, True),
    ("attribute:stack exists", True, False),
    ("attribute:stack !exists", False, True),
    ("attribute:stack not_exists", False, True),
    ("attribute:stack != prod", False, False),  # != needs the attribute
    ("not attribute:stack == prod", False, True),
    ("!(attribute:stack == prod)", False, True),
    ("task:group == service:production", True, False),
    ("not(task:group == database)", True, True),
    ("task:group != service:production", False, False),
    ("task:group exists", True, False),
    ("task:group =~ service:.*", True, False),
    ("runningTasksCount == 1", True, False),
    ("runningTasksCount > 0", True, False),
    ("runningTasksCount <= 0", False, True),
    ("agentVersion < 1.14.5", False, True),
    ("agentVersion >= 1.10.0", True, False),
    ("registeredAt < 2018-02-13", False, True),
    ("registeredAt > 2018-06-18T22:28:28Z", True, False),
    ("registeredAt greater_than 2018-06-18T22:28:28+00:00", True, False),
    ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", True, True),
    ("ec2InstanceId == \"i-abcd1234\"", True, False),
    ("agentConnected == false", False, True),
    ("agentConnected != true", False, True),
    ("(attribute:stack == prod or runningTasksCount == 0) and agentConnected == true", True, False),
    ("attribute:stack == prod || runningTasksCount == 0 && agentConnected == true", True, False),
    ("a:b == c" if False else "attribute:x == 1 or attribute:ecs.os-type !exists", True, True),
    ("attribute:ecs.instance-type==t2.small&&runningTasksCount>=1", True, False),
])
def test_expressions(text, t2, g2):
    expression = parse(text)
    assert expression.matches(T2) is t2
    assert expression.matches(G2) is g2


def test_precedence_and_binds_tighter_than_or():
    # false or (true and false) = false; (false or true) and false = false; check a distinguishing case
    x = Inst({"a": "1", "b": "1"})
    assert parse("attribute:a == 1 or attribute:b == 2 and attribute:c exists").matches(x)
    assert not parse("(attribute:a == 1 or attribute:b == 2) and attribute:c exists").matches(x)


def test_numeric_attribute_comparison():
    x = Inst({"cores": "16", "rev": "1.10"})
    assert parse("attribute:cores > 9").matches(x)
    assert parse("attribute:rev > 1.9").matches(x)


@pytest.mark.parametrize("text", [
    "",
    "   ",
    "attribute:stack",
    "attribute:stack ==",
    "attribute:stack === prod",
    "attribute:stack == prod and",
    "(attribute:stack == prod",
    "attribute:stack == prod)",
    "attribute:stack in prod",
    "attribute:stack in [prod",
    "attribute:stack in [prod,]",
    "attribute:stack =~ '('",
    "attribute:stack == 'prod",
    "bogus == 1",
    "attribute: == 1",
    "runningTasksCount == lots",
    "runningTasksCount =~ 1",
    "registeredAt < yesterday",
    "agentConnected == maybe",
    "agentVersion exists",
    "ec2InstanceId > i-1",
    "attribute:a == 1 attribute:b == 2",
    "attribute:a == 1 xor attribute:b == 2",
    "x" * 2001,
])
def test_bad_expressions(text):
    with pytest.raises(QueryError):
        parse(text)


def test_task_groups_named():
    assert parse("task:group == a or task:group in [b, c]").task_groups_named() == {"a", "b", "c"}
    assert parse("task:group =~ a.*").task_groups_named() is None
    assert parse("attribute:x exists").task_groups_named() == set()
