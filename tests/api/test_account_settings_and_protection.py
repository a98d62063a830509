"""Account settings (Put/PutDefault/Delete/List, effective settings, paging,
what they change) and task scale-in protection (Get/Update, honoured by a
service's scale-in), through boto3 and the AWS CLI."""

import time

import pytest

from helpers import aws_ecs, refused, register_instance, register_task_definition, wait_for

ROOT = "arn:aws:iam::123456789012:root"
USER = "arn:aws:iam::123456789012:user/dev"

pytestmark = [pytest.mark.usefixtures("default_cluster"), pytest.mark.server_args("--service-interval", "0.2")]


def test_put_list_delete(ecs):
    put = ecs.put_account_setting(name="containerInsights", value="enabled")["setting"]
    assert put == {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn=USER)
    mine = ecs.list_account_settings(principalArn=USER)["settings"]
    assert mine == [{"name": "awsvpcTrunking", "value": "enabled", "principalArn": USER, "type": "user"}]
    effective = {s["name"]: s for s in ecs.list_account_settings(principalArn=USER, effectiveSettings=True,
                                                                  maxResults=10)["settings"]}
    assert effective["awsvpcTrunking"]["value"] == "enabled"
    assert effective["containerInsights"]["value"] == "enabled"  # the account's, for every principal
    assert effective["taskLongArnFormat"] == {"name": "taskLongArnFormat", "value": "enabled",
                                              "principalArn": USER, "type": "aws_managed"}
    every = []
    token = None
    while True:
        page = ecs.list_account_settings(effectiveSettings=True, maxResults=4,
                                         **({"nextToken": token} if token else {}))
        every += page["settings"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(every) == 11  # every setting name in botocore's model
    only = ecs.list_account_settings(name="containerInsights", value="enabled")["settings"]
    assert [s["name"] for s in only] == ["containerInsights"]
    deleted = ecs.delete_account_setting(name="awsvpcTrunking", principalArn=USER)["setting"]
    assert deleted["value"] == "enabled"
    assert ecs.list_account_settings(principalArn=USER)["settings"] == []
    assert refused(ecs.delete_account_setting, name="awsvpcTrunking", principalArn=USER)[0] == \
        "InvalidParameterException"


def test_defaults_and_what_settings_change(ecs):
    default = ecs.put_account_setting_default(name="containerInsights", value="enhanced")["setting"]
    assert default["principalArn"] == ROOT
    cluster = ecs.create_cluster(clusterName="new")["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


@pytest.mark.parametrize("name, value, fragment", [
    ("taskLongArnFormat", "disabled", "always uses the long ARN format"),
    ("containerInsights", "maybe", "Valid values are: enabled, disabled, enhanced"),
    ("fargateFIPSMode", "enabled", "no FIPS endpoints"),
    ("guardDutyActivate", "on", "read-only"),
])
def test_refused_settings(ecs, name, value, fragment):
    code, message = refused(ecs.put_account_setting, name=name, value=value)
    assert code == "InvalidParameterException" and fragment in message
    assert refused(ecs.put_account_setting, name="awsvpcTrunking", value="enabled",
                   principalArn="arn:aws:iam::999999999999:user/x")[0] == "InvalidParameterException"


def test_task_protection_is_honoured_by_scale_in(ecs):
    register_instance(ecs)
    register_task_definition(ecs, cpu=10, memory=10)
    ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=3)
    arns = wait_for(lambda: (lambda a: a if len(a) == 3 else None)(ecs.list_tasks(serviceName="s")["taskArns"]),
                    20, "three tasks")
    before = time.time()
    out = ecs.update_task_protection(cluster="default", tasks=arns[:2], protectionEnabled=True, expiresInMinutes=60)
    assert out["failures"] == []
    for protected in out["protectedTasks"]:
        assert protected["protectionEnabled"] is True
        assert 3590 < protected["expirationDate"].timestamp() - before < 3610
    got = ecs.get_task_protection(cluster="default", tasks=arns)["protectedTasks"]
    assert [p["protectionEnabled"] for p in got] == [True, True, False]
    ecs.update_service(service="s", desiredCount=0)
    wait_for(lambda: ecs.describe_tasks(tasks=[arns[2]])["tasks"][0]["desiredStatus"] == "STOPPED", 20,
             "the unprotected task to stop")
    time.sleep(1.5)  # several scheduler ticks: the protected ones stay
    assert [t["desiredStatus"] for t in ecs.describe_tasks(tasks=arns[:2])["tasks"]] == ["RUNNING", "RUNNING"]
    # protection off: scale-in goes on
    ecs.update_task_protection(cluster="default", tasks=arns[:2], protectionEnabled=False)
    wait_for(lambda: all(t["desiredStatus"] == "STOPPED" for t in ecs.describe_tasks(tasks=arns[:2])["tasks"]),
             20, "the tasks no longer protected to stop")
    # errors
    register_task_definition(ecs, family="solo", cpu=10, memory=10)
    solo = ecs.run_task(taskDefinition="solo")["tasks"][0]["taskArn"]
    out = ecs.update_task_protection(cluster="default", tasks=[solo, "nope"], protectionEnabled=True)
    assert [f["reason"] for f in out["failures"]] == ["TASK_NOT_VALID", "MISSING"]
    assert refused(ecs.update_task_protection, cluster="default", tasks=arns[:1], protectionEnabled=True,
                   expiresInMinutes=2881)[0] == "InvalidParameterException"
    assert refused(ecs.get_task_protection, cluster="nope", tasks=arns[:1])[0] == "ClusterNotFoundException"


def test_task_protection_holds_a_task_through_a_deployment(ecs):
    """ECS documents that deployments, like scale-in, leave protected tasks
    running until protection ends or expires."""
    register_instance(ecs)
    register_task_definition(ecs, cpu=10, memory=10)
    ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=1,  # old tasks may go at once
                       deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 200})
    [old] = wait_for(lambda: ecs.list_tasks(serviceName="s")["taskArns"] or None, 20, "the first task")
    ecs.update_task_protection(cluster="default", tasks=[old], protectionEnabled=True)
    ecs.update_service(service="s", forceNewDeployment=True)
    wait_for(lambda: len(ecs.list_tasks(serviceName="s")["taskArns"]) == 2, 20, "the new deployment's task")
    time.sleep(1.5)  # several scheduler ticks: the protected task stays
    assert ecs.describe_tasks(tasks=[old])["tasks"][0]["desiredStatus"] == "RUNNING"
    ecs.update_task_protection(cluster="default", tasks=[old], protectionEnabled=False)
    wait_for(lambda: ecs.describe_tasks(tasks=[old])["tasks"][0]["desiredStatus"] == "STOPPED", 20,
             "the old task to stop once unprotected")


def test_aws_cli_flows(server, ecs):
    out = aws_ecs(server, "put-account-setting", "--name", "containerInsights", "--value", "enabled")
    assert out["setting"]["value"] == "enabled"
    register_instance(ecs)
    register_task_definition(ecs, cpu=10, memory=10)
    ecs.create_service(serviceName="s", taskDefinition="web", desiredCount=1)
    arn = wait_for(lambda: ecs.list_tasks(serviceName="s")["taskArns"], 20, "a task")[0]
    out = aws_ecs(server, "update-task-protection", "--cluster", "default", "--tasks", arn,
                  "--protection-enabled", "--expires-in-minutes", "30")
    assert out["protectedTasks"][0]["protectionEnabled"] is True
