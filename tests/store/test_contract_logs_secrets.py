"""The store's contract for CloudWatch Logs, Secrets Manager and SSM Parameter
Store (store/logs.py, secrets.py, parameters.py), once per backend in
store_backends.BACKENDS, through the interface only."""

from __future__ import annotations

import pytest
import store_backends
from store_backends import Backend

from portside.store.interface import Store, StoreError
from portside.store.logs import END, START
from portside.store.parameters import ParameterVersion
from portside.store.sealing import KEY_FILE
from portside.store.secrets import Secret, SecretValue

backend, location, store = store_backends.backend, store_backends.location, store_backends.store

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"


def test_log_groups_page_by_name_with_prefix_and_contains(store: Store) -> None:
    with store.transaction():
        for name in ("/ecs/web", "/ecs/api", "/other", "/ecs/a_b", "/ecs/a%b"):
            store.logs.create_group(name, 1000, "STANDARD", False)
        store.logs.set_retention("/ecs/web", 7)
    groups = store.logs.list_groups("/ecs/", None, "", 10, None)
    assert [g.name for g in groups] == ["/ecs/a%b", "/ecs/a_b", "/ecs/api", "/ecs/web"]
    # LIKE's wildcards in a prefix are literal characters
    assert [g.name for g in store.logs.list_groups("/ecs/a_", None, "", 10, None)] == ["/ecs/a_b"]
    assert [g.name for g in store.logs.list_groups("", "API", "", 10, None)] == ["/ecs/api"]
    assert [g.name for g in store.logs.list_groups("/ecs/", None, "/ecs/a_b", 1, None)] == ["/ecs/api"]
    assert store.logs.groups_with_retention() == [("/ecs/web", 7)]
    web = store.logs.get_group("/ecs/web")
    assert web is not None and web.retention_days == 7 and web.stored_bytes == 0
    with store.transaction():
        store.logs.delete_group("/other")
    assert store.logs.get_group("/other") is None


def test_events_keep_their_order_and_the_streams_their_counts(store: Store) -> None:
    with store.transaction():
        store.logs.create_group("/g", 1, "STANDARD", False)
        store.logs.create_stream("/g", "b", 2)
        store.logs.create_stream("/g", "a", 3)
        store.logs.put_events("/g", "a", [(100, "one"), (100, "two"), (300, "héllo")], ingested=400)
        store.logs.put_events("/g", "b", [(200, "b-one")], ingested=401)
    a = store.logs.get_stream("/g", "a")
    assert a is not None
    assert (a.first_event, a.last_event, a.last_ingestion, a.stored_bytes) == (100, 300, 400, 3 + 3 + 6)
    group = store.logs.get_group("/g")
    assert group is not None and group.stored_bytes == 12 + 5
    events = store.logs.stream_events("/g", "a", START, END, 10, newest=False)
    assert [e.message for e in events] == ["one", "two", "héllo"]  # same timestamp: insertion order
    newest = store.logs.stream_events("/g", "a", START, END, 2, newest=True)
    assert [e.message for e in newest] == ["two", "héllo"]
    after = store.logs.stream_events("/g", "a", events[0].position, END, 10, newest=False)
    assert [e.message for e in after] == ["two", "héllo"]
    merged = list(store.logs.scan_group("/g", START, END, None, batch=2))
    assert [e.message for e in merged] == ["one", "two", "b-one", "héllo"]
    assert [e.stream_name for e in store.logs.scan_group("/g", START, END, ["b"])] == ["b"]
    assert list(store.logs.scan_group("/g", START, END, [])) == []
    assert [s.name for s in store.logs.list_streams("/g", "", True, True, 0, 10)] == ["a", "b"]
    assert [s.name for s in store.logs.list_streams("/g", "", False, False, 1, 10)] == ["b"]
    assert store.logs.stream_names("/g", None, None) == ["a", "b"]
    assert store.logs.stream_names("/g", None, ["b", "zz"]) == ["b"]


def test_purging_before_a_cutoff_recounts_the_streams(store: Store) -> None:
    with store.transaction():
        store.logs.create_group("/g", 1, "STANDARD", False)
        store.logs.create_stream("/g", "s", 1)
        store.logs.put_events("/g", "s", [(10, "old"), (20, "older?"), (30, "kept")], ingested=31)
    with store.transaction():
        assert store.logs.purge_before("/g", 25) == 2
    s = store.logs.get_stream("/g", "s")
    assert s is not None and (s.first_event, s.stored_bytes) == (30, 4)
    with store.transaction():
        store.logs.delete_stream("/g", "s")
    assert store.logs.get_stream("/g", "s") is None
    assert list(store.logs.scan_group("/g", START, END, None)) == []


