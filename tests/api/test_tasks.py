"""RunTask, StartTask, StopTask, DescribeTasks, ListTasks, as the ECS API
reference and the 2015-11-23 changelog describe them."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition, resource


@pytest.fixture
def ecs1(ecs):
    """A default cluster with one 2048-CPU / 4096-MiB instance and a task definition."""
    ecs.create_cluster()
    ecs.instance = register_instance(ecs)
    register_task_definition(ecs)
    return ecs


def test_run_task_places_pending_task(ecs1):
    ecs = ecs1
    out = ecs.run_task(taskDefinition="web", startedBy="job-7", group="batch")
    assert out["failures"] == []
    [task] = out["tasks"]
    assert task["lastStatus"] == "PENDING" and task["desiredStatus"] == "RUNNING"
    assert task["containerInstanceArn"] == ecs.instance
    assert task["taskArn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/default/")
    assert task["taskDefinitionArn"].endswith(":task-definition/web:1")
    assert task["startedBy"] == "job-7" and task["group"] == "batch"
    assert task["launchType"] == "EC2"
    assert task["createdAt"] is not None
    assert "startedAt" not in task and "stoppedAt" not in task
    [container] = task["containers"]
    assert container["name"] == "c0" and container["lastStatus"] == "PENDING"
    assert container["taskArn"] == task["taskArn"]
    ci = ecs.describe_container_instances(containerInstances=[ecs.instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "CPU") == 2048 - 256
    assert resource(ci, "remainingResources", "MEMORY") == 4096 - 512
    assert ci["pendingTasksCount"] == 1
    assert ecs.describe_clusters()["clusters"][0]["pendingTasksCount"] == 1


def test_run_task_count_and_resource_failures(ecs1):
    ecs = ecs1
    out = ecs.run_task(taskDefinition="web", count=10)  # 8 fit on CPU (8 × 256 = 2048)
    assert len(out["tasks"]) == 8
    assert out["failures"] == [{"arn": ecs.instance, "reason": "RESOURCE:CPU"}]
    register_task_definition(ecs, family="fat", cpu=0, memory=8192)
    out = ecs.run_task(taskDefinition="fat")
    assert out["tasks"] == [] and out["failures"] == [{"arn": ecs.instance, "reason": "RESOURCE:MEMORY"}]


def test_run_task_memory_and_ports(ecs1):
    ecs = ecs1
    register_task_definition(ecs, family="big", cpu=0, memory=8192)
    out = ecs.run_task(taskDefinition="big")
    assert out["failures"] == [{"arn": ecs.instance, "reason": "RESOURCE:MEMORY"}]
    register_task_definition(ecs, family="port", cpu=0, memory=16, host_port=8080)
    assert len(ecs.run_task(taskDefinition="port")["tasks"]) == 1
    out = ecs.run_task(taskDefinition="port")
    assert out["failures"] == [{"arn": ecs.instance, "reason": "RESOURCE:PORTS"}]
    ci = ecs.describe_container_instances(containerInstances=[ecs.instance])["containerInstances"][0]
    assert "8080" in resource(ci, "remainingResources", "PORTS")
    register_task_definition(ecs, family="ssh", cpu=0, memory=16, host_port=22)  # reserved port
    assert ecs.run_task(taskDefinition="ssh")["failures"][0]["reason"] == "RESOURCE:PORTS"


def test_run_task_spreads_randomly_across_instances(ecs1):
    ecs = ecs1
    second = register_instance(ecs)
    out = ecs.run_task(taskDefinition="web", count=10)
    placed = {t["containerInstanceArn"] for t in out["tasks"]}
    assert len(out["tasks"]) == 10 and placed == {ecs.instance, second}


def test_no_instances_is_invalid_parameter(ecs):
    ecs.create_cluster()
    register_task_definition(ecs)
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="web")
    assert error_code(e) == "InvalidParameterException"
    assert "No Container Instances" in e.value.response["Error"]["Message"]


def test_draining_instances_get_no_tasks(ecs1):
    ecs = ecs1
    ecs.update_container_instances_state(containerInstances=[ecs.instance], status="DRAINING")
    out = ecs.run_task(taskDefinition="web")
    assert out["tasks"] == []


def test_task_definition_errors(ecs1):
    ecs = ecs1
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="ghost")
    assert error_code(e) == "ClientException"
    ecs.deregister_task_definition(taskDefinition="web:1")
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="web:1")
    assert error_code(e) == "ClientException"


def test_overrides_kept_and_checked(ecs1):
    ecs = ecs1
    overrides = {"containerOverrides": [{"name": "c0", "command": ["echo", "hi"],
                                         "environment": [{"name": "A", "value": "1"}]}]}
    task = ecs.run_task(taskDefinition="web", overrides=overrides)["tasks"][0]
    assert task["overrides"]["containerOverrides"] == overrides["containerOverrides"]
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="web", overrides={"containerOverrides": [{"name": "zz"}]})
    assert error_code(e) == "InvalidParameterException"
    # memory overrides change what is reserved
    ecs.run_task(taskDefinition="web", overrides={"containerOverrides": [{"name": "c0", "memory": 1000}]})
    ci = ecs.describe_container_instances(containerInstances=[ecs.instance])["containerInstances"][0]
    assert resource(ci, "remainingResources", "MEMORY") == 4096 - 512 - 1000


@pytest.mark.parametrize("kwargs", [
    {"count": 11},
    {"count": 0},
    {"startedBy": "x" * 129},
    {"overrides": {"containerOverrides": [{"name": "c0", "command": ["x" * 9000]}]}},
    {"group": "g" * 256},
])
def test_run_task_limits(ecs1, kwargs):
    with pytest.raises(ClientError) as e:
        ecs1.run_task(taskDefinition="web", **kwargs)
    assert error_code(e) == "InvalidParameterException"


def test_overrides_limit_counts_json_characters(ecs1):
    ecs = ecs1
    def overrides(n):
        return {"containerOverrides": [{"name": "c0", "command": ["x" * n]}]}
    base = len(json.dumps(overrides(0), separators=(",", ":")))
    assert ecs.run_task(taskDefinition="web", overrides=overrides(8192 - base))["tasks"]
    with pytest.raises(ClientError):
        ecs.run_task(taskDefinition="web", overrides=overrides(8193 - base))


def test_client_token_is_idempotent(ecs1):
    ecs = ecs1
    first = ecs.run_task(taskDefinition="web", count=3, clientToken="tok-1")["tasks"]
    again = ecs.run_task(taskDefinition="web", count=3, clientToken="tok-1")["tasks"]
    assert [t["taskArn"] for t in again] == [t["taskArn"] for t in first]
    assert len(ecs.list_tasks()["taskArns"]) == 3


def test_start_task_on_named_instances(ecs1):
    ecs = ecs1
    second = register_instance(ecs)
    out = ecs.start_task(taskDefinition="web", containerInstances=[second, "0" * 32], startedBy="me")
    assert [t["containerInstanceArn"] for t in out["tasks"]] == [second]
    assert out["failures"][0]["reason"] == "MISSING"
    ecs.update_container_instances_state(containerInstances=[second], status="DRAINING")
    out = ecs.start_task(taskDefinition="web", containerInstances=[second])
    assert out["tasks"] == [] and out["failures"] == [{"arn": second, "reason": "DRAINING"}]
    with pytest.raises(ClientError) as e:
        ecs.start_task(taskDefinition="web", containerInstances=[ecs.instance] * 11)
    assert error_code(e) == "InvalidParameterException"


def test_stop_task(ecs1):
    ecs = ecs1
    arn = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    stopped = ecs.stop_task(task=arn, reason="done for today")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "done for today"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["lastStatus"] == "PENDING"  # until the agent reports
    other = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    assert ecs.stop_task(task=other.rsplit("/", 1)[1])["task"]["stoppedReason"] == "Task stopped by user"
    with pytest.raises(ClientError) as e:
        ecs.stop_task(task=arn, reason="r" * 256)
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.stop_task(task="0" * 32)
    assert error_code(e) == "InvalidParameterException"


def test_describe_tasks_failures_and_limit(ecs1):
    ecs = ecs1
    arn = ecs.run_task(taskDefinition="web", tags=[{"key": "k", "value": "v"}])["tasks"][0]["taskArn"]
    missing = arn[:-4] + "ffff"
    out = ecs.describe_tasks(tasks=[arn, missing])
    assert [t["taskArn"] for t in out["tasks"]] == [arn]
    assert out["failures"] == [{"arn": missing, "reason": "MISSING"}]
    assert "tags" not in out["tasks"][0]
    tagged = ecs.describe_tasks(tasks=[arn], include=["TAGS"])["tasks"][0]
    assert tagged["tags"] == [{"key": "k", "value": "v"}]
    with pytest.raises(ClientError) as e:
        ecs.describe_tasks(tasks=[arn] * 101)
    assert error_code(e) == "InvalidParameterException"


def test_list_tasks_filters_and_pagination(ecs1):
    ecs = ecs1
    register_task_definition(ecs, family="other", cpu=0, memory=16)
    web = [t["taskArn"] for t in ecs.run_task(taskDefinition="web", count=3, startedBy="a")["tasks"]]
    oth = [t["taskArn"] for t in ecs.run_task(taskDefinition="other", count=2, startedBy="b")["tasks"]]
    assert sorted(ecs.list_tasks()["taskArns"]) == sorted(web + oth)
    assert sorted(ecs.list_tasks(family="web")["taskArns"]) == sorted(web)
    assert sorted(ecs.list_tasks(startedBy="b")["taskArns"]) == sorted(oth)
    assert sorted(ecs.list_tasks(containerInstance=ecs.instance)["taskArns"]) == sorted(web + oth)
    assert ecs.list_tasks(launchType="EC2", family="other")["taskArns"] != []
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):  # as AWS answers for an unknown service
        ecs.list_tasks(serviceName="nothing")
    ecs.stop_task(task=web[0])
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [web[0]]
    assert ecs.list_tasks(desiredStatus="PENDING")["taskArns"] == []
    pages = list(ecs.get_paginator("list_tasks").paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(p["taskArns"]) <= 2 for p in pages)
    assert sorted(a for p in pages for a in p["taskArns"]) == sorted(web[1:] + oth)
    with pytest.raises(ClientError) as e:
        ecs.list_tasks(maxResults=101)
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.list_tasks(nextToken="garbage")
    assert error_code(e) == "InvalidParameterException"


def test_delete_cluster_refused_while_tasks(ecs1):
    ecs = ecs1
    ecs.run_task(taskDefinition="web")
    ecs.deregister_container_instance(containerInstance=ecs.instance, force=True)
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="default")
    assert error_code(e) == "ClusterContainsTasksException"
