"""The JSON 1.1 protocol: targets, malformed bodies, validation from botocore's
model, error bodies as AWS sends them — and never a 500."""

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

TARGET = "AmazonEC2ContainerServiceV20141113."


def raw(server, target, body, content_type="application/x-amz-json-1.1"):
    from sigv4 import raw_call  # signed: every request must carry a SigV4 signature

    return raw_call(server.endpoint, target, body, content_type=content_type)


@pytest.mark.parametrize("target,body,code", [
    (TARGET + "ListClusters", b"{not json", "SerializationException"),
    (TARGET + "ListClusters", b"\xff\xfe", "SerializationException"),
    (TARGET + "ListClusters", b"[1, 2]", "SerializationException"),
    (TARGET + "NoSuchThing", b"{}", "UnknownOperationException"),
    ("Other_20200101.ListClusters", b"{}", "UnknownOperationException"),
    (None, b"{}", "UnknownOperationException"),
    (TARGET + "ListClusters", b'{"maxResults": "ten"}', "SerializationException"),
    (TARGET + "ListClusters", b'{"maxResults": 99999999999999999999}', "SerializationException"),
    (TARGET + "ListTasks", b'{"desiredStatus": "SLEEPING"}', "InvalidParameterException"),
    (TARGET + "DescribeTasks", b"{}", "InvalidParameterException"),
    (TARGET + "CreateCluster", b'{"tags": {"k": "v"}}', "SerializationException"),
    pytest.param(TARGET + "CreateCluster", b"[" * 100000 + b"]" * 100000, "SerializationException", id="deep-nesting"),
    (TARGET + "ListGateways", b'{}', "UnsupportedFeatureException"),  # an operation not implemented here
])
def test_protocol_errors(server, target, body, code):
    status, payload = raw(server, target, body)
    assert status == 400
    assert payload["__type"] == code
    assert payload["message"]


def test_oversized_body_refused(server):
    status, payload = raw(server, TARGET + "CreateCluster", b'{"clusterName": "' + b"x" * (2 << 20) + b'"}')
    assert status == 413 and payload["__type"] == "RequestEntityTooLargeException"


def test_unknown_members_ignored_and_output_shaped(server):
    status, payload = raw(server, TARGET + "CreateCluster", b'{"clusterName": "x", "bogus": 1}')
    assert status == 200 and payload["cluster"]["clusterName"] == "x"
    status, payload = raw(server, TARGET + "ListClusters", b"")
    assert status == 200 and payload == {"clusterArns": [payload["clusterArns"][0]]}


def test_missing_required_member_via_boto3_without_client_validation(server):
    import boto3
    from botocore.config import Config

    ecs = boto3.client("ecs", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="a", aws_secret_access_key="b",
                       config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as e:
        ecs.stop_task()
    assert error_code(e) == "InvalidParameterException"


def test_aws_cli_round_trip(server):
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": "/usr/bin:/bin:/usr/local/bin:" + __import__("os").environ.get("PATH", "")}
    def aws(*args):
        out = subprocess.run(["aws", "ecs", *args, "--endpoint-url", server.endpoint, "--output", "json"],
                             env=env, capture_output=True, text=True, timeout=60)
        return out
    created = aws("create-cluster", "--cluster-name", "cli")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["cluster"]["clusterName"] == "cli"
    listed = json.loads(aws("list-clusters").stdout)
    assert listed["clusterArns"] == ["arn:aws:ecs:us-east-1:123456789012:cluster/cli"]
    failed = aws("list-tasks", "--cluster", "missing")
    assert failed.returncode != 0 and "ClusterNotFoundException" in failed.stderr
