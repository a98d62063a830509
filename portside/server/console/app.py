"""The web console at /ui: routing, who may see it, and the POST actions.

Reads and actions go through the ECS API's own pipeline in-process
(`server/inproc.py`), so the console can do nothing the API would refuse and
shows exactly what it answers.  Access follows the API's: an open server
(no `--credentials`) serves loopback only; with `--credentials` a login with
an admin key is needed (see `session.py` for the cookie and CSRF rules).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from ...protocol.auth import Authenticator, is_loopback_host
from ..inproc import ApiError, call
from . import pages
from .logs import container_logs
from .session import CSRF_COOKIE, SESSION_COOKIE, Sessions, cookies, same_origin, set_cookie

log = logging.getLogger("portside.console")

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"htmx.min.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
MAX_FORM = 16 * 1024

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

SEGMENT = r"([^/]+)"
GET_ROUTES = [
    (re.compile(r"/ui/clusters"), "clusters"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/instances"), "instances"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/services"), "services"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/services/{SEGMENT}"), "service"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/tasks/{SEGMENT}"), "task"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/tasks/{SEGMENT}/logs/{SEGMENT}"), "task_logs"),
    (re.compile(r"/ui/tasks"), "tasks"),
    (re.compile(r"/ui/task-definitions"), "families"),
    (re.compile(rf"/ui/task-definitions/{SEGMENT}"), "revisions"),
    (re.compile(rf"/ui/task-definitions/{SEGMENT}/diff"), "diff"),
    (re.compile(rf"/ui/task-definitions/{SEGMENT}/(\d+)"), "definition"),
]
GET_ROUTES_BY_NAME = {name: pattern for pattern, name in GET_ROUTES}
POST_ROUTES = [
    (re.compile(rf"/ui/clusters/{SEGMENT}/instances/{SEGMENT}/state"), "instance_state"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/services/{SEGMENT}/scale"), "scale"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/services/{SEGMENT}/deploy"), "deploy"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/services/{SEGMENT}/stop-deployment"), "stop_deployment"),
    (re.compile(rf"/ui/clusters/{SEGMENT}/tasks/{SEGMENT}/stop"), "stop"),
]
NAV = (("Clusters", "/ui/clusters"), ("Tasks", "/ui/tasks"), ("Task definitions", "/ui/task-definitions"))


class Response:
    def __init__(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
                 headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = [("content-type", content_type), ("cache-control", "no-store"),
                        ("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"),
                        ("content-security-policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                    "frame-ancestors 'none'"),
                        *(headers or [])]

    @classmethod
    def redirect(cls, location: str, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(303, b"", headers=[("location", location), *(headers or [])])


class ConsoleApp:
    def __init__(self, ctx: Any, auth: Authenticator) -> None:
        self.ctx = ctx
        self.auth = auth
        self.sessions = Sessions()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            response = await self._answer(scope, receive, headers)
        except Exception:
            log.exception("console error on %s %s", scope["method"], scope["path"])
            response = Response(500, b"<h1>Internal error</h1><p>See the server's log.</p>")
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in
                                [*response.headers, ("content-length", str(len(response.body)))]]})
        await send({"type": "http.response.body", "body": response.body})

    async def _answer(self, scope: dict[str, Any], receive: Receive, headers: dict[str, str]) -> Response:
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        if path.startswith("/ui/static/"):
            return _static(path.removeprefix("/ui/static/"))
        if self.auth.open and not is_loopback_host(headers.get("host", "")):
            return Response(403, b"Without --credentials the console only answers on loopback.\n", "text/plain")
        jar = cookies(headers.get("cookie", ""))
        if path == "/ui/login":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return await self._login(method, receive, headers, query.get("next", [""])[0])
        session = None if self.auth.open else self.sessions.read(jar.get(SESSION_COOKIE))
        if not self.auth.open and session is None:
            if method == "GET":
                return Response.redirect("/ui/login?next=" + quote(path))
            return Response(403, b"Log in first.\n", "text/plain")
        set_headers: list[tuple[str, str]] = []
        if session is not None:
            binding = session.nonce
        else:  # open server: the CSRF token is bound to a SameSite=Strict cookie of its own
            binding = jar.get(CSRF_COOKIE, "")
            if not re.fullmatch(r"[0-9a-f]{32}", binding):
                binding = self.sessions.new_binding()
                set_headers.append(("set-cookie", set_cookie(CSRF_COOKIE, binding, 86400)))
        csrf = self.sessions.csrf_token(binding)
        if path == "/ui/logout" and method == "POST":
            form = await _form(receive)
            if not self.sessions.csrf_ok(binding, form.get("csrf", "")) or not same_origin(headers):
                return Response(403, b"Bad or missing CSRF token.\n", "text/plain")
            return Response.redirect("/ui/login", [("set-cookie", set_cookie(SESSION_COOKIE, "", 0))])
        if method == "POST":
            form = await _form(receive)
            if not same_origin(headers) or not self.sessions.csrf_ok(binding, form.get("csrf", "")):
                return Response(403, b"Bad or missing CSRF token, or a request from another site.\n", "text/plain")
            return await self._act(path, form)
        if method != "GET":
            return Response(405, b"", headers=[("allow", "GET, POST")])
        if path == "/ui":
            return Response.redirect("/ui/clusters")
        await self.ctx.store.settled()
        output = GET_ROUTES_BY_NAME["task_logs"].fullmatch(path)
        if output:  # a fragment of the task page, read from the container's agent or awslogs stream
            fragment = await container_logs(self.ctx, *output.groups())
            return Response(200, fragment.encode(), headers=set_headers)
        page_query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            title, body = self._page(path, page_query, csrf)
        except ApiError as exc:
            title, body = "Error", f'<div class="error">{pages.h(exc.code)}: {pages.h(exc.message)}</div>'
        except LookupError:
            return Response(404, _layout("Not found", "<h1>Not found</h1>", path, session, csrf), headers=set_headers)
        notice = ""
        if page_query.get("error"):
            notice = f'<div class="error" id="notice">{pages.h(page_query["error"])}</div>'
        elif page_query.get("done"):
            notice = f'<div class="notice" id="notice">{pages.h(page_query["done"])}</div>'
        here = scope.get("raw_path", b"").decode("latin-1") or path
        if scope.get("query_string"):
            here += "?" + scope["query_string"].decode("latin-1")
        body = body.replace('hx-get=""', f'hx-get="{pages.h(here)}"')
        return Response(200, _layout(title, notice + body, path, session, csrf), headers=set_headers)

    def _page(self, path: str, query: dict[str, str], csrf: str) -> tuple[str, str]:
        ctx = self.ctx
        for pattern, name in GET_ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            args = match.groups()
            if name == "clusters":
                return pages.clusters(ctx)
            if name == "instances":
                return pages.instances(ctx, args[0], csrf)
            if name == "services":
                return pages.services(ctx, args[0])
            if name == "service":
                return pages.service(ctx, args[0], args[1], csrf)
            if name == "task":
                return pages.task(ctx, args[0], args[1], csrf)
            if name == "tasks":
                return pages.task_list(ctx, query.get("cluster", ""), query.get("service", ""),
                                       query.get("status", "") if query.get("status") in pages.TASK_STATUSES else "",
                                       query.get("family", ""))
            if name == "families":
                return pages.families(ctx)
            if name == "revisions":
                return pages.revisions(ctx, args[0])
            if name == "diff":
                try:
                    a, b = int(query.get("a", "")), int(query.get("b", ""))
                except ValueError:
                    raise LookupError(path) from None
                return pages.diff(ctx, args[0], a, b)
            if name == "definition":
                return pages.definition(ctx, args[0], int(args[1]))
        raise LookupError(path)

    async def _act(self, path: str, form: dict[str, str]) -> Response:
        """One POST action through the API; back to the page with what happened."""
        ctx = self.ctx
        for pattern, name in POST_ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            cluster, ident = match.groups()
            await ctx.store.settled()
            back = path.rpartition("/")[0]
            try:
                if name == "instance_state":
                    back = f"/ui/clusters/{quote(cluster)}/instances"
                    call(ctx, "UpdateContainerInstancesState", cluster=cluster, containerInstances=[ident],
                         status=form.get("status", ""))
                    done = f"Instance {ident} set to {form.get('status')}."
                elif name == "scale":
                    try:
                        count = int(form.get("desiredCount", ""))
                    except ValueError:
                        raise ApiError("InvalidParameterException", "desiredCount must be a whole number.",
                                       400) from None
                    call(ctx, "UpdateService", cluster=cluster, service=ident, desiredCount=count)
                    done = f"Service {ident} scaled to {count}."
                elif name == "deploy":
                    call(ctx, "UpdateService", cluster=cluster, service=ident, forceNewDeployment=True)
                    done = f"A new deployment of {ident} has started."
                elif name == "stop_deployment":
                    call(ctx, "StopServiceDeployment", serviceDeploymentArn=form.get("serviceDeploymentArn", ""),
                         stopType="ROLLBACK")
                    done = f"The deployment of {ident} is stopping: rolling back."
                else:
                    call(ctx, "StopTask", cluster=cluster, task=ident, reason="Stopped from the Portside console")
                    back = path.removesuffix("/stop")
                    done = "Task stopping."
            except ApiError as exc:
                await ctx.store.durable()
                return Response.redirect(back + "?" + pages.query_string(error=f"{exc.code}: {exc.message}"))
            await ctx.store.durable()  # acknowledged only once committed, as the API does
            log.info("console: %s %s/%s", name, cluster, ident)
            return Response.redirect(back + "?" + pages.query_string(done=done))
        return Response(404, b"Not found.\n", "text/plain")

    async def _login(self, method: str, receive: Receive, headers: dict[str, str], next_path: str) -> Response:
        if self.auth.open:
            return Response.redirect("/ui/clusters")
        if method == "GET":
            return Response(200, _login_page("", next_path))
        form = await _form(receive)
        if not same_origin(headers):
            return Response(403, b"A login from another site is refused.\n", "text/plain")
        key = (self.auth.keys or {}).get(form.get("access_key_id", "").strip())
        secret = form.get("secret_access_key", "")
        if key is None or not hmac.compare_digest(key.secret.encode(), secret.encode()):
            log.warning("console: failed login for key id %r", form.get("access_key_id", "")[:32])
            return Response(401, _login_page("Unknown access key id or wrong secret.", form.get("next", "")))
        if key.role != "admin":
            log.warning("console: agent key %s may not log in", key.access_key_id)
            return Response(403, _login_page("Agent keys cannot log in to the console; use an admin key.",
                                             form.get("next", "")))
        _, cookie = self.sessions.issue(key.access_key_id)
        log.info("console: %s (%s) logged in", key.name, key.access_key_id)
        target = form.get("next", "")
        if not target.startswith("/ui/") or target.startswith("//"):
            target = "/ui/clusters"
        return Response.redirect(target, [("set-cookie", set_cookie(SESSION_COOKIE, cookie, int(self.sessions.ttl_s)))])


def _static(name: str) -> Response:
    if name not in STATIC_TYPES:
        return Response(404, b"Not found.\n", "text/plain")
    response = Response(200, (STATIC / name).read_bytes(), STATIC_TYPES[name])
    response.headers = [(k, "public, max-age=3600" if k == "cache-control" else v) for k, v in response.headers]
    return response


async def _form(receive: Receive) -> dict[str, str]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return {}
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return {k: v[0] for k, v in parse_qs(b"".join(chunks).decode("utf-8", "replace")).items()}


def _layout(title: str, body: str, path: str, session: Any, csrf: str) -> bytes:
    nav = "".join(f'<a href="{href}"{" class=active" if path.startswith(href) else ""}>{label}</a>'
                  for label, href in NAV)
    logout = ""
    if session is not None:
        logout = (f'<form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="{pages.h(csrf)}">'
                  f'<span class="small">{pages.h(session.access_key_id)}</span> <button type="submit">Log out</button>'
                  "</form>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{pages.h(title)} · Portside</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="/ui/static/favicon.svg"><link rel="stylesheet" href="/ui/static/console.css"><script src="/ui/static/htmx.min.js"></script>'
            '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>'
            f'</head><body><header><a class="brand" href="/ui/clusters">Portside</a>{nav}{logout}</header>'
            f"<main>{body}</main></body></html>").encode()


def _login_page(error: str, next_path: str = "") -> bytes:
    message = f'<div class="error">{pages.h(error)}</div>' if error else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in · Portside</title>'
            '<link rel="icon" href="/ui/static/favicon.svg"><link rel="stylesheet" href="/ui/static/console.css">'
            '</head><body><div class="card login">'
            f'<h1>Portside console</h1>{message}<form method="post" action="/ui/login">'
            f'<input type="hidden" name="next" value="{pages.h(next_path)}">'
            '<label for="k">Access key id</label><input id="k" name="access_key_id" autocomplete="username">'
            '<label for="s">Secret access key</label><input id="s" name="secret_access_key" type="password" '
            'autocomplete="current-password"><p><button class="primary" type="submit">Log in</button></p>'
            '<p class="small muted">An admin key of this server\'s --credentials file; agent keys cannot log in.'
            "</p></form></div></body></html>").encode()
