"""Encrypted DNS served to clients: DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484).

Both answer through the worker's own Resolver, so the policy, the cache and the counters
are those of plain DNS. DoT is the TCP service behind TLS and runs in every worker
(SO_REUSEPORT); DoH is an aiohttp app that runs once per machine, like the STOP page.
A DoH client is identified by its address, or by the group whose `doh_token` is the last
segment of its path (`/dns-query/{token}`): the token is never logged (no access log).

`ssl` and aiohttp are imported here only, and this module only when a listener is set.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

from resolver import wire
from resolver.settings import DnsSettings, HostPort
from resolver.sockets import bind_socket

if TYPE_CHECKING:
    from resolver.core import Resolver
    from resolver.server import TcpService

log = logging.getLogger("straja.encrypted")

MAX_BODY = 65535
DOH_PATH = "/dns-query"


class ServiceCertificate:
    """The certificate DoT and DoH present. One context object, its chain reloaded in place
    on SIGHUP, so listeners that stay open hand out the new certificate to new clients."""

    def __init__(self, settings: DnsSettings) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["dot"])
        self.paths: tuple[str, str] | None = None
        self.load(settings)

    def load(self, settings: DnsSettings) -> None:
        """Read the certificate files; a bad pair is an error that keeps the old one."""
        assert settings.tls_cert and settings.tls_key
        self.context.load_cert_chain(settings.tls_cert, settings.tls_key)
        self.paths = (settings.tls_cert, settings.tls_key)


class DotListeners:
    """The DoT sockets of one worker."""

    def __init__(self) -> None:
        self.servers: dict[HostPort, asyncio.Server] = {}
        self.bound: list[HostPort] = []
        self.certificate: ServiceCertificate | None = None

    async def open(self, settings: DnsSettings, handler: TcpService, reuse_port: bool) -> None:
        if not settings.tls_listen:
            return
        if self.certificate is None:
            self.certificate = ServiceCertificate(settings)
        for address in settings.tls_listen:
            sock = bind_socket(address, socket.SOCK_STREAM, reuse_port, " for DNS over TLS")
            server = await asyncio.start_server(
                handler.handle, sock=sock, ssl=self.certificate.context, backlog=1024,
                ssl_handshake_timeout=10,
            )
            self.servers[address] = server
            bound = HostPort(address.host, sock.getsockname()[1])
            self.bound.append(bound)
            log.info("DNS over TLS on %s", bound)

    def reload(self, settings: DnsSettings) -> None:
        if self.certificate is not None and settings.tls_cert and settings.tls_key:
            try:
                self.certificate.load(settings)
            except (OSError, ssl.SSLError) as exc:
                log.error("dns.tls_cert/tls_key not reloaded, the old certificate stays: %s",
                          exc)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers = {}


def doh_token_groups(resolver: Resolver) -> dict[str, Any]:
    """DoH path token -> the group it stands for, from the live group table."""
    return {g.settings.doh_token: g for g in resolver.groups.groups if g.settings.doh_token}


class DohService:
    """DNS over HTTPS on `dns.https_listen`, answered by `resolver`: HTTP/2 (what kdig,
    browsers and most stub resolvers speak) when the pure-Python `h2` package is
    installed, and HTTP/1.1 through aiohttp, chosen per connection by ALPN."""

    def __init__(self, resolver: Resolver, settings: DnsSettings, reuse_port: bool) -> None:
        self.resolver = resolver
        self.settings = settings
        self.reuse_port = reuse_port
        self.certificate = ServiceCertificate(settings)
        self.h2 = _h2_available()
        self.certificate.context.set_alpn_protocols(
            ["h2", "http/1.1"] if self.h2 else ["http/1.1"]
        )
        self.http1: Any = None
        self.servers: list[asyncio.Server] = []
        self.bound: list[HostPort] = []

    async def start(self) -> None:
        from aiohttp import web

        self.http1 = web.Server(self._http1, access_log=None)
        loop = asyncio.get_running_loop()
        for address in self.settings.https_listen:
            sock = bind_socket(address, socket.SOCK_STREAM, self.reuse_port,
                               " for DNS over HTTPS")
            server = await loop.create_server(
                lambda: _AlpnDispatch(self), sock=sock, ssl=self.certificate.context,
                backlog=1024, ssl_handshake_timeout=10,
            )
            self.servers.append(server)
            self.bound.append(HostPort(address.host, sock.getsockname()[1]))
        log.info("DNS over HTTPS on %s (%s)",
                 ", ".join(f"https://{a}{DOH_PATH}" for a in self.bound),
                 "HTTP/2 and HTTP/1.1" if self.h2 else "HTTP/1.1; install h2 for HTTP/2")

    async def _http1(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.read() if request.method == "POST" else b""
        status, kind, payload = await self.answer(
            request.method, request.path_qs, request.headers.get("content-type", ""), body,
            request.remote or "",
        )
        return web.Response(status=status, body=payload, content_type=kind,
                            headers={"cache-control": "no-store"})

    async def answer(self, method: str, target: str, content_type: str, body: bytes,
                     remote: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one DoH request, whatever HTTP carried it."""
        path, _, query = target.partition("?")
        token = None
        if path != DOH_PATH:
            head, _, token = path.rpartition("/")
            if head != DOH_PATH or not token:
                return 404, "text/plain", b"not found\n"
        if method == "GET":
            encoded = next((v for k, _, v in (p.partition("=") for p in query.split("&"))
                            if k == "dns"), "")
            if not encoded:
                return 400, "text/plain", b"the dns= parameter is missing\n"
            try:
                data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except ValueError:
                return 400, "text/plain", b"dns= is not base64url\n"
        elif method == "POST":
            if content_type.split(";")[0].strip() != "application/dns-message":
                return 415, "text/plain", b"send application/dns-message\n"
            data = body
        else:
            return 405, "text/plain", b"use GET or POST\n"
        if not 12 <= len(data) <= MAX_BODY:
            return 400, "text/plain", b"not a DNS message\n"
        host = remote
        if token is not None:
            group = doh_token_groups(self.resolver).get(token)
            if group is None:
                return 404, "text/plain", b"not found\n"
            # The group stands in for the client: the token, not the address, says who it is.
            host = "doh/" + group.name
            self.resolver.clients.setdefault(host, (True, group, False, None))
        result = self.resolver.answer_fast(data, host, True)
        if result is None:
            return 400, "text/plain", b"not a DNS query\n"
        if not isinstance(result, bytes):
            try:
                result = await self.resolver.answer_slow(data, result, True)
            except Exception:
                log.exception("error answering a DoH query")
                result = wire.error_response(data, wire.SERVFAIL, None, MAX_BODY)
        return 200, "application/dns-message", result

    def reload(self, settings: DnsSettings) -> None:
        self.settings = settings
        try:
            self.certificate.load(settings)
        except (OSError, ssl.SSLError) as exc:
            log.error("dns.tls_cert/tls_key not reloaded, the old certificate stays: %s", exc)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        self.servers = []
        if self.http1 is not None:
            await self.http1.shutdown(1)
            self.http1 = None


