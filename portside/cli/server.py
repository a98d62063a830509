"""`portside server`: settings → refusals in one line → serve."""

from __future__ import annotations

import argparse
import sys

from ..config import ServerConfig


def config_from(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir.expanduser(),
        db_url=args.db,
        region=args.region,
        account_id=args.account_id,
        task_retention_s=args.task_retention,
        agent_timeout_s=args.agent_timeout,
        service_interval_s=args.service_interval,
        lease_s=args.lease_seconds,
        max_connections=args.max_connections,
        idle_timeout_s=args.idle_timeout,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        credentials_path=args.credentials.expanduser() if args.credentials else None,
        metrics_token_path=args.metrics_token.expanduser() if args.metrics_token else None,
        key_file_path=args.key_file.expanduser() if args.key_file else None,
    )


def server(args: argparse.Namespace) -> int:
    """Refused (exit 2, one line on stderr) for unsafe settings, a data dir
    another server holds, or a port in use; else serves until a signal."""
    from ..server.lifecycle import StartupRefused, bind, lock_data_dir
    from ..server.runner import authenticator, run
    from ..store.integrity import UntrustedStore, check
    from .process import exit_now

    config = config_from(args)
    try:
        config.metrics_token()
        auth = authenticator(config)
        lock = None
        if config.postgres_dsn is None:  # SQLite: a file it can trust, and one server per file
            check(config.database_path, force=args.force)  # (a --db URL this server cannot use is refused here)
            lock = lock_data_dir(config)
        sock = bind(config.host, config.port)
    except (ValueError, OSError, StartupRefused, UntrustedStore) as exc:
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    try:
        run(config, auth, sock)
    except StartupRefused as exc:  # e.g. a database written by a newer Portside
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.release()
    # Stopped cleanly: every change committed, the store closed, the lock released.  Leave
    # without the interpreter's teardown, which only frees memory (botocore's models and
    # the rest: 0.3-0.5 s of a stop on a busy machine, paid by every restart).
    exit_now(0)
    return 0
