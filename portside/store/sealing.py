"""Encryption at rest for secret values and SecureString parameters.

A Fernet key (AES-128-CBC + HMAC-SHA256, from the `cryptography` library) is
kept in a file (`portside.key`: beside a SQLite database, in the server's data
dir for PostgreSQL), created on first start with mode 0600.  Only sealed bytes reach the database; anyone who copies the
database without the key file learns no value.  Neither the key nor a value
ever appears in a log line or a `repr`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger("portside.store")

KEY_FILE = "portside.key"


class SealingError(Exception):
    """A sealed value could not be opened (wrong key file, or tampered).  The
    request that met it answers ServerException with this message, not an
    anonymous internal error (see protocol/dispatch.py)."""

    server_fault = True


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "Sealer(<key hidden>)"

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise SealingError("a sealed value cannot be opened with this server's key file (portside.key): "
                               "servers sharing a database must share their key file") from exc


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`; a new one (0600) when there is none.  A new key is
    written and fsynced in a temporary file first and then linked into place,
    so a crash never leaves an empty key file, and two processes starting at
    once agree on one key (the second link fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        _fsync_dir(path.parent)
    key = path.read_bytes().strip()
    if path.stat().st_mode & 0o077:
        log.warning("key file %s is readable by other users; chmod 600 it", path)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
