"""Tags a task is born with, as the ECS developer guide's "Tagging your
resources" documents: `propagateTags` copies the task definition's tags
(RunTask, StartTask, services) or the service's (services only) when the task
starts; `enableECSManagedTags` adds `aws:ecs:clusterName` and, for a
service's tasks, `aws:ecs:serviceName`; request tags win over propagated
ones; `aws:` tags cannot be removed and do not count against the 50."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition, wait_for

pytestmark = pytest.mark.server_args("--service-interval", "0.2")

CLUSTER_TAG = {"key": "aws:ecs:clusterName", "value": "default"}


@pytest.fixture
def ecs(server):
    client = server.client()
    client.create_cluster()
    register_instance(client)
    definition = register_task_definition(client)
    client.tag_resource(resourceArn=definition, tags=[{"key": "team", "value": "web"},
                                                      {"key": "tier", "value": "front"}])
    return client


def tags_of(ecs, arns):
    return [sorted(t.get("tags", []), key=lambda tag: tag["key"])
            for t in ecs.describe_tasks(tasks=arns, include=["TAGS"])["tasks"]]


def by_key(*tags):
    return sorted(tags, key=lambda tag: tag["key"])


def test_run_task_propagates_the_task_definitions_tags_under_the_requests(ecs):
    out = ecs.run_task(taskDefinition="web", count=2, propagateTags="TASK_DEFINITION",
                       tags=[{"key": "tier", "value": "batch"}])
    expected = by_key({"key": "team", "value": "web"}, {"key": "tier", "value": "batch"})
    assert [by_key(*t["tags"]) for t in out["tasks"]] == [expected, expected]
    assert tags_of(ecs, [t["taskArn"] for t in out["tasks"]]) == [expected, expected]


def test_without_propagation_only_the_requests_tags(ecs):
    for propagate in ({}, {"propagateTags": "NONE"}):
        arn = ecs.run_task(taskDefinition="web", tags=[{"key": "a", "value": "1"}], **propagate)["tasks"][0]["taskArn"]
        assert tags_of(ecs, [arn]) == [[{"key": "a", "value": "1"}]]


def test_run_task_cannot_propagate_from_a_service(ecs):
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="web", propagateTags="SERVICE")
    assert error_code(e) == "InvalidParameterException"
    assert "SERVICE" in e.value.response["Error"]["Message"]
    assert ecs.list_tasks()["taskArns"] == []


def test_managed_tags_name_the_cluster_on_run_task_and_start_task(ecs):
    run = ecs.run_task(taskDefinition="web", enableECSManagedTags=True)["tasks"][0]["taskArn"]
    instance = ecs.list_container_instances()["containerInstanceArns"][0]
    start = ecs.start_task(taskDefinition="web", containerInstances=[instance], enableECSManagedTags=True,
                           propagateTags="TASK_DEFINITION")["tasks"][0]["taskArn"]
    assert tags_of(ecs, [run]) == [[CLUSTER_TAG]]
    assert tags_of(ecs, [start]) == [by_key(CLUSTER_TAG, {"key": "team", "value": "web"},
                                            {"key": "tier", "value": "front"})]
    plain = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    assert tags_of(ecs, [plain]) == [[]]


def test_managed_tags_cannot_be_removed_and_do_not_count_against_the_limit(ecs):
    arn = ecs.run_task(taskDefinition="web", enableECSManagedTags=True)["tasks"][0]["taskArn"]
    with pytest.raises(ClientError) as e:
        ecs.untag_resource(resourceArn=arn, tagKeys=["aws:ecs:clusterName"])
    assert error_code(e) == "InvalidParameterException"
    ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    assert len(ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == 51
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "one-more", "value": "v"}])
    assert error_code(e) == "InvalidParameterException"


def test_reference_id_longer_than_1024_characters_is_refused(ecs):
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="web", referenceId="r" * 1025)
    assert error_code(e) == "InvalidParameterException"
    assert ecs.run_task(taskDefinition="web", referenceId="r" * 1024)["tasks"]


def service_task_tags(ecs, name):
    arns = wait_for(lambda: ecs.list_tasks(serviceName=name)["taskArns"], what="a task of the service")
    return tags_of(ecs, arns)


def test_service_tasks_get_the_services_tags_and_both_managed_tags(ecs):
    ecs.create_service(serviceName="api", taskDefinition="web", desiredCount=1, propagateTags="SERVICE",
                       enableECSManagedTags=True, tags=[{"key": "owner", "value": "ops"}])
    assert service_task_tags(ecs, "api") == [by_key(CLUSTER_TAG, {"key": "aws:ecs:serviceName", "value": "api"},
                                                    {"key": "owner", "value": "ops"})]


def test_update_service_changes_the_tags_of_tasks_started_afterwards(ecs):
    ecs.create_service(serviceName="api", taskDefinition="web", desiredCount=1,
                       tags=[{"key": "owner", "value": "ops"}])
    first = wait_for(lambda: ecs.list_tasks(serviceName="api")["taskArns"], what="a task of the service")
    assert tags_of(ecs, first) == [[]]
    ecs.update_service(service="api", propagateTags="TASK_DEFINITION", forceNewDeployment=True)
    second = wait_for(lambda: [a for a in ecs.list_tasks(serviceName="api")["taskArns"] if a not in first],
                      what="a task of the new deployment")
    assert tags_of(ecs, second) == [by_key({"key": "team", "value": "web"}, {"key": "tier", "value": "front"})]
