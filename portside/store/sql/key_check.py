"""That the key file opens this database's sealed values.

A database remembers one value sealed with the key it was first given.  A
server given another key file (a PostgreSQL database shared by servers
that do not share their key file, a key file lost or replaced) refuses to
start in one line, rather than answering every GetSecretValue with an
error, or sealing new values with a key the other servers cannot open."""

from __future__ import annotations

from typing import Any

from ..dialect import Dialect
from ..interface import StoreError
from ..sealing import Sealer, SealingError

_PROBE = b"portside sealing check"


def check_key(db: Any, dialect: Dialect, sealer: Sealer, key_file: str) -> None:
    """Call inside a transaction: records the probe on first use."""
    row = db.execute(dialect.sql("SELECT token FROM sealing_check WHERE id = 1")).fetchone()
    if row is None:
        db.execute(dialect.sql("INSERT INTO sealing_check (id, token) VALUES (1, ?)"), (sealer.seal(_PROBE),))
        return
    try:
        if sealer.open(bytes(row[0])) == _PROBE:
            return
    except SealingError:
        pass
    raise StoreError(f"the key file {key_file} does not open this database's secrets and SecureString "
                     "parameters: use the key file this database was first used with (servers sharing a "
                     "database share their key file)")
