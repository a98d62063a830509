"""New tasks are stored (and answered) without the output-shape walk, so
`domain.task.new_task` must make nothing but members of botocore's Task shape,
with no nulls: walking what was stored through the shape must change nothing.
Driven in-process through the real request pipeline (validation included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portside.config import ServerConfig
from portside.protocol.dispatch import dispatch
from portside.protocol.model import service_model
from portside.protocol.serialize import serializer_for
from portside.server.runner import build_context

TARGET = "AmazonEC2ContainerServiceV20141113."


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory):
    ctx = build_context(ServerConfig(data_dir=Path(tmp_path_factory.mktemp("data"))))

    def call(operation: str, **params):
        status, body = dispatch(ctx, TARGET + operation, json.dumps(params).encode())
        assert status == 200, body
        return json.loads(body)

    call("CreateCluster")
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 100000},
                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 100000}]
    call("RegisterContainerInstance", totalResources=resources,
         attributes=[{"name": "ecs.availability-zone", "value": "us-east-1b"}, {"name": "stack"}])
    call("RegisterContainerInstance", totalResources=resources, attributes=[{"name": "ecs.availability-zone"}])
    call("RegisterTaskDefinition", family="plain",
         containerDefinitions=[{"name": "a", "image": "busybox", "memory": 64}])
    call("RegisterTaskDefinition", family="rich", cpu="256", memory="512", networkMode="bridge",
         containerDefinitions=[
             {"name": "a", "image": "busybox", "cpu": 10, "memoryReservation": 32,
              "portMappings": [{"containerPort": 80}], "environment": [{"name": "X", "value": "1"}]},
             {"name": "b", "image": "busybox", "memory": 16, "essential": False},
         ])
    return call


REQUESTS = [
    {"taskDefinition": "plain"},
    {"taskDefinition": "plain", "count": 4, "startedBy": "me", "group": "g", "enableExecuteCommand": True},
    {"taskDefinition": "rich", "count": 2, "overrides": {
        "containerOverrides": [{"name": "a", "command": ["sleep", "1"], "cpu": 5, "memory": 40,
                                "environment": [{"name": "Y", "value": "2"}]},
                               {"name": "b", "memoryReservation": 8}],
        "cpu": "128", "memory": "256", "taskRoleArn": "arn:aws:iam::123456789012:role/r",
        "executionRoleArn": "arn:aws:iam::123456789012:role/e",
        "ephemeralStorage": {"sizeInGiB": 21}, "inferenceAcceleratorOverrides": []}},
    {"taskDefinition": "rich", "overrides": {"containerOverrides": []}, "clientToken": "t-1",
     "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]},
]


@pytest.mark.parametrize("request_params", REQUESTS)
def test_new_tasks_are_in_the_task_shape(call, request_params):
    walk = serializer_for(service_model().shape_for("Task"))
    out = call("RunTask", **request_params)
    assert out["tasks"] and not out["failures"]
    stored = call("DescribeTasks", tasks=[t["taskArn"] for t in out["tasks"]])["tasks"]
    for task in [*out["tasks"], *stored]:
        assert walk(task) == task
