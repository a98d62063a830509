"""What the server takes before it serves: its data dir (one server per
database) and its listening socket (bound here so that a port in use is one
clear line, not uvicorn's log and a bare exit).  Both are refused with
`StartupRefused`, whose message the command prints as it is."""

from __future__ import annotations

import errno
import socket

from ..config import ServerConfig
from ..lockfile import DirLock, LockHeld


class StartupRefused(Exception):
    """The server will not start with these settings; the message is one line."""


def lock_data_dir(config: ServerConfig) -> DirLock:
    """The lock beside the database file: one server per database."""
    path = config.database_path
    try:
        return DirLock(path.with_name(path.name + ".lock"), "portside server").acquire()
    except LockHeld as exc:
        raise StartupRefused(str(exc)) from None
    except OSError as exc:
        raise StartupRefused(f"cannot use data dir {path.parent}: {exc.strerror or exc}") from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, refused in one line when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupRefused(f"port {port} on {host} is already in use (another portside server? "
                                 f"`ss -ltnp 'sport = :{port}'` shows who); pick another with --port") from None
        if exc.errno == errno.EACCES:
            raise StartupRefused(f"not allowed to listen on {host}:{port} (ports below 1024 need root)") from None
        raise StartupRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
