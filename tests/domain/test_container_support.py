"""Every task- and container-definition member in botocore's model is either
applied or refused by name: the table must name them all."""

from __future__ import annotations

import pytest

from portside.domain import container_support as support
from portside.protocol.model import service_model

TABLES = [
    ("ContainerDefinition", support.CONTAINER),
    ("RegisterTaskDefinitionRequest", support.TASK),
    ("LinuxParameters", support.LINUX_PARAMETERS),
    ("Volume", support.VOLUME),
    ("ContainerOverride", support.CONTAINER_OVERRIDE),
    ("TaskOverride", support.TASK_OVERRIDE),
]


@pytest.mark.parametrize("shape, table", TABLES, ids=[t[0] for t in TABLES])
def test_every_member_of_the_model_is_applied_or_refused(shape, table):
    members = set(service_model().shape_for(shape).members)
    assert members - set(table) == set(), "members neither applied nor refused"
    assert set(table) - members == set(), "table names members the model lacks"


def container(**extra):
    return {"name": "app", "image": "busybox", "memory": 64, **extra}


@pytest.mark.parametrize("extra, named", [
    ({"firelensConfiguration": {"type": "fluentbit"}}, "'firelensConfiguration' (container 'app')"),
    ({"logConfiguration": {"logDriver": "awslogs", "secretOptions": [{"name": "a", "valueFrom": "b"}]}},
     "'logConfiguration.secretOptions'"),
    ({"resourceRequirements": [{"type": "GPU", "value": "1"}]}, "'resourceRequirements'"),
    ({"logConfiguration": {"logDriver": "splunk"}}, "'logConfiguration.logDriver splunk'"),
    ({"versionConsistency": "enabled"}, "'versionConsistency'"),
    ({"portMappings": [{"containerPortRange": "8000-8010"}]}, "'portMappings.containerPortRange'"),
])
def test_refused_container_members_are_named(extra, named):
    found = support.problem({"family": "f", "containerDefinitions": [container(**extra)]})
    assert found is not None and found.startswith(named) and "not supported by Portside" in found


@pytest.mark.parametrize("extra", [
    {"logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}}},
    {"versionConsistency": "disabled"},
    {"secrets": []},
    {"secrets": [{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/a"}]},
    {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}},
    {"repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:r-abcdef"}},
    {"privileged": False},
])
def test_applied_or_empty_members_pass(extra):
    assert support.problem({"family": "f", "containerDefinitions": [container(**extra)]}) is None


def test_task_namespaces_are_shared_only_through_an_awsvpc_pause_container():
    for key in ("pidMode", "ipcMode"):
        assert support.problem({"family": "f", "containerDefinitions": [container()], key: "task",
                                "networkMode": "awsvpc"}) is None


@pytest.mark.parametrize("task, named", [
    ({"pidMode": "task"}, "'pidMode'"),
    ({"ipcMode": "task"}, "'ipcMode'"),
    ({"proxyConfiguration": {"containerName": "app"}}, "'proxyConfiguration'"),
    ({"enableFaultInjection": True}, "'enableFaultInjection'"),
    ({"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}}, "'runtimePlatform"),
])
def test_refused_task_members_are_named(task, named):
    found = support.problem({"family": "f", "containerDefinitions": [container()], **task})
    assert found is not None and found.startswith(named)


def test_refused_overrides_are_named():
    found = support.override_problem({"containerOverrides": [
        {"name": "app", "resourceRequirements": [{"type": "GPU", "value": "1"}]}]})
    assert found.startswith("'resourceRequirements' (override of container 'app')")
    assert support.override_problem({"inferenceAcceleratorOverrides": []}) is None


def test_cpu_architecture_becomes_a_placement_constraint():
    assert support.platform_constraints({"runtimePlatform": {"cpuArchitecture": "ARM64"}}) == [
        {"type": "memberOf", "expression": "attribute:ecs.cpu-architecture == arm64"}]
    assert support.platform_constraints({}) == []


def test_readme_lists_each_parameter_as_the_table_does():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for _, table in TABLES:
        for member, rule in table.items():
            word = "applied" if isinstance(rule, support.Applied) else "refused"
            assert f"| `{member}` | {word} |" in readme, f"README: {member} should be {word}"


def test_volume_kinds_register_but_do_not_run():
    params = {"family": "f", "containerDefinitions": [container()],
              "volumes": [{"name": "e", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}
    assert support.problem(params) is None
    assert support.run_problem(params).startswith("'efsVolumeConfiguration' (volume 'e')")


def test_awsvpc_refuses_what_ecs_refuses_there():
    found = support.problem({"family": "f", "networkMode": "awsvpc",
                             "containerDefinitions": [container(hostname="h")]})
    assert found.startswith("'hostname' (container 'app') is not supported when networkMode=awsvpc")


def _given(shape, member):
    """A non-empty value of the member's botocore type."""
    kind = service_model().shape_for(shape).members[member].type_name
    return {"list": [{"name": "x"}], "structure": {"name": "x"}, "string": "x", "boolean": True,
            "integer": 1, "map": {"k": "v"}}[kind]


REFUSED = [(shape, member) for shape, table in TABLES for member, rule in table.items()
           if isinstance(rule, support.Refused)]


@pytest.mark.parametrize("shape, member", REFUSED, ids=[f"{s}.{m}" for s, m in REFUSED])
def test_every_refused_member_is_refused_by_name_when_given(shape, member):
    """Each member the table refuses is refused, naming it, wherever it comes
    (registration, a volume at run time, an override)."""
    value = _given(shape, member)
    if shape == "ContainerDefinition":
        found = support.problem({"family": "f", "containerDefinitions": [container(**{member: value})]})
    elif shape == "RegisterTaskDefinitionRequest":
        found = support.problem({"family": "f", "containerDefinitions": [container()], member: value})
    elif shape == "Volume":
        found = support.run_problem({"family": "f", "containerDefinitions": [container()],
                                     "volumes": [{"name": "v", member: value}]})
    elif shape == "ContainerOverride":
        found = support.override_problem({"containerOverrides": [{"name": "app", member: value}]})
    else:
        found = support.override_problem({member: value})
    assert found is not None and found.startswith(f"'{member}'") and "not supported" in found, found
