"""`portside exec`: ECS Exec's client.  It calls ExecuteCommand (signed like
any ECS call, endpoint and key found the standard AWS ways) and attaches to
the session's stream: stdout and stderr always, stdin and a TTY with
`--interactive`.  Its exit status is the command's (255 when the session
could not run it)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import threading
from typing import Any

from ..domain import execute_command as frames
from .frame_stream import copy_output


def add_parser(commands: Any) -> None:
    cmd = commands.add_parser("exec", help="run a command in a task's container (ECS Exec)")
    cmd.add_argument("--endpoint-url", default=None,
                     help="the Portside server (default: AWS_ENDPOINT_URL_ECS, then AWS_ENDPOINT_URL)")
    cmd.add_argument("--cluster", default=None)
    cmd.add_argument("--region", default=None)
    cmd.add_argument("--profile", default=None)
    cmd.add_argument("--container", default=None)
    cmd.add_argument("--interactive", "-i", action="store_true", help="attach stdin and a TTY")
    cmd.add_argument("task")
    cmd.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND")


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from websockets.sync.client import connect

    command = list(args.argv)
    while command and command[0] in ("--container", "--interactive", "-i", "--"):  # options after TASK
        option = command.pop(0)
        if option == "--":
            break
        if option == "--container" and command:
            args.container = command.pop(0)
        elif option in ("--interactive", "-i"):
            args.interactive = True
    if not command:
        print("portside exec: a command is required", file=sys.stderr)
        return 2
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region or None)
    ecs = session.client("ecs", endpoint_url=args.endpoint_url,
                         region_name=args.region or session.region_name or "us-east-1")
    request: dict[str, Any] = {"task": args.task, "command": shlex.join(command), "interactive": True}
    if args.cluster:
        request["cluster"] = args.cluster
    if args.container:
        request["container"] = args.container
    try:
        answer = ecs.execute_command(**request)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"portside exec: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 255
    except BotoCoreError as exc:
        print(f"portside exec: {exc}", file=sys.stderr)
        return 255
    interactive = args.interactive
    cols, rows = shutil.get_terminal_size((80, 24))
    with connect(answer["session"]["streamUrl"], max_size=None, open_timeout=10) as stream:
        stream.send(json.dumps({"token": answer["session"]["tokenValue"], "tty": interactive,
                                "cols": cols, "rows": rows}))
        restore = None
        if interactive:
            restore = _raw_terminal()
            threading.Thread(target=_forward_stdin, args=(stream,), daemon=True).start()
            if sys.stdin.isatty():
                signal.signal(signal.SIGWINCH, lambda *_: _send_size(stream))
        else:
            stream.send(frames.frame(frames.STDIN_EOF))
        try:
            return _receive(stream)
        finally:
            if restore:
                restore()


def _receive(stream: Any) -> int:
    ended = copy_output(stream)
    if ended is None:
        print("portside exec: the session ended without an exit status", file=sys.stderr)
        return 255
    kind, payload = ended
    if kind == frames.EXIT:
        return int(json.loads(payload)["exitCode"])
    print(f"portside exec: {payload.decode(errors='replace')}", file=sys.stderr)
    return 255


def _forward_stdin(stream: Any) -> None:
    fd = sys.stdin.fileno()
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            stream.send(frames.frame(frames.STDIN, data))
        stream.send(frames.frame(frames.STDIN_EOF))
    except Exception:  # the session ended
        pass


def _send_size(stream: Any) -> None:
    cols, rows = shutil.get_terminal_size((80, 24))
    try:
        stream.send(frames.frame(frames.RESIZE, {"cols": cols, "rows": rows}))
    except Exception:
        pass


def _raw_terminal() -> Any:
    """Put a terminal stdin in raw mode (keys go to the remote TTY as typed);
    returns what restores it, or None when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return None
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
