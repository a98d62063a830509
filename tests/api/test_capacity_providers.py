"""Capacity providers through boto3 and the AWS CLI: Create/Describe/Update/
Delete, PutClusterCapacityProviders and cluster defaults, and tasks split
over a strategy by base and weight onto the instances that joined each
provider."""


import pytest

from helpers import aws_ecs, refused, register_task_definition, resources

pytestmark = pytest.mark.usefixtures("default_cluster")

ASG = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/asg-a"
ARN = "arn:aws:ecs:us-east-1:123456789012:capacity-provider/"


def join(ecs, provider, cluster="default"):
    """An instance whose agent joined `provider` (as `portside agent --capacity-provider`)."""
    return ecs.register_container_instance(
        cluster=cluster, totalResources=resources(),
        attributes=[{"name": "portside.capacity-provider", "value": provider}],
    )["containerInstance"]


def test_create_describe_update_delete(ecs):
    made = ecs.create_capacity_provider(
        name="cp-a", autoScalingGroupProvider={"autoScalingGroupArn": ASG},
        tags=[{"key": "team", "value": "a"}])["capacityProvider"]
    assert made["capacityProviderArn"] == ARN + "cp-a"
    assert (made["status"], made["type"], made["updateStatus"]) == ("ACTIVE", "EC2_AUTOSCALING", "CREATE_COMPLETE")
    assert made["autoScalingGroupProvider"] == {
        "autoScalingGroupArn": ASG, "managedTerminationProtection": "DISABLED", "managedDraining": "ENABLED",
        "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
                           "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}}
    assert made["tags"] == [{"key": "team", "value": "a"}]
    listed = ecs.describe_capacity_providers()["capacityProviders"]
    assert [p["name"] for p in listed] == ["FARGATE", "FARGATE_SPOT", "cp-a"]
    out = ecs.describe_capacity_providers(capacityProviders=["cp-a", "nope"], include=["TAGS"])
    assert out["capacityProviders"][0]["tags"] == [{"key": "team", "value": "a"}]
    assert out["failures"] == [{"arn": ARN + "nope", "reason": "MISSING"}]
    updated = ecs.update_capacity_provider(name="cp-a", autoScalingGroupProvider={
        "managedScaling": {"targetCapacity": 80}, "managedDraining": "DISABLED"})["capacityProvider"]
    assert updated["updateStatus"] == "UPDATE_COMPLETE"
    assert updated["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    assert updated["autoScalingGroupProvider"]["managedDraining"] == "DISABLED"
    page = ecs.describe_capacity_providers(maxResults=2)
    assert len(page["capacityProviders"]) == 2
    rest = ecs.describe_capacity_providers(nextToken=page["nextToken"])["capacityProviders"]
    assert [p["name"] for p in rest] == ["cp-a"]
    deleted = ecs.delete_capacity_provider(capacityProvider="cp-a")["capacityProvider"]
    assert deleted["updateStatus"] == "DELETE_IN_PROGRESS"
    assert ecs.describe_capacity_providers(capacityProviders=["cp-a"])["capacityProviders"][0]["status"] == "INACTIVE"
    # the name can be used again
    ecs.create_capacity_provider(name="cp-a", autoScalingGroupProvider={"autoScalingGroupArn": ASG})


def test_managed_instances_provider_is_bound_to_a_cluster(ecs):
    managed = {"infrastructureRoleArn": "arn:aws:iam::123456789012:role/infra",
               "instanceLaunchTemplate": {"ec2InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/p",
                                          "networkConfiguration": {"subnets": ["subnet-1"]}}}
    assert refused(ecs.create_capacity_provider, name="mi", managedInstancesProvider=managed)[0] == \
        "InvalidParameterException"
    made = ecs.create_capacity_provider(name="mi", cluster="default", managedInstancesProvider=managed)
    assert made["capacityProvider"]["type"] == "MANAGED_INSTANCES"
    assert made["capacityProvider"]["cluster"] == "default"
    ecs.create_cluster(clusterName="other")
    code, message = refused(ecs.put_cluster_capacity_providers, cluster="other", capacityProviders=["mi"],
                            defaultCapacityProviderStrategy=[])
    assert code == "InvalidParameterException" and "belongs to cluster default" in message


@pytest.mark.parametrize("kw, message", [
    ({"name": "aws-x"}, "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\"."),
    ({"name": "ECS_x"}, "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\"."),
    ({"name": "Fargate2"}, "The capacity provider name can't be prefixed with \"aws\", \"ecs\", or \"fargate\"."),
    ({"name": "bad name"}, "The capacity provider name is invalid. Up to 255 letters (uppercase and lowercase), "
                           "numbers, underscores, and hyphens are allowed."),
])
def test_names(ecs, kw, message):
    assert refused(ecs.create_capacity_provider, autoScalingGroupProvider={"autoScalingGroupArn": ASG}, **kw) == (
        "InvalidParameterException", message)


def test_duplicates_and_fargate_cannot_be_changed(ecs):
    ecs.create_capacity_provider(name="cp-a", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    assert "already exists" in refused(ecs.create_capacity_provider, name="cp-a",
                                       autoScalingGroupProvider={"autoScalingGroupArn": ASG})[1]
    assert refused(ecs.delete_capacity_provider, capacityProvider="FARGATE")[0] == "InvalidParameterException"
    assert refused(ecs.delete_capacity_provider, capacityProvider="nope")[0] == "InvalidParameterException"


def test_cluster_providers_and_default_strategy(ecs):
    ecs.create_capacity_provider(name="cp-a", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    cluster = ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["cp-a", "FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "cp-a", "weight": 1, "base": 1}])["cluster"]
    assert cluster["capacityProviders"] == ["cp-a", "FARGATE"]
    assert cluster["defaultCapacityProviderStrategy"] == [{"capacityProvider": "cp-a", "weight": 1, "base": 1}]
    described = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert described["capacityProviders"] == ["cp-a", "FARGATE"]
    # a provider a cluster uses cannot be deleted
    assert "in use" in refused(ecs.delete_capacity_provider, capacityProvider="cp-a")[1]
    # a strategy names only the cluster's providers, and never mixes ASG and Fargate providers
    assert refused(ecs.put_cluster_capacity_providers, cluster="default", capacityProviders=["cp-a"],
                   defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])[0] == \
        "InvalidParameterException"
    assert refused(ecs.put_cluster_capacity_providers, cluster="default", capacityProviders=["cp-a", "FARGATE"],
                   defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1},
                                                    {"capacityProvider": "cp-a", "weight": 1}])[1] == (
        "The specified capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling "
        "groups and Fargate providers. Specify one or the other and try again.")
    assert refused(ecs.put_cluster_capacity_providers, cluster="default", capacityProviders=["nope"],
                   defaultCapacityProviderStrategy=[])[0] == "InvalidParameterException"
    assert refused(ecs.put_cluster_capacity_providers, cluster="nope", capacityProviders=[],
                   defaultCapacityProviderStrategy=[])[0] == "ClusterNotFoundException"
    made = ecs.create_cluster(clusterName="c2", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                              defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 2},
                                                               {"capacityProvider": "FARGATE", "base": 1}])
    assert made["cluster"]["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 0, "base": 1}]


def test_run_task_splits_by_base_and_weight(ecs):
    for name in ("cp-a", "cp-b"):
        ecs.create_capacity_provider(name=name, autoScalingGroupProvider={"autoScalingGroupArn": ASG + name})
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["cp-a", "cp-b"],
                                       defaultCapacityProviderStrategy=[])
    a, b = join(ecs, "cp-a"), join(ecs, "cp-b")
    assert (a["capacityProviderName"], b["capacityProviderName"]) == ("cp-a", "cp-b")
    register_task_definition(ecs, cpu=10, memory=10)
    strategy = [{"capacityProvider": "cp-a", "base": 2, "weight": 1}, {"capacityProvider": "cp-b", "weight": 3}]
    out = ecs.run_task(taskDefinition="web", count=10, capacityProviderStrategy=strategy)
    assert out["failures"] == []
    by_provider = {}
    for task in out["tasks"]:
        by_provider.setdefault(task["capacityProviderName"], []).append(task["containerInstanceArn"])
        assert task["launchType"] == "EC2"
    # base 2 on cp-a, the other 8 at 1:3 → 2 + 2 on cp-a, 6 on cp-b
    assert {k: len(v) for k, v in by_provider.items()} == {"cp-a": 4, "cp-b": 6}
    assert set(by_provider["cp-a"]) == {a["containerInstanceArn"]}
    assert set(by_provider["cp-b"]) == {b["containerInstanceArn"]}
    assert refused(ecs.run_task, taskDefinition="web", launchType="EC2", capacityProviderStrategy=strategy) == (
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
    assert refused(ecs.run_task, taskDefinition="web",
                   capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])[0] == \
        "InvalidParameterException"  # not one of the cluster's providers
    # a provider in use cannot leave the cluster
    assert refused(ecs.put_cluster_capacity_providers, cluster="default", capacityProviders=["cp-b"],
                   defaultCapacityProviderStrategy=[])[0] == "ResourceInUseException"


