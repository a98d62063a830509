"""Secrets Manager and SSM Parameter Store on Portside's port, through boto3 and
the AWS CLI, against a real server process; values sealed at rest."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, database_rows, error_code, stored_bytes


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture
def ssm(server):
    return server.client("ssm")


def test_secret_versions_and_stages(sm, server):
    created = sm.create_secret(Name="prod/db", SecretString='{"user":"app","password":"hunter2-very-secret"}',
                               Description="db", Tags=[{"Key": "team", "Value": "a"}])
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-")
    assert len(created["ARN"].rsplit("-", 1)[1]) == 6
    with pytest.raises(ClientError) as exc:
        sm.create_secret(Name="prod/db", SecretString="x")
    assert error_code(exc) == "ResourceExistsException"

    got = sm.get_secret_value(SecretId="prod/db")
    assert json.loads(got["SecretString"])["password"] == "hunter2-very-secret"
    assert got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == created["VersionId"]
    assert sm.get_secret_value(SecretId=created["ARN"])["VersionId"] == created["VersionId"]
    partial = created["ARN"].rsplit("-", 1)[0]
    assert sm.get_secret_value(SecretId=partial)["VersionId"] == created["VersionId"]

    second = sm.put_secret_value(SecretId="prod/db", SecretString="v2")
    assert second["VersionStages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId="prod/db")["SecretString"] == "v2"
    previous = sm.get_secret_value(SecretId="prod/db", VersionStage="AWSPREVIOUS")
    assert previous["VersionId"] == created["VersionId"] and "hunter2" in previous["SecretString"]
    assert sm.get_secret_value(SecretId="prod/db", VersionId=created["VersionId"])["VersionStages"] == ["AWSPREVIOUS"]
    third = sm.update_secret(SecretId="prod/db", SecretString="v3", Description="database")
    stages = sm.describe_secret(SecretId="prod/db")["VersionIdsToStages"]
    assert stages == {third["VersionId"]: ["AWSCURRENT"], second["VersionId"]: ["AWSPREVIOUS"]}

    token = "a" * 40  # an idempotent retry with the same token and value makes nothing new
    sm.put_secret_value(SecretId="prod/db", SecretString="v4", ClientRequestToken=token)
    sm.put_secret_value(SecretId="prod/db", SecretString="v4", ClientRequestToken=token)
    with pytest.raises(ClientError) as exc:
        sm.put_secret_value(SecretId="prod/db", SecretString="other", ClientRequestToken=token)
    assert error_code(exc) == "ResourceExistsException"

    binary = sm.create_secret(Name="bin", SecretBinary=b"\x00\x01raw")
    assert sm.get_secret_value(SecretId="bin")["SecretBinary"] == b"\x00\x01raw"
    assert binary["Name"] == "bin"

    for call, code in [
        (lambda: sm.get_secret_value(SecretId="missing"), "ResourceNotFoundException"),
        (lambda: sm.get_secret_value(SecretId="prod/db", VersionStage="NOPE"), "ResourceNotFoundException"),
        (lambda: sm.create_secret(Name="both", SecretString="a", SecretBinary=b"b"), "InvalidParameterException"),
        (lambda: sm.create_secret(Name="k", SecretString="a", KmsKeyId="alias/mine"), "ValidationException"),
        (lambda: sm.delete_secret(SecretId="prod/db", RecoveryWindowInDays=3), "InvalidParameterException"),
        (lambda: sm.create_secret(Name="bad name!", SecretString="a"), "ValidationException"),
    ]:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == code, exc.value.response

    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": ["prod/"]}])["SecretList"]
    assert [s["Name"] for s in listed] == ["prod/db"] and listed[0]["Tags"] == [{"Key": "team", "Value": "a"}]

    # durable and sealed: after a kill -9 the values are back, and no value is on disk in the clear
    server.restart(signal.SIGKILL)
    sm = server.client("secretsmanager")
    assert sm.get_secret_value(SecretId="prod/db")["SecretString"] == "v4"
    on_disk = stored_bytes(server)
    assert b"hunter2-very-secret" not in on_disk and b"prod/db" in on_disk
    key = server.data_dir / "portside.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "hunter2" not in (server.data_dir / "server.log").read_text()


def test_secret_deletion_and_restore(sm):
    sm.create_secret(Name="temp", SecretString="x")
    out = sm.delete_secret(SecretId="temp", RecoveryWindowInDays=7)
    assert out["DeletionDate"]
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId="temp")
    assert error_code(exc) == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(SecretId="temp")
    assert sm.list_secrets()["SecretList"] == []
    assert [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]] == ["temp"]
    sm.restore_secret(SecretId="temp")
    assert sm.get_secret_value(SecretId="temp")["SecretString"] == "x"
    sm.delete_secret(SecretId="temp", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as exc:
        sm.describe_secret(SecretId="temp")
    assert error_code(exc) == "ResourceNotFoundException"
    sm.create_secret(Name="temp", SecretString="again")  # the name is free at once
    sm.tag_resource(SecretId="temp", Tags=[{"Key": "a", "Value": "1"}])
    sm.untag_resource(SecretId="temp", TagKeys=["a"])
    assert "Tags" not in sm.describe_secret(SecretId="temp")


def test_parameters(ssm, server):
    out = ssm.put_parameter(Name="/app/db/host", Value="db.local", Type="String")
    assert (out["Version"], out["Tier"]) == (1, "Standard")
    ssm.put_parameter(Name="/app/db/password", Value="s3cr3t-p4ss-word", Type="SecureString")
    ssm.put_parameter(Name="/app/hosts", Value="a,b,c", Type="StringList")
    ssm.put_parameter(Name="plain", Value="top", Type="String")
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/app/db/host", Value="other", Type="String")
    assert error_code(exc) == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name="/app/db/host", Value="db2.local", Overwrite=True)["Version"] == 2

    got = ssm.get_parameter(Name="/app/db/host")["Parameter"]
    assert (got["Value"], got["Version"], got["Type"]) == ("db2.local", 2, "String")
    assert got["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/db/host"
    assert ssm.get_parameter(Name="/app/db/host:1")["Parameter"]["Value"] == "db.local"
    assert ssm.get_parameter(Name=f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/plain")["Parameter"]["Value"] == "top"
    secret = ssm.get_parameter(Name="/app/db/password")["Parameter"]
    assert secret["Value"] != "s3cr3t-p4ss-word"
    decrypted = ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]
    assert decrypted["Value"] == "s3cr3t-p4ss-word"

    ssm.label_parameter_version(Name="/app/db/host", ParameterVersion=1, Labels=["stable"])
    assert ssm.get_parameter(Name="/app/db/host:stable")["Parameter"]["Value"] == "db.local"
    history = ssm.get_parameter_history(Name="/app/db/host")["Parameters"]
    assert [(h["Version"], h["Labels"]) for h in history] == [(1, ["stable"]), (2, [])]

    many = ssm.get_parameters(Names=["/app/db/host", "/nope", "/app/db/password"], WithDecryption=True)
    assert [p["Value"] for p in many["Parameters"]] == ["db2.local", "s3cr3t-p4ss-word"]
    assert many["InvalidParameters"] == ["/nope"]

    one_level = ssm.get_parameters_by_path(Path="/app")["Parameters"]
    assert [p["Name"] for p in one_level] == ["/app/hosts"]
    everything, token = [], None
    while True:
        page = ssm.get_parameters_by_path(Path="/app", Recursive=True, MaxResults=2,
                                          **({"NextToken": token} if token else {}))
        everything += page["Parameters"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(p["Name"] for p in everything) == ["/app/db/host", "/app/db/password", "/app/hosts"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])
    assert [p["Name"] for p in described["Parameters"]] == ["/app/db/password"]
    assert described["Parameters"][0]["KeyId"] == "alias/aws/ssm"

    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/app/hosts", Tags=[{"Key": "k", "Value": "v"}])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/app/hosts")["TagList"] == [
        {"Key": "k", "Value": "v"}]

    for call, code in [
        (lambda: ssm.get_parameter(Name="/missing"), "ParameterNotFound"),
        (lambda: ssm.get_parameter(Name="/app/db/host:9"), "ParameterVersionNotFound"),
        (lambda: ssm.put_parameter(Name="/aws/x", Value="v", Type="String"), "ValidationException"),
        (lambda: ssm.put_parameter(Name="new", Value="v"), "ValidationException"),
        (lambda: ssm.put_parameter(Name="/k", Value="v", Type="SecureString", KeyId="alias/mine"), "InvalidKeyId"),
        (lambda: ssm.put_parameter(Name="/p", Value="abc", Type="String", AllowedPattern="^\\d+$"),
         "ParameterPatternMismatchException"),
        (lambda: ssm.put_parameter(Name="/big", Value="x" * 5000, Type="String"), "ValidationException"),
        (lambda: ssm.put_parameter(Name="/pol", Value="v", Type="String", Policies="[]"), "ValidationException"),
        (lambda: ssm.delete_parameter(Name="/missing"), "ParameterNotFound"),
        (lambda: ssm.list_tags_for_resource(ResourceType="Document", ResourceId="x"), "InvalidResourceType"),
    ]:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == code, exc.value.response
    assert ssm.put_parameter(Name="/big", Value="x" * 5000, Type="String", Tier="Advanced")["Tier"] == "Advanced"

    deleted = ssm.delete_parameters(Names=["/app/hosts", "/gone"])
    assert deleted["DeletedParameters"] == ["/app/hosts"] and deleted["InvalidParameters"] == ["/gone"]

    server.restart(signal.SIGKILL)
    ssm = server.client("ssm")
    assert ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]["Value"] == "s3cr3t-p4ss-word"
    assert b"s3cr3t-p4ss-word" not in stored_bytes(server)
    stored = database_rows(server, "SELECT value FROM parameter_versions WHERE name = '/app/db/password'")[0][0]
    assert b"s3cr3t" not in bytes(stored)


def test_secrets_and_parameters_through_the_aws_cli(server):
    env = dict(os.environ, AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID="AKIDCLI",
               AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION=REGION, AWS_MAX_ATTEMPTS="1")

    def aws(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    made = aws("secretsmanager", "create-secret", "--name", "cli/token", "--secret-string", "tok-123")
    assert made["Name"] == "cli/token"
    assert aws("secretsmanager", "get-secret-value", "--secret-id", "cli/token")["SecretString"] == "tok-123"
    aws("ssm", "put-parameter", "--name", "/cli/pass", "--value", "pw-456", "--type", "SecureString")
    shown = aws("ssm", "get-parameter", "--name", "/cli/pass", "--with-decryption")["Parameter"]
    assert shown["Value"] == "pw-456" and shown["Type"] == "SecureString"
    assert aws("ssm", "get-parameter", "--name", "/cli/pass")["Parameter"]["Value"] != "pw-456"
    missing = subprocess.run([sys.executable, "-m", "awscli", "ssm", "get-parameter", "--name", "/nope"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "ParameterNotFound" in missing.stderr


@pytest.mark.sqlite_only("portside backup copies a SQLite database (PostgreSQL is backed up with its own tools)")
def test_a_backup_restores_with_its_key_file_and_is_refused_with_another(server, tmp_path):
    from conftest import ServerProcess

    server.client("secretsmanager").create_secret(Name="kept", SecretString="in the backup")
    copy = tmp_path / "backup.db"
    done = subprocess.run([sys.executable, "-m", "portside", "backup", str(copy), "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    key = tmp_path / "backup.db.key"
    assert key.read_bytes() == (server.data_dir / "portside.key").read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    server.stop()
    elsewhere = tmp_path / "elsewhere"  # restored without the key: refused in one line, not a 500 per read
    elsewhere.mkdir()
    (elsewhere / "portside.db").write_bytes(copy.read_bytes())
    refused = subprocess.run([sys.executable, "-m", "portside", "server", "--port", str(server.port), "--data-dir",
                              str(elsewhere)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "does not open this database's secrets" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    restored = tmp_path / "restored"
    restored.mkdir()
    copy.rename(restored / "portside.db")
    key.rename(restored / "portside.key")
    again = ServerProcess(restored).start()
    try:
        value = again.client("secretsmanager").get_secret_value(SecretId="kept")
        assert value["SecretString"] == "in the backup"
    finally:
        again.stop()


@pytest.mark.sqlite_only("portside backup copies a SQLite database")
def test_the_key_file_option_places_the_key_and_backup_copies_it_from_there(tmp_path):
    from conftest import ServerProcess

    key = tmp_path / "etc" / "sealing.key"
    data = tmp_path / "data"
    server = ServerProcess(data, "--key-file", str(key)).start()
    try:
        server.client("secretsmanager").create_secret(Name="kept", SecretString="v")
    finally:
        server.stop()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and not (data / "portside.key").exists()
    copy = tmp_path / "backup.db"
    done = subprocess.run([sys.executable, "-m", "portside", "backup", str(copy), "--data-dir", str(data),
                           "--key-file", str(key)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "backup.db.key").read_bytes() == key.read_bytes()
    refused = subprocess.run([sys.executable, "-m", "portside", "server", "--port", "0", "--data-dir", str(data)],
                             capture_output=True, text=True, timeout=60)  # without it: another key, refused
    assert refused.returncode == 2 and "does not open this database's secrets" in refused.stderr
