"""TagResource, UntagResource, ListTagsForResource."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition


def test_tags_on_every_resource_kind(ecs):
    cluster = ecs.create_cluster(clusterName="default")["cluster"]["clusterArn"]
    instance = register_instance(ecs)
    definition = register_task_definition(ecs)
    task = ecs.run_task(taskDefinition="web")["tasks"][0]["taskArn"]
    for arn in (cluster, instance, definition, task):
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "3"}])
        ecs.untag_resource(resourceArn=arn, tagKeys=["b"])
        assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "3"}]


def test_tag_errors(ecs):
    arn = ecs.create_cluster()["cluster"]["clusterArn"]
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=arn[:-7] + "missing", tags=[{"key": "a", "value": "1"}])
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.list_tags_for_resource(resourceArn="not-an-arn")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "aws:reserved", "value": "1"}])
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k" * 129, "value": "1"}])
    assert error_code(e) == "InvalidParameterException"
    ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as e:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "one-more", "value": "v"}])
    assert error_code(e) == "InvalidParameterException"
