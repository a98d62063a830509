"""Every operation of botocore's ECS model is answered by a handler, except
the Express gateway and Gateway family (they provision load balancers, a
later issue): those, and only those, answer UnsupportedFeatureException
naming the operation (issue 15, "Done when")."""

import json

import botocore.session

import portside.api  # noqa: F401  (registers every handler)
from portside.protocol.dispatch import HANDLERS, REGISTRY, dispatch, misnamed
from portside.protocol.model import TARGET_PREFIX

GATEWAY = {
    "AssociateGatewayWithCluster", "CreateExpressGatewayService", "CreateGateway", "DeleteExpressGatewayService",
    "DeleteGateway", "DescribeExpressGatewayService", "DescribeGateway", "DescribeGatewayResources",
    "DescribeGatewayRoute", "DisassociateGatewayFromCluster", "ListGatewayClusterAssociations",
    "ListGatewayRoutes", "ListGateways", "UpdateExpressGatewayService", "UpdateGateway",
}


def model_operations() -> set[str]:
    return set(botocore.session.get_session().get_service_model("ecs").operation_names)


def test_every_operation_but_the_gateway_family_has_a_handler():
    operations = model_operations()
    assert GATEWAY <= operations  # the 15 named are the model's
    assert len(GATEWAY) == 15
    assert operations - set(HANDLERS) == GATEWAY


def test_only_the_gateway_family_answers_not_supported():
    for name in sorted(model_operations()):
        status, body = dispatch(None, f"{TARGET_PREFIX}.{name}", b"{}")
        answer = json.loads(body)
        unsupported = answer.get("__type") == "UnsupportedFeatureException" and \
            answer.get("message") == f"{name} is not supported by Portside."
        assert unsupported == (name in GATEWAY), (name, status, answer)


def test_every_registered_operation_is_in_its_services_model():
    assert all(REGISTRY[service] for service in ("ecs", "logs", "secretsmanager", "ssm"))
    assert misnamed() == []
