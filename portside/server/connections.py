"""What a slow or hostile client may hold: time limits on reading a request, a
cap on open connections, a cap on the size of a request's head, and the file
descriptor limit raised so that the cap, not the kernel, is what refuses.

uvicorn alone holds a connection that never sends a byte, or sends its headers
a byte a minute, for ever; at the common soft limit of 1,024 descriptors about
a thousand such sockets make `accept` fail and lock every client and agent out
without a word.  Here each connection is in one of three phases:

    idle     connected, no request begun (or the last one answered)
    reading  a request begun: its head, then its body, being received
    serving  the whole request received, the application answering (an
             agent's long poll is held here)

An idle connection is closed after `idle_timeout`; a request's head must
arrive within `header_timeout` of its first byte and its body within
`body_timeout` of its head (else 408 and close).  At the connection cap a new
connection closes the oldest idle or reading one; only when every connection
is being served is the new one refused.  A held long poll is never evicted, so
agents keep being served however many sockets a client opens.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("portside.server")

IDLE, READING, SERVING = "idle", "reading", "serving"
_RESERVED_FDS = 128  # the database, its WAL, logs, Docker-less children: never given to clients


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 4096
    idle_timeout: float = 5.0  # uvicorn's keep-alive default, now also before the first request
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024  # the request line and every header together

    def effective_cap(self, fd_limit: int) -> int:
        """The cap, lowered to what the descriptor limit leaves room for."""
        return max(1, min(self.max_connections, fd_limit - _RESERVED_FDS))


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class _Book:
    """Every open connection of this server, oldest first, and the cap."""

    def __init__(self, limits: ConnectionLimits, cap: int) -> None:
        self.limits = limits
        self.cap = cap
        self.open: dict[Any, None] = {}  # insertion-ordered: oldest first
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0
        self._last_warning = 0.0

    def warn(self, what: str) -> None:
        """One line at most every 10 s, with the counts since the start."""
        now = time.monotonic()
        if now - self._last_warning >= 10.0:
            self._last_warning = now
            log.warning(
                "connection cap of %d reached: %s (so far %d idle or slow connections closed, %d refused)",
                self.cap, what, self.evicted, self.refused,
            )


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above.  `book` is set
    per server by `guarded_protocol`."""

    book: ClassVar[_Book]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = IDLE
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._headers_done = False
        self._booked = False

    # -- connection --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        book = self.book
        if len(book.open) >= book.cap and not self._evict_one(book):
            book.refused += 1
            book.warn("refused a new connection, every open one is being served")
            transport.abort()
            return
        book.open[self] = None
        self._booked = True
        super().connection_made(transport)
        self._arm(book.limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:  # refused: uvicorn never saw it
            return
        if self._booked:
            self._booked = False
            del self.book.open[self]
        self._disarm()
        super().connection_lost(exc)

    @staticmethod
    def _evict_one(book: _Book) -> bool:
        for conn in book.open:
            if conn._phase != SERVING:
                book.evicted += 1
                book.warn("closed the oldest idle or slow connection for a new one")
                del book.open[conn]
                conn._booked = False
                conn._disarm()
                conn.transport.abort()
                return True
        return False

    # -- timers --------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase == READING:
            self.book.timed_out += 1
            self._refuse(408, "Request Timeout")
        elif self._phase == IDLE:
            self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        body = reason.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode(), len(body), body)
        )
        self.transport.close()

    # -- reading -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._phase == IDLE or (self._phase == READING and not self._headers_done):
            self._head_bytes += len(data)
        super().data_received(data)
        if (self._phase in (IDLE, READING) and not self._headers_done
                and self._head_bytes > self.book.limits.max_header_bytes and not self.transport.is_closing()):
            self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        self._phase = READING
        self._headers_done = False
        self._arm(self.book.limits.header_timeout)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._head_bytes = 0
        self._arm(self.book.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = SERVING
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.pipeline:  # the next request, already read, is started now
            super().on_response_complete()
            return
        self._phase = IDLE
        self._headers_done = False
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.book.limits.idle_timeout)


def guarded_protocol(base: type[GuardedProtocol], limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A protocol class for one server: raises the descriptor limit and books
    that server's connections against its cap."""
    fd_limit = raise_fd_limit()
    cap = limits.effective_cap(fd_limit)
    if cap < limits.max_connections:
        log.warning("connection cap lowered to %d: the open-file limit is %d", cap, fd_limit)
    return type(base.__name__, (base,), {"book": _Book(limits, cap)})