def test_secrets_and_their_versions(store: Store) -> None:
    with store.transaction():
        store.secrets.create(Secret("prod/db", SECRET_ARN, "db", 1.5, 1.5, None, None))
        store.secrets.add_version("prod/db", "v1", 1.5, SecretValue('{"password":"p1"}', None), ["AWSCURRENT"])
        store.secrets.add_version("prod/db", "v2", 2.5, SecretValue(None, b"\x00\xff"), ["AWSPENDING"])
        store.secrets.set_stages("prod/db", "v1", ["AWSPREVIOUS"])
        store.secrets.touch_version("prod/db", "v1", 3.0)
        store.secrets.update("prod/db", description="changed", last_changed=4.0)
    secret = store.secrets.get("prod/db")
    assert secret is not None and (secret.description, secret.last_changed) == ("changed", 4.0)
    assert store.secrets.get_by_arn(SECRET_ARN) == secret
    versions = store.secrets.versions("prod/db")
    assert [(v.version_id, v.stages, v.last_accessed) for v in versions] == [
        ("v2", ("AWSPENDING",), None), ("v1", ("AWSPREVIOUS",), 3.0)]
    assert store.secrets.value("prod/db", "v1") == SecretValue('{"password":"p1"}', None)
    assert store.secrets.value("prod/db", "v2") == SecretValue(None, b"\x00\xff")
    assert store.secrets.value("prod/db", "v3") is None
    with pytest.raises(ValueError):
        store.secrets.update("prod/db", arn="x")
    with store.transaction():
        store.secrets.update("prod/db", deletion_date=10.0)
    assert store.secrets.due_for_deletion(9.0) == []
    assert store.secrets.due_for_deletion(10.0) == ["prod/db"]
    assert [s.name for s in store.secrets.all()] == ["prod/db"]
    with store.transaction():
        store.secrets.delete("prod/db")
    assert store.secrets.get("prod/db") is None and store.secrets.versions("prod/db") == []


def parameter(name: str, version: int, value: str, kind: str = "String", labels: tuple[str, ...] = ()
              ) -> ParameterVersion:
    return ParameterVersion(name, version, kind, value, None, None, None, "Standard", "text", float(version),
                            labels)


def test_parameters_and_their_versions(store: Store) -> None:
    with store.transaction():
        store.parameters.add(parameter("/app/url", 1, "http://a"))
        store.parameters.add(parameter("/app/url", 2, "http://b", labels=("prod",)))
        store.parameters.add(parameter("/app/password", 1, "hunter2", "SecureString"))
        store.parameters.add(parameter("/app_x", 1, "x,y", "StringList"))
    latest = store.parameters.latest("/app/url")
    assert latest is not None and (latest.version, latest.value, latest.labels) == (2, "http://b", ("prod",))
    secure = store.parameters.latest("/app/password")
    assert secure is not None and secure.value == "hunter2" and secure.sealed and b"hunter2" not in secure.sealed
    assert [p.version for p in store.parameters.history("/app/url")] == [1, 2]
    assert store.parameters.names("/app/") == ["/app/password", "/app/url"]  # `_` is no wildcard
    assert store.parameters.names() == ["/app/password", "/app/url", "/app_x"]
    with store.transaction():
        store.parameters.set_labels("/app/url", 1, ["old"])
        store.parameters.delete_version("/app/url", 2)
        store.parameters.delete("/app_x")
    assert [(p.version, p.labels) for p in store.parameters.history("/app/url")] == [(1, ("old",))]
    assert store.parameters.latest("/app_x") is None


def key_file_of(backend: Backend, location: str, tmp_path):
    if backend.name == "postgres":
        from portside.testing import postgres

        return postgres.key_file(location)
    found = list(tmp_path.rglob(KEY_FILE))
    assert len(found) == 1
    return found[0]


def test_a_database_without_sealed_values_takes_a_new_key(backend: Backend, location: str, tmp_path) -> None:
    """SQLite (one server per file): yes.  PostgreSQL: never, as another server
    may still be sealing with the old key (see store/sql/key_check.py)."""
    opened = backend.open(location)
    with opened.transaction():
        opened.parameters.add(parameter("/plain", 1, "visible"))
    opened.commit()
    opened.close()
    key_file_of(backend, location, tmp_path).unlink()  # e.g. a backup restored without its key file
    if backend.name == "postgres":
        with pytest.raises(StoreError, match="is not this database's key .* --key-file"):
            backend.open(location)
        return
    reopened = backend.open(location)
    with reopened.transaction():
        reopened.secrets.create(Secret("s", SECRET_ARN, None, 1.0, 1.0, None, None))
        reopened.secrets.add_version("s", "v1", 1.0, SecretValue("new", None), ["AWSCURRENT"])
    reopened.commit()
    reopened.close()
    again = backend.open(location)  # the new key is the database's key now
    assert again.secrets.value("s", "v1") == SecretValue("new", None)
    assert again.parameters.latest("/plain").value == "visible"
    again.close()


def test_values_are_sealed_with_the_key_file_and_another_key_is_refused(backend: Backend, location: str,
                                                                         tmp_path) -> None:
    opened = backend.open(location)
    with opened.transaction():
        opened.secrets.create(Secret("s", SECRET_ARN, None, 1.0, 1.0, None, None))
        opened.secrets.add_version("s", "v1", 1.0, SecretValue("top secret", None), ["AWSCURRENT"])
    opened.commit()
    opened.close()
    reopened = backend.open(location)  # the same key file: the value opens
    assert reopened.secrets.value("s", "v1") == SecretValue("top secret", None)
    reopened.close()
    key_file = key_file_of(backend, location, tmp_path)
    assert key_file.stat().st_mode & 0o077 == 0
    key_file.unlink()  # a new key is made on the next open, and refused: it cannot open the values
    with pytest.raises(StoreError, match="does not open this database's secrets"):
        backend.open(location)


def test_a_value_sealed_with_another_key_is_named_not_anonymous() -> None:
    from cryptography.fernet import Fernet

    from portside.store.sealing import Sealer, SealingError

    sealed = Sealer(Fernet.generate_key()).seal(b"value")
    with pytest.raises(SealingError, match="key file") as refused:
        Sealer(Fernet.generate_key()).open(sealed)
    assert getattr(refused.value, "server_fault", False)  # answered as ServerException with this message
