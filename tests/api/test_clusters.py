"""Clusters, as the ECS API reference describes them."""

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_code

ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/"


def test_create_without_name_makes_default_and_is_idempotent(ecs):
    first = ecs.create_cluster()["cluster"]
    assert first["clusterName"] == "default"
    assert first["clusterArn"] == ARN + "default"
    assert first["status"] == "ACTIVE"
    assert first["registeredContainerInstancesCount"] == 0
    again = ecs.create_cluster(clusterName="default")["cluster"]
    assert again["clusterArn"] == first["clusterArn"]
    assert ecs.list_clusters()["clusterArns"] == [ARN + "default"]


def test_describe_counts_and_missing(ecs):
    ecs.create_cluster(clusterName="alpha", tags=[{"key": "team", "value": "a"}])
    out = ecs.describe_clusters(clusters=["alpha", ARN + "ghost", "nope"])
    assert [c["clusterName"] for c in out["clusters"]] == ["alpha"]
    c = out["clusters"][0]
    assert (c["runningTasksCount"], c["pendingTasksCount"], c["activeServicesCount"]) == (0, 0, 0)
    assert "tags" not in c
    assert sorted(f["arn"] for f in out["failures"]) == [ARN + "ghost", ARN + "nope"]
    assert {f["reason"] for f in out["failures"]} == {"MISSING"}


def test_describe_include_options(ecs):
    ecs.create_cluster(clusterName="inc", tags=[{"key": "k", "value": "v"}])
    c = ecs.describe_clusters(clusters=["inc"], include=["TAGS", "SETTINGS", "STATISTICS"])[
        "clusters"
    ][0]
    assert c["tags"] == [{"key": "k", "value": "v"}]
    assert c["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    stats = {s["name"]: s["value"] for s in c["statistics"]}
    assert stats["runningEC2TasksCount"] == "0"


def test_describe_defaults_to_default_cluster(ecs):
    out = ecs.describe_clusters()
    assert out["failures"] == [{"arn": ARN + "default", "reason": "MISSING"}]
    ecs.create_cluster()
    assert ecs.describe_clusters()["clusters"][0]["clusterName"] == "default"


def test_list_clusters_paginates(ecs):
    names = [f"c{i:02d}" for i in range(7)]
    for n in names:
        ecs.create_cluster(clusterName=n)
    seen, token = [], None
    while True:
        kw = {"maxResults": 3} | ({"nextToken": token} if token else {})
        out = ecs.list_clusters(**kw)
        assert len(out["clusterArns"]) <= 3
        seen += out["clusterArns"]
        token = out.get("nextToken")
        if not token:
            break
    assert seen == sorted(ARN + n for n in names)
    paginated = ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2})
    assert sum(len(p["clusterArns"]) for p in paginated) == 7


def test_delete_cluster(ecs):
    ecs.create_cluster(clusterName="gone")
    deleted = ecs.delete_cluster(cluster="gone")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert ARN + "gone" not in ecs.list_clusters()["clusterArns"]
    assert ecs.describe_clusters(clusters=["gone"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="gone")
    assert error_code(e) == "ClusterNotFoundException"
    # re-creating an INACTIVE cluster makes it ACTIVE again
    assert ecs.create_cluster(clusterName="gone")["cluster"]["status"] == "ACTIVE"


def test_missing_cluster_errors(ecs):
    with pytest.raises(ClientError) as e:
        ecs.list_tasks(cluster="nope")
    assert error_code(e) == "ClusterNotFoundException"
    assert e.value.response["Error"]["Message"] == "Cluster not found."
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_update_cluster_settings(ecs):
    ecs.create_cluster(clusterName="s")
    out = ecs.update_cluster_settings(
        cluster="s", settings=[{"name": "containerInsights", "value": "enabled"}]
    )["cluster"]
    assert out["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    out = ecs.update_cluster(
        cluster="s",
        settings=[{"name": "containerInsights", "value": "disabled"}],
        configuration={"executeCommandConfiguration": {"logging": "NONE"}},
    )["cluster"]
    assert out["configuration"] == {"executeCommandConfiguration": {"logging": "NONE"}}
    described = ecs.describe_clusters(clusters=["s"], include=["SETTINGS", "CONFIGURATIONS"])
    assert described["clusters"][0]["settings"][0]["value"] == "disabled"
    with pytest.raises(ClientError) as e:
        ecs.update_cluster_settings(cluster="missing", settings=[])
    assert error_code(e) == "ClusterNotFoundException"


@pytest.mark.parametrize("name", ["bad name", "x" * 256, "ünï"])
def test_invalid_cluster_names(ecs, name):
    with pytest.raises(ClientError) as e:
        ecs.create_cluster(clusterName=name)
    assert error_code(e) == "InvalidParameterException"


def test_reserved_tag_prefix_refused(ecs):
    with pytest.raises(ClientError) as e:
        ecs.create_cluster(clusterName="t", tags=[{"key": "aws:x", "value": "1"}])
    assert error_code(e) == "InvalidParameterException"
