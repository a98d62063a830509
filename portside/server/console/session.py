"""Who is using the console, and that a form came from the console.

With `--credentials`, a login with an admin key's id and secret gives a
session cookie: `KEYID.EXPIRES.NONCE.MAC`, signed (HMAC-SHA256) with a secret
made when the server starts, so it cannot be forged and every session ends
with the server or at EXPIRES.  The cookie is HttpOnly and SameSite=Strict
(another site's page cannot send it), scoped to /ui.  Agent keys cannot log in.

Every POST carries a CSRF token tied to the session (or, on an open loopback
server, to a SameSite=Strict cookie of its own), and a POST whose Origin is
not this server is refused: a web page on another site must not be able to
drain an instance through a user's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

SESSION_COOKIE = "portside_session"
CSRF_COOKIE = "portside_csrf"
SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True)
class Session:
    access_key_id: str  # "" on an open server
    expires: float
    nonce: str


class Sessions:
    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self._secret = os.urandom(32)
        self.ttl_s = ttl_s

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, access_key_id: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        expires = int((now or time.time()) + self.ttl_s)
        nonce = os.urandom(12).hex()
        body = f"{access_key_id}.{expires}.{nonce}"
        return Session(access_key_id, expires, nonce), f"{body}.{self._mac(body)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value stands for; None if forged, mangled or expired."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        key_id, expires, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{key_id}.{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) < (now or time.time()):
            return None
        return Session(key_id, float(expires), nonce)

    def csrf_token(self, binding: str) -> str:
        """The token forms must carry, bound to the session nonce (or CSRF cookie)."""
        return self._mac("csrf:" + binding)

    def csrf_ok(self, binding: str, token: str) -> bool:
        return bool(binding) and hmac.compare_digest(self.csrf_token(binding), token or "")

    def new_binding(self) -> str:
        return os.urandom(16).hex()


def cookies(header: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in found:
            found[name] = value
    return found


def set_cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}"


def same_origin(headers: Mapping[str, str]) -> bool:
    """An Origin (or, lacking it, Referer) header, when sent, must name this host."""
    host = headers.get("host", "")
    origin = headers.get("origin") or headers.get("referer")
    if not origin:
        return True  # browsers send Origin on every cross-site POST; its absence means same-origin
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest.split("/", 1)[0] == host
