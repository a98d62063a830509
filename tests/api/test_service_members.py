"""Service request members Portside refuses by name, or applies in the one
way it can: Availability Zone rebalancing (refused when ENABLED, reported
DISABLED), gateway connectors and CloudWatch monitoring resolution (refused),
and ListServices' resourceManagementType filter (every service here is the
customer's, as AWS reports non-Express services)."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from helpers import register_instance, register_task_definition


@pytest.fixture
def ecs(server):
    client = server.client()
    client.create_cluster()
    register_instance(client)
    register_task_definition(client)
    return client


@pytest.mark.parametrize("member", [
    {"availabilityZoneRebalancing": "ENABLED"},
    {"gatewayConnectors": [{"portName": "http"}]},
    {"monitoring": {"metricConfigurations": [{"metricNames": ["CPUUtilization"], "resolutionSeconds": 20}]}},
])
def test_members_not_acted_on_are_refused_by_name(ecs, member):
    with pytest.raises(ClientError) as e:
        ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0, **member)
    assert error_code(e) == "UnsupportedFeatureException"
    assert ecs.list_services()["serviceArns"] == []
    ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0)
    with pytest.raises(ClientError) as e:
        ecs.update_service(service="a", **member)
    assert error_code(e) == "UnsupportedFeatureException"


def test_rebalancing_disabled_is_what_services_report(ecs):
    svc = ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0,
                             availabilityZoneRebalancing="DISABLED")["service"]
    assert svc["availabilityZoneRebalancing"] == "DISABLED"
    ecs.create_service(serviceName="b", taskDefinition="web", desiredCount=0)
    described = ecs.describe_services(services=["a", "b"])["services"]
    assert [s["availabilityZoneRebalancing"] for s in described] == ["DISABLED", "DISABLED"]
    assert [s["resourceManagementType"] for s in described] == ["CUSTOMER", "CUSTOMER"]


def test_list_services_by_resource_management_type(ecs):
    arn = ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0)["service"]["serviceArn"]
    assert ecs.list_services(resourceManagementType="CUSTOMER")["serviceArns"] == [arn]
    assert ecs.list_services(resourceManagementType="ECS")["serviceArns"] == []
