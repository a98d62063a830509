# PYTHON_ARGCOMPLETE_OK
"""The `portside` command: `server`, `agent`, `up` (both at once), `exec` (ECS Exec) and
`logs` (what a task's container printed).

Every flag has a help line and shows its default; `portside --version` names
the release.  The commands themselves live beside this module (server.py,
agent_commands.py, up.py); this one only parses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..config import DEFAULT_TASK_RETENTION_S, ServerConfig
from . import logs

DESCRIPTION = "Portside: a self-hosted container orchestrator that speaks the Amazon ECS API."


class _Formatter(argparse.HelpFormatter):
    """Every flag's default after its help line, unless the help already says
    what the default is (as for defaults computed at run time)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
            return text
        if isinstance(action.default, bool):
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portside", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"portside {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server = commands.add_parser(
        "server", help="run the ECS API server", formatter_class=_Formatter,
        description="Run the ECS API server (and its service scheduler) until SIGTERM or Ctrl-C.",
    )
    _server_options(server)
    server.add_argument("--db", default=None, metavar="URL",
                        help="database URL, sqlite:///PATH (default: portside.db in the data dir)")
    server.add_argument("--account-id", default="123456789012", help="the account id in every ARN")
    server.add_argument("--task-retention", type=float, default=DEFAULT_TASK_RETENTION_S, metavar="SECONDS",
                        help="seconds a stopped task stays describable")
    server.add_argument("--agent-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="seconds without a poll after which an agent counts as disconnected")
    server.add_argument("--service-interval", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between the service scheduler's reconcile ticks")
    server.add_argument("--lease-seconds", type=float, default=5.0, metavar="SECONDS",
                        help="servers sharing a PostgreSQL database: how long the leader's lease lasts "
                             "(another server takes over this long after the leader dies)")
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
    _log_options(server)

    agent = commands.add_parser(
        "agent", help="run a container agent on this host", formatter_class=_Formatter,
        description="Register this host as a container instance and run the tasks placed on it, "
                    "until SIGTERM or Ctrl-C (its containers keep running, adopted on the next start).",
    )
    agent.add_argument("--server", required=True, metavar="URL[,URL...]",
                       help="the Portside server URL (required); several servers sharing one PostgreSQL "
                            "database, comma-separated: the agent moves to the next when one fails")
    agent.add_argument("--cluster", default=None,
                       help="the cluster to join (default: default; with --fargate, Portside's "
                            "unseen Fargate capacity cluster)")
    agent.add_argument("--capacity-provider", default=None, metavar="NAME",
                       help="join this EC2 capacity provider (Auto Scaling group or Managed Instances kind)")
    agent.add_argument("--fargate", action="store_true",
                       help="offer this host as Fargate capacity: Fargate tasks of every cluster run here")
    agent.add_argument("--data-dir", type=Path, default=Path("~/.portside/agent"),
                       help="where the agent keeps its checkpoint (one agent per data dir)")
    agent.add_argument("--profile", default=None,
                       help="AWS profile holding the agent's key (default: AWS_PROFILE, then the "
                            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables)")
    agent.add_argument("--region", default="us-east-1", help="the server's region, for signing")
    agent.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                       help="serve the agent's Prometheus metrics on 127.0.0.1:PORT/metrics (default: off)")
    _agent_options(agent)
    _log_options(agent)

    backup = commands.add_parser(
        "backup", help="copy a (running) server's database, consistently", formatter_class=_Formatter,
        description="Copy the server's SQLite database to a new file with SQLite's online backup, "
                    "consistently even while the server runs.",
    )
    backup.add_argument("destination", type=Path, help="the new file to write the copy to")
    backup.add_argument("--data-dir", type=Path, default=Path("~/.portside"), help="the server's data dir")
    backup.add_argument("--db", default=None, help="database URL (default: SQLite in the data dir)")
    backup.add_argument("--key-file", type=Path, default=None, metavar="FILE",
                        help="the server's --key-file, copied beside the backup (default: portside.key "
                             "beside the database)")

    _log_options(backup)

    up = commands.add_parser(
        "up", help="run the server and a local agent together", formatter_class=_Formatter,
        description="Run the ECS API server and one local agent as child processes, with the default "
                    "cluster, until SIGTERM or Ctrl-C.  If either child dies, up stops the other and "
                    "exits non-zero.",
    )
    _server_options(up)
    up.add_argument("--db", default=None, help="the server's database URL (default: SQLite in the data dir)")
    _agent_options(up)
    _log_options(up)

    from . import exec_command, logs_command

    exec_command.add_parser(commands)
    logs_command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        import argcomplete  # shell completion: eval "$(register-python-argcomplete portside)"
    except ImportError:
        pass
    else:
        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    logs.configure(getattr(args, "log_level", "WARNING"), getattr(args, "log_format", "text"))
    if args.command == "backup":
        return _backup(args)
    if args.command == "logs":
        from . import logs_command

        return logs_command.run(args)
    if args.command == "exec":
        from . import exec_command

        return exec_command.run(args)
    if args.command == "server":
        from .server import server

        return server(args)
    from . import agent_commands

    if args.command == "agent":
        return agent_commands.agent(args)
    from .up import up

    return up(args)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (anything but loopback needs --credentials)")
    parser.add_argument("--port", type=int, default=8585, help="port to listen on")
    parser.add_argument("--data-dir", type=Path, default=Path("~/.portside"),
                        help="where state is kept (one server per data dir)")
    parser.add_argument("--region", default="us-east-1", help="the region in ARNs and signatures")
    parser.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                        help="keys allowed to call (AWS credentials INI, one section per key with "
                             "role = admin or role = agent) (default: none: any signature is accepted, and only "
                             "on loopback)")
    parser.add_argument("--metrics-token", type=Path, default=None, metavar="FILE",
                        help="a file whose first line is a bearer token GET /metrics accepts besides an admin "
                             "key's signature (only matters with --credentials) (default: none)")
    parser.add_argument("--key-file", type=Path, default=None, metavar="FILE",
                        help="the key that seals secrets and SecureString parameters, made (mode 0600) if "
                             "missing; servers sharing a PostgreSQL database must all be given the same one "
                             "(default: portside.key beside the SQLite database, or in the data dir)")


def _agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=("docker", "fake"), default="docker",
                        help="run containers on Docker, or simulate them (fake)")
    parser.add_argument("--stop-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="default seconds between SIGTERM and SIGKILL when stopping a container")
    parser.add_argument("--availability-zone", default="local-1a",
                        help="the ecs.availability-zone attribute of this instance")
    parser.add_argument("--cpu-units", type=int, default=None,
                        help="CPU units to register (default: 1024 per core)")
    parser.add_argument("--memory-mib", type=int, default=None,
                        help="memory to register, MiB (default: the host's, less 256)")
    parser.add_argument("--host-port-range", type=_port_range, default=None, metavar="LOW-HIGH",
                        help="the host ports this agent publishes: dynamic ones drawn from it, static ones "
                             "outside it placed elsewhere; needed when agents share a Docker host "
                             "(default: any port, dynamic ones chosen by Docker)")


def _port_range(text: str) -> tuple[int, int]:
    from ..domain.resources import parse_port_range

    found = parse_port_range(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW-HIGH with 1 <= LOW <= HIGH <= 65535")
    return found


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", type=str.upper, choices=logs.LEVELS, default="INFO",
                        help="least severe log lines shown")
    parser.add_argument("--log-format", choices=logs.FORMATS, default="text",
                        help="text (one line per event) or json (one object per line)")


def _backup(args: argparse.Namespace) -> int:
    from ..store.backup import backup, backup_key
    from ..store.integrity import UntrustedStore

    try:
        config = ServerConfig(data_dir=args.data_dir.expanduser(), db_url=args.db,
                              key_file_path=args.key_file.expanduser() if args.key_file else None)
        source = config.database_path
        pages = backup(source, args.destination.expanduser())
        key = backup_key(config.key_path, args.destination.expanduser())
    except (ValueError, UntrustedStore) as exc:
        print(f"portside: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {source} to {args.destination} ({pages} pages)")
    if key is not None:
        print(f"and its key file (it seals the secrets) to {key}: keep the two together")
    return 0


if __name__ == "__main__":
    sys.exit(main())