def _h2_available() -> bool:
    try:
        import h2.connection  # noqa: F401
    except ImportError:
        return False
    return True


class _AlpnDispatch(asyncio.Protocol):
    """Hands a new TLS connection to the HTTP/2 or the HTTP/1.1 protocol, by its ALPN."""

    def __init__(self, service: DohService) -> None:
        self.service = service
        self.inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2" and self.service.h2:
            self.inner = _H2Connection(self.service)
        else:
            self.inner = self.service.http1()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)


class _H2Connection(asyncio.Protocol):
    """RFC 8484 over HTTP/2 with the h2 state machine: each stream one DNS exchange."""

    def __init__(self, service: DohService) -> None:
        import h2.config
        import h2.connection

        self.service = service
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.window = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
                if stream is not None:
                    stream[1].extend(event.data)
                    if len(stream[1]) > MAX_BODY:
                        self.streams.pop(event.stream_id, None)
                        self.conn.reset_stream(event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    task = asyncio.get_running_loop().create_task(
                        self._respond(event.stream_id, *stream)
                    )
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.WindowUpdated):
                self.window.set()
            elif isinstance(event, h2.events.ConnectionTerminated) and self.transport:
                self.transport.close()
        self._flush()

    async def _respond(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        import h2.exceptions

        remote = ""
        if self.transport is not None:
            peer = self.transport.get_extra_info("peername")
            remote = peer[0] if peer else ""
        status, kind, payload = await self.service.answer(
            headers.get(":method", ""), headers.get(":path", ""),
            headers.get("content-type", ""), bytes(body), remote,
        )
        try:
            self.conn.send_headers(stream_id, [
                (":status", str(status)), ("content-type", kind),
                ("content-length", str(len(payload))), ("cache-control", "no-store"),
            ])
            view = memoryview(payload)
            while True:
                room = min(self.conn.local_flow_control_window(stream_id),
                           self.conn.max_outbound_frame_size)
                if room >= len(view):
                    self.conn.send_data(stream_id, bytes(view), end_stream=True)
                    break
                if room > 0:
                    self.conn.send_data(stream_id, bytes(view[:room]))
                    view = view[room:]
                self._flush()
                self.window.clear()
                await asyncio.wait_for(self.window.wait(), 10)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, TimeoutError):
            return
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self.tasks:
            task.cancel()
        self.transport = None
