"""The asynchronous front of the server: connections, deadlines, body limit, headers.

A client's connection costs a coroutine here, never a thread, until its request is complete:
headers must arrive within ``read_timeout_s`` of the first byte (or of the connection), the
body within ``read_timeout_s`` after that and no larger than ``max_body_bytes`` (a larger
Content-Length is refused before a byte of the body is read). Only then is the request handed
to a thread that runs the WSGI application (pygeoapi behind
:class:`twin.pygeoapi.wsgi.TwinMiddleware`) through a2wsgi. On the way out every response gets
the security and CORS headers and loses the ones naming our software; a CORS preflight is
answered here.

How it is served, and why so. gunicorn's sync workers read a request in the worker itself, so
two clients trickling header lines held both workers until gunicorn killed them at 120 s. Now
gunicorn only supervises processes (``--workers``, :func:`run`); each runs uvicorn's event loop
(:class:`TwinWorker`), where a connection costs a coroutine until its headers and body are
complete, within ``read_timeout_s`` each and the body within ``max_body_bytes``. Only a
complete request takes one of ``threads`` threads, which run the WSGI app through a2wsgi. We
chose this over gevent (it would need monkey-patching under psycopg's pool and still read
requests inside the application's worker) and over waitress (it buffers requests too, but in
one process, with no supervisor to use both cores).
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

import h11
from a2wsgi import WSGIMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from twin.fastlane import FastLane
from twin.settings import Settings, get_settings

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

#: The HTML pages (pygeoapi's templates) use inline scripts and styles, and draw data: and
#: blob: images (Leaflet); everything else comes from this server, nothing from other hosts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]
#: Headers that name the software behind the API: dropped from every answer.
DROPPED_HEADERS = frozenset({b"server", b"x-powered-by"})
CORS_METHODS = b"GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"
CORS_HEADERS = (b"Accept, Accept-Language, Authorization, X-API-Key, Content-Type, "
                b"Content-Crs, If-Match, If-None-Match")
CORS_EXPOSED = b"ETag, Location, Link, Content-Crs, Retry-After"
CORS_MAX_AGE = b"86400"


def client_address(peer: str, forwarded_for: str | None, trusted: frozenset[str]) -> str:
    """The client of a request: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies the client is the rightmost X-Forwarded-For address that is not
    itself a trusted proxy; every address left of it could have been written by the client.
    """
    if peer not in trusted or not forwarded_for:
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a forged or broken header: trust nothing in it
        if hop not in trusted:
            return hop
    return peer


class TwinFront:
    """ASGI application: request deadlines and limits, then the WSGI app in a thread."""

    def __init__(self, wsgi_app: Callable, settings: Settings) -> None:
        self.settings = settings
        self.wsgi = WSGIMiddleware(wsgi_app, workers=settings.threads)
        self.fast = FastLane(settings) if settings.fast_lane else None
        self.trusted = frozenset(p.strip() for p in settings.trusted_proxies.split(",")
                                 if p.strip())
        self.origins = frozenset(o.strip() for o in settings.cors_origins.split(",")
                                 if o.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.wsgi(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        peer, port = scope.get("client") or ("unknown", 0)
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1") or None
        # Also what the access log shows: the client, not our proxy.
        scope["client"] = (client_address(peer, forwarded, self.trusted), port)
        origin = headers.get(b"origin")
        outgoing = self._decorating(send, origin)
        if scope["method"] == "OPTIONS" and origin and \
                b"access-control-request-method" in headers:
            await self._respond(outgoing, 204, None, preflight=True)
            return
        body = await self._read_body(headers, receive, outgoing)
        if body is None:
            return
        if self.fast is not None and await self.fast.handle(scope, headers, body, outgoing):
            return  # GeoJSON items and features (twin/fastlane.py)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        await self.wsgi(scope, replay, outgoing)

    async def _read_body(self, headers: dict, receive: Receive, send: Send) -> bytes | None:
        """The whole body within the deadline and size limit, or None when answered here."""
        limit = self.settings.max_body_bytes
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            await self._respond(send, 400, "invalid Content-Length")
            return None
        if declared > limit:
            await self._respond(send, 413, f"the request body is {declared} bytes; the limit "
                                           f"is {limit} bytes")
            return None
        body = bytearray()
        try:
            async with asyncio.timeout(self.settings.read_timeout_s):
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    body += message.get("body", b"")
                    if len(body) > limit:
                        await self._respond(send, 413, f"the request body exceeds the limit "
                                                       f"of {limit} bytes")
                        return None
                    more = message.get("more_body", False)
        except TimeoutError:
            await self._respond(send, 408, f"the request body did not arrive within "
                                           f"{self.settings.read_timeout_s:g} s")
            return None
        return bytes(body)

    def _decorating(self, send: Send, origin: bytes | None) -> Send:
        cors = self._cors_headers(origin)

        async def decorated(message: dict) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.lower() not in DROPPED_HEADERS]
                names = {k.lower() for k, _ in kept}
                kept += [(k, v) for k, v in SECURITY_HEADERS + cors if k not in names]
                message = {**message, "headers": kept}
            await send(message)

        return decorated

    def _cors_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        if "*" in self.origins:
            allowed = b"*"
        elif origin and origin.decode("latin-1") in self.origins:
            allowed = origin
        else:
            return []
        headers = [(b"access-control-allow-origin", allowed),
                   (b"access-control-expose-headers", CORS_EXPOSED)]
        if allowed != b"*":
            headers.append((b"vary", b"Origin"))
        return headers

    @staticmethod
    async def _respond(send: Send, status: int, description: str | None, *,
                       preflight: bool = False) -> None:
        """An answer made here; errors close the connection, since the body was not read."""
        headers = [(b"content-length", b"0")]
        body = b""
        if preflight:
            headers += [(b"access-control-allow-methods", CORS_METHODS),
                        (b"access-control-allow-headers", CORS_HEADERS),
                        (b"access-control-max-age", CORS_MAX_AGE)]
        if description is not None:
            code = {400: "InvalidParameterValue", 408: "RequestTimeout",
                    413: "PayloadTooLarge"}[status]
            body = json.dumps({"code": code, "description": description}).encode()
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode()),
                       (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _HeadWithBody:
    """A transport that holds a response's head until its body is written, and sends both
    with one system call.

    uvicorn writes the status line and headers, then the body: two sends, each waking the
    client, which on a busy machine then runs (to read the head) before the server can send
    the rest. Held, the head goes out with the first piece of the body, or at the event
    loop's next turn when no body follows at once. Everything else is the transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        #: Set when a request's headers are complete: the next write is its answer's head.
        self.hold_next = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if data:
                self._transport.writelines([held, data])
            else:
                self._transport.write(held)
        elif self.hold_next and data:
            self.hold_next = False
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for a request's headers.

    uvicorn times out idle keep-alive connections, but not a request whose headers trickle
    in (slowloris): it would keep the connection, and a file descriptor, forever. Here the
    headers must be complete within ``read_timeout_s`` of the connection or of the first byte
    of a request; otherwise the client gets 408 and the connection is closed.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()
        self.transport = self._out = _HeadWithBody(transport, self.loop)  # type: ignore[assignment]

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(get_settings().read_timeout_s,
                                                  self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # the headers of a request are complete
            self._disarm()
            self._out.hold_next = True
        elif idle and self._header_timer is None:
            self._arm()

    def on_response_complete(self) -> None:
        self._out.hold_next = False
        super().on_response_complete()
        self._disarm()  # uvicorn's keep-alive timeout takes over until the next byte

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        body = b'{"code": "RequestTimeout", "description": "the request headers did not ' \
               b'arrive in time"}'
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json"
                             b"\r\nconnection: close\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class TwinWorker(UvicornWorker):
    """gunicorn worker: uvicorn's event loop with :class:`DeadlineH11Protocol`, no
    ``Server`` header."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "asyncio", "http": DeadlineH11Protocol, "server_header": False,
        "lifespan": "on",
        # Request line and headers together; a longer GET filter belongs in a POST body.
        "h11_max_incomplete_event_size": 64 * 1024,
    }


def _freeze_before_fork(_arbiter: Any, _worker: Any) -> None:
    """Leave what the preloaded app made out of the workers' garbage collections (Python's
    advice for fork without exec): collecting would walk every inherited object and so copy
    each page it lies on into every worker."""
    gc.freeze()


def run(settings: Settings | None = None) -> None:
    """Serve in the foreground until interrupted: gunicorn supervising ``workers`` processes
    of :class:`TwinWorker` (see the module docstring).

    Raises
    ------
    ConfigurationError
        Before binding, when the config is missing or pygeoapi no longer has what
        :mod:`twin.pygeoapi` relies on.
    """
    from gunicorn.app.base import BaseApplication

    from twin.processes import PROCESSORS
    from twin.pygeoapi import compat
    from twin.pygeoapi.app import (
        create_app,
        prepare_environment,
        write_asyncapi,
        write_openapi,
    )
    from twin.registry import COLLECTIONS

    settings = settings or get_settings()
    prepare_environment(settings)
    compat.check(settings)  # an upgraded pygeoapi fails here, before anything listens
    write_openapi(settings)
    write_asyncapi(settings)  # the sensor alerts' channel (twin/alerts.py)

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "twin.front.TwinWorker")
            # The event loop's heartbeat; requests have their own deadlines.
            self.cfg.set("timeout", 60)
            self.cfg.set("keepalive", 5)
            # Load pygeoapi before binding: no client waits on a worker still importing it.
            # Database pools open lazily, in each worker after the fork.
            self.cfg.set("preload_app", True)
            self.cfg.set("pre_fork", _freeze_before_fork)
            self.cfg.set("accesslog", "-")
            self.cfg.set("errorlog", "-")
            self.cfg.set("loglevel", "warning")
            self.cfg.set("proc_name", "twin-api")

        def load(self) -> TwinFront:
            return TwinFront(create_app(settings, checked=True), settings)

    url = settings.url
    print(f"Serving the Cottbus twin at {url}/\n"
          f"  collections: {url}/collections\n"
          + "".join(f"  {c.id}: {url}/collections/{c.id}/items\n" for c in COLLECTIONS)
          + "".join(f"  process {pid}: {url}/processes/{pid}\n" for pid in PROCESSORS)
          + f"  OpenAPI: {url}/openapi\n", flush=True)
    _Gunicorn().run()