def test_cluster_default_strategy_applies_without_launch_type(ecs):
    ecs.create_capacity_provider(name="cp-a", autoScalingGroupProvider={"autoScalingGroupArn": ASG})
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["cp-a"],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": "cp-a", "weight": 1}])
    instance = join(ecs, "cp-a")
    ecs.register_container_instance(totalResources=resources())  # joined no provider
    register_task_definition(ecs, cpu=10, memory=10)
    tasks = ecs.run_task(taskDefinition="web", count=4)["tasks"]
    assert {t["capacityProviderName"] for t in tasks} == {"cp-a"}
    assert {t["containerInstanceArn"] for t in tasks} == {instance["containerInstanceArn"]}
    # an explicit launch type places by launch type, on any instance
    plain = ecs.run_task(taskDefinition="web", launchType="EC2", count=1)["tasks"][0]
    assert "capacityProviderName" not in plain
    service = ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=0)["service"]
    assert service["capacityProviderStrategy"] == [{"capacityProvider": "cp-a", "weight": 1, "base": 0}]
    assert "launchType" not in service


def test_agent_joining_an_unknown_provider_is_refused(ecs):
    assert refused(lambda: join(ecs, "nope"))[0] == "ClientException"


def test_aws_cli_flows(server, ecs):
    made = aws_ecs(server, "create-capacity-provider", "--name", "cli-cp", "--auto-scaling-group-provider",
                   f"autoScalingGroupArn={ASG},managedScaling={{status=ENABLED,targetCapacity=90}},"
                   "managedTerminationProtection=DISABLED")
    assert made["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 90
    out = aws_ecs(server, "put-cluster-capacity-providers", "--cluster", "default",
                  "--capacity-providers", "cli-cp", "FARGATE",
                  "--default-capacity-provider-strategy", "capacityProvider=cli-cp,weight=1,base=1")
    assert out["cluster"]["capacityProviders"] == ["cli-cp", "FARGATE"]
    described = aws_ecs(server, "describe-capacity-providers", "--capacity-providers", "cli-cp")
    assert described["capacityProviders"][0]["name"] == "cli-cp"
