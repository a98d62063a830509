"""That the key file opens this database's sealed values.

A database remembers one value sealed with the key it was last given.  A
server given another key file (a PostgreSQL database shared by servers
that do not share their key file, a key file lost or replaced) refuses to
start in one line while the database holds sealed values, rather than
answering every GetSecretValue with an error, or sealing new values with a
key the other servers cannot open.  A SQLite database without any (a backup
restored without its key, before any secret was made) takes the new key; a
shared (PostgreSQL) one never does: a server running with the old key would
go on sealing values the new one cannot open (the second of two servers
started with their own default keys is refused, and told of `--key-file`)."""

from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from ..interface import StoreError
from ..sealing import Sealer, SealingError

_PROBE = b"portside sealing check"


def check_key(db: Any, dialect: Dialect, sealer: Sealer, key_file: str, shared: bool = False) -> None:
    """Call inside a transaction: records the probe on first use.  `shared`:
    other servers may use the database at the same time (PostgreSQL)."""
    row = db.execute(dialect.sql("SELECT token FROM sealing_check WHERE id = 1")).fetchone()
    if row is None:
        db.execute(dialect.sql("INSERT INTO sealing_check (id, token) VALUES (1, ?)"), (sealer.seal(_PROBE),))
        return
    try:
        if sealer.open(bytes(row[0])) == _PROBE:
            return
    except SealingError:
        pass
    sealed = db.execute(dialect.sql(
        "SELECT 1 FROM secret_versions UNION ALL SELECT 1 FROM parameter_versions WHERE type = 'SecureString'"
        " LIMIT 1")).fetchone()
    if sealed is None and not shared:  # nothing the old key sealed: the new one is the database's key from now on
        db.execute(dialect.sql("UPDATE sealing_check SET token = ? WHERE id = 1"), (sealer.seal(_PROBE),))
        return
    if sealed is None:
        raise StoreError(f"the key file {key_file} is not this database's key (the first server to use the "
                         "database made it): give every server sharing a database the same key file with "
                         "--key-file (if that key is lost, and as no value is sealed yet, DELETE FROM "
                         "sealing_check in the database lets a new key take over)")
    raise StoreError(f"the key file {key_file} does not open this database's secrets and SecureString "
                     "parameters: use the key file this database was first used with (servers sharing a "
                     "database share their key file: --key-file)")
