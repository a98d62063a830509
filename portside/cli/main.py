"""The `portside` command: `server`, `agent`, `up` (both at once) and `exec` (ECS Exec)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import DEFAULT_TASK_RETENTION_S, ServerConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portside", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    server = commands.add_parser("server", help="run the ECS API server")
    _server_options(server)
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--db", default=None, help="database URL (default: SQLite in the data dir)")
    server.add_argument("--region", default="us-east-1")
    server.add_argument("--account-id", default="123456789012")
    server.add_argument("--task-retention", type=float, default=DEFAULT_TASK_RETENTION_S,
                        help="seconds a stopped task stays describable (default: 3600)")
    server.add_argument("--agent-timeout", type=float, default=30.0,
                        help="seconds without a poll after which an agent counts as disconnected")
    server.add_argument("--service-interval", type=float, default=1.0,
                        help="seconds between the service scheduler's reconcile ticks (default: 1)")
    server.add_argument("--force", action="store_true",
                        help="start even on a database that lost changes (empty, or its write-ahead log "
                             "gone or damaged after an unclean stop); see TRUST.md")
    server.add_argument("--max-connections", type=int, default=4096,
                        help="open client connections at most; at the cap the oldest idle or slow one "
                             "is closed (default: 4096)")
    server.add_argument("--idle-timeout", type=float, default=5.0,
                        help="seconds a connection may sit without a request under way (default: 5)")
    server.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a request's headers may take to arrive (default: 10)")
    server.add_argument("--body-timeout", type=float, default=30.0,
                        help="seconds a request's body may take to arrive after its headers (default: 30)")

    agent = commands.add_parser("agent", help="run a container agent on this host")
    agent.add_argument("--server", required=True, help="the Portside server URL")
    agent.add_argument("--cluster", default=None,
                       help="the cluster to join (default: default; with --fargate, Portside's "
                            "unseen Fargate capacity cluster)")
    agent.add_argument("--capacity-provider", default=None, metavar="NAME",
                       help="join this EC2 capacity provider (Auto Scaling group or Managed Instances kind)")
    agent.add_argument("--fargate", action="store_true",
                       help="offer this host as Fargate capacity: Fargate tasks of every cluster run here")
    agent.add_argument("--data-dir", type=Path, default=Path("~/.portside/agent"))
    agent.add_argument("--profile", default=None,
                       help="AWS profile holding the agent's key (default: AWS_PROFILE, then the "
                            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables)")
    agent.add_argument("--region", default="us-east-1", help="the server's region, for signing")
    _agent_options(agent)

    backup = commands.add_parser("backup", help="copy a (running) server's database, consistently")
    backup.add_argument("destination", type=Path, help="the new file to write the copy to")
    backup.add_argument("--data-dir", type=Path, default=Path("~/.portside"))
    backup.add_argument("--db", default=None, help="database URL (default: SQLite in the data dir)")

    up = commands.add_parser("up", help="run the server and a local agent together")
    _server_options(up)
    up.add_argument("--db", default=None, help="the server's database URL (default: SQLite in the data dir)")
    _agent_options(up)

    from . import exec_command

    exec_command.add_parser(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.command == "server":
        return _server(args)
    if args.command == "backup":
        return _backup(args)
    if args.command == "exec":
        return exec_command.run(args)
    from . import agent_commands

    if args.command == "agent":
        return agent_commands.agent(args)
    return agent_commands.up(args)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8585)
    parser.add_argument("--data-dir", type=Path, default=Path("~/.portside"))
    parser.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                        help="keys allowed to call (AWS credentials INI, one section per key with "
                             "role = admin or role = agent); without it only loopback is served")


def _agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=("docker", "fake"), default="docker")
    parser.add_argument("--stop-timeout", type=float, default=30.0,
                        help="default seconds between SIGTERM and SIGKILL when stopping a container")
    parser.add_argument("--availability-zone", default="local-1a")
    parser.add_argument("--cpu-units", type=int, default=None, help="CPU to register (default: 1024 per core)")
    parser.add_argument("--memory-mib", type=int, default=None, help="memory to register (default: host's)")


def _backup(args: argparse.Namespace) -> int:
    from ..store.backup import backup
    from ..store.integrity import UntrustedStore

    try:
        source = ServerConfig(data_dir=args.data_dir.expanduser(), db_url=args.db).database_path
        pages = backup(source, args.destination.expanduser())
    except (ValueError, UntrustedStore) as exc:
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {source} to {args.destination} ({pages} pages)")
    return 0


def _server(args: argparse.Namespace) -> int:
    from ..server.runner import StartupRefused, authenticator, run

    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir.expanduser(),
        db_url=args.db,
        region=args.region,
        account_id=args.account_id,
        task_retention_s=args.task_retention,
        agent_timeout_s=args.agent_timeout,
        service_interval_s=args.service_interval,
        max_connections=args.max_connections,
        idle_timeout_s=args.idle_timeout,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        credentials_path=args.credentials.expanduser() if args.credentials else None,
    )
    from ..store.integrity import UntrustedStore, check

    try:
        if config.postgres_dsn is None:
            _ = config.database_path  # a --db URL this server cannot use is refused here, before anything starts
        auth = authenticator(config)
        check(config.database_path, force=args.force)
    except (ValueError, StartupRefused, UntrustedStore) as exc:
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    try:
        run(config, auth)
    except StartupRefused as exc:  # e.g. a database written by a newer Portside
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
