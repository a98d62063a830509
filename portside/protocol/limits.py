"""The documented ECS limits that botocore's model does not carry.

One table, checked after shape validation, so no handler repeats an `if` for a
size, count or name rule.  Every breach is an `InvalidParameterException`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameterException

NAME_255 = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


@dataclass(frozen=True)
class Range:
    """An integer member, when given, lies in [low, high]."""

    member: str
    low: int
    high: int

    def check(self, params: dict[str, Any]) -> None:
        value = params.get(self.member)
        if value is not None and not self.low <= value <= self.high:
            raise InvalidParameterException(
                f"{self.member} must be between {self.low} and {self.high}."
            )


@dataclass(frozen=True)
class Items:
    """A list member, when given, has between low and high items."""

    member: str
    low: int
    high: int

    def check(self, params: dict[str, Any]) -> None:
        value = params.get(self.member)
        if value is not None and not self.low <= len(value) <= self.high:
            raise InvalidParameterException(
                f"{self.member} can have at least {self.low} and at most {self.high} items."
            )


@dataclass(frozen=True)
class MaxLength:
    """A string member, when given, is at most `high` characters."""

    member: str
    high: int

    def check(self, params: dict[str, Any]) -> None:
        value = params.get(self.member)
        if value is not None and len(value) > self.high:
            raise InvalidParameterException(
                f"{self.member} can have at most {self.high} characters."
            )


@dataclass(frozen=True)
class JsonChars:
    """A structure member whose JSON text is at most `high` characters."""

    member: str
    high: int

    def check(self, params: dict[str, Any]) -> None:
        value = params.get(self.member)
        if value is not None and len(json.dumps(value, separators=(",", ":"))) > self.high:
            raise InvalidParameterException(
                f"{self.member} can have at most {self.high} characters of JSON."
            )


@dataclass(frozen=True)
class DocumentBytes:
    """The whole request, as compact UTF-8 JSON without the members named in
    `excluding`, is at most `high` bytes (AWS: a task definition ≤ 64 KiB)."""

    what: str
    high: int
    excluding: tuple[str, ...] = ()

    def check(self, params: dict[str, Any]) -> None:
        document = {k: v for k, v in params.items() if k not in self.excluding}
        size = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.high:
            raise InvalidParameterException(
                f"{self.what} can be at most {self.high} bytes; this one has {size}."
            )


@dataclass(frozen=True)
class Pattern:
    """A string member, when given, matches a documented naming rule."""

    member: str
    regex: re.Pattern[str]
    rule: str

    def check(self, params: dict[str, Any]) -> None:
        value = params.get(self.member)
        if value is not None and not self.regex.match(value):
            raise InvalidParameterException(f"{self.member} {self.rule}")


_NAME_RULE = "must be 1-255 letters (uppercase and lowercase), numbers, hyphens and underscores."
_PAGE = Range("maxResults", 1, 100)
_TAGS = Items("tags", 0, 50)

LIMITS: dict[str, tuple[Any, ...]] = {
    "CreateCluster": (Pattern("clusterName", NAME_255, _NAME_RULE), _TAGS),
    "DescribeClusters": (Items("clusters", 0, 100),),
    "ListClusters": (_PAGE,),
    "RegisterTaskDefinition": (
        Pattern("family", NAME_255, _NAME_RULE),
        Items("containerDefinitions", 1, 10),
        _TAGS,
        DocumentBytes("A task definition", 64 * 1024, excluding=("tags",)),
    ),
    "ListTaskDefinitions": (_PAGE,),
    "ListTaskDefinitionFamilies": (_PAGE,),
    "DeleteTaskDefinitions": (Items("taskDefinitions", 1, 10),),
    "RegisterContainerInstance": (_TAGS,),
    "DescribeContainerInstances": (Items("containerInstances", 0, 100),),  # empty: after the cluster check
    "ListContainerInstances": (_PAGE, MaxLength("filter", 2000)),
    "PutAttributes": (Items("attributes", 1, 10),),
    "DeleteAttributes": (Items("attributes", 1, 10),),
    "ListAttributes": (_PAGE,),
    "UpdateContainerInstancesState": (Items("containerInstances", 1, 10),),
    "RunTask": (
        Range("count", 1, 10),
        JsonChars("overrides", 8192),
        MaxLength("startedBy", 128),  # AWS takes spaces too ("ECS Deploy")
        MaxLength("group", 255),
        MaxLength("clientToken", 64),
        Items("placementConstraints", 0, 10),
        Items("placementStrategy", 0, 5),
        _TAGS,
    ),
    "StartTask": (
        Items("containerInstances", 1, 10),
        JsonChars("overrides", 8192),
        MaxLength("startedBy", 128),  # AWS takes spaces too ("ECS Deploy")
        MaxLength("group", 255),
        _TAGS,
    ),
    "StopTask": (MaxLength("reason", 255),),
    "DescribeTasks": (Items("tasks", 0, 100),),
    "ListTasks": (_PAGE,),
    "ListServices": (_PAGE,),
    "SubmitContainerStateChange": (MaxLength("reason", 255),),
    "SubmitTaskStateChange": (MaxLength("reason", 255),),
    "TagResource": (Items("tags", 1, 50),),
    "UntagResource": (Items("tagKeys", 1, 50),),
    "ListServiceDeployments": (_PAGE,),
    "DescribeServiceDeployments": (Items("serviceDeploymentArns", 1, 20),),
    "DescribeServiceRevisions": (Items("serviceRevisionArns", 1, 20),),
    "ListServicesByNamespace": (_PAGE,),
    "SubmitAttachmentStateChanges": (Items("attachments", 1, 100),),
}


def check_limits(operation: str, params: dict[str, Any]) -> None:
    for limit in LIMITS.get(operation, ()):
        limit.check(params)
