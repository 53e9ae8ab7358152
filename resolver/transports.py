"""Encrypted upstream transports: DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484).

Both keep their connection: DoT pipelines queries on one TLS connection and matches answers
by ID (RFC 7766 §6.2.1.1), reconnecting with backoff when it drops; DoH uses one aiohttp
session with HTTP/1.1 keep-alive. `ssl` (OpenSSL) and aiohttp are imported only when an
encrypted upstream is configured, so a plain-DNS worker never loads them.

A certificate is verified against the system store (or `upstream_tls.ca_file`) for the
upstream's TLS name, or, when pins are given, by its SubjectPublicKeyInfo digest (RFC 7858
§4.2, the SPKI pinning profile). A connection that fails verification is never used.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import struct
import time
from typing import TYPE_CHECKING, Any

from resolver.upstream_spec import UpstreamSpec

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("straja.upstream")

_LEN = struct.Struct("!H")
IDLE_CLOSE = 30.0  # seconds a DoT connection may stay idle before we close it
MAX_BACKOFF = 30.0


class TransportError(Exception):
    """An encrypted upstream could not be reached or did not answer usably."""


class CertificateError(TransportError):
    """The upstream's certificate failed verification; the message says why."""


def tls_context(spec: UpstreamSpec, ca_file: str | None) -> ssl.SSLContext:
    """The client context for an upstream: CA verification with its name, or pins only."""
    import ssl

    if spec.pins:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the pin check below replaces it
    else:
        context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def spki_digest(der_certificate: bytes) -> bytes:
    """SHA-256 of a DER certificate's SubjectPublicKeyInfo."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def check_pins(spec: UpstreamSpec, ssl_object: Any) -> None:
    """Raise CertificateError unless the peer's key matches one of the upstream's pins."""
    if not spec.pins:
        return
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise CertificateError(f"{spec}: the server sent no certificate to check the pin")
    digest = spki_digest(der)
    if digest not in spec.pins:
        shown = "sha256/" + base64.b64encode(digest).decode()
        raise CertificateError(f"{spec}: the server's key {shown} matches no pinned key")


def describe_tls_error(spec: UpstreamSpec, exc: BaseException) -> str:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
    return f"{spec}: certificate verification failed: {reason}"


class DotConnection:
    """One pipelined DNS-over-TLS connection to an upstream, reopened on demand."""

    def __init__(self, spec: UpstreamSpec, ca_file: str | None) -> None:
        self.spec = spec
        self.ca_file = ca_file
        self.context: ssl.SSLContext | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self.connecting: asyncio.Lock | None = None
        self.retry_at = 0.0
        self.backoff = 0.5
        self.last_used = 0.0
        self.connections = 0  # opened so far, for stats and tests

    def id_in_use(self, msg_id: int) -> bool:
        return msg_id in self.pending

    async def exchange(self, packet: bytes, msg_id: int, question: bytes, timeout: float,
                       matches: Any) -> bytes:
        """Send one query on the shared connection and wait for its answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        writer = await asyncio.wait_for(self._connected(), timeout)
        future: asyncio.Future[bytes] = loop.create_future()
        self.pending[msg_id] = (question, future)
        try:
            writer.write(_LEN.pack(len(packet)) + packet)
            self.last_used = time.monotonic()
            answer = await asyncio.wait_for(future, max(deadline - loop.time(), 0.01))
        finally:
            self.pending.pop(msg_id, None)
        if not matches(answer, msg_id, question):
            raise TransportError(f"{self.spec}: the answer does not match the question")
        return answer

    async def _connected(self) -> asyncio.StreamWriter:
        if self.writer is not None and not self.writer.is_closing():
            return self.writer
        if self.connecting is None:
            self.connecting = asyncio.Lock()
        async with self.connecting:
            if self.writer is not None and not self.writer.is_closing():
                return self.writer
            now = time.monotonic()
            if now < self.retry_at:
                raise TransportError(f"{self.spec}: reconnecting in "
                                     f"{self.retry_at - now:.1f}s after an error")
            try:
                return await self._open()
            except BaseException:
                self.retry_at = time.monotonic() + self.backoff
                self.backoff = min(self.backoff * 2, MAX_BACKOFF)
                raise

    async def _open(self) -> asyncio.StreamWriter:
        import ssl

        if self.context is None:
            self.context = tls_context(self.spec, self.ca_file)
        spec = self.spec
        server_name = spec.name or spec.host
        try:
            reader, writer = await asyncio.open_connection(
                spec.host, spec.port, ssl=self.context, server_hostname=server_name
            )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(describe_tls_error(spec, exc)) from None
        except ssl.SSLError as exc:
            raise TransportError(f"{spec}: TLS handshake failed: {exc.reason or exc}") from None
        try:
            check_pins(spec, writer.get_extra_info("ssl_object"))
        except CertificateError:
            writer.close()
            raise
        self.connections += 1
        self.backoff = 0.5
        self.writer = writer
        self.reader_task = asyncio.get_running_loop().create_task(self._read(reader, writer))
        return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        error: BaseException = TransportError(f"{self.spec}: the connection closed")
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), IDLE_CLOSE)
                except TimeoutError:
                    if self.pending or time.monotonic() - self.last_used < IDLE_CLOSE:
                        continue
                    break  # idle: close it rather than wait for the server to
                answer = await reader.readexactly(_LEN.unpack(head)[0])
                if len(answer) >= 2:
                    waiting = self.pending.get(_LEN.unpack_from(answer)[0])
                    if waiting is not None and not waiting[1].done():
                        waiting[1].set_result(answer)
        except (OSError, asyncio.IncompleteReadError) as exc:
            error = TransportError(f"{self.spec}: the connection failed: {exc}")
        finally:
            writer.close()
            if self.writer is writer:
                self.writer = None
            for _, future in list(self.pending.values()):
                if not future.done():
                    future.set_exception(error)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.reader_task is not None:
            self.reader_task.cancel()


class DohClient:
    """DNS over HTTPS through one aiohttp session (HTTP/1.1 keep-alive)."""

    def __init__(self, spec: UpstreamSpec, ca_file: str | None) -> None:
        self.spec = spec
        self.ca_file = ca_file
        self.session: Any = None
        self.connections = 0

    def _session(self) -> Any:
        if self.session is None or self.session.closed:
            import aiohttp

            spec = self.spec
            client = self

            class Bootstrap(aiohttp.abc.AbstractResolver):
                """Resolves the DoH host to its bootstrap address, never through DNS."""

                async def resolve(  # type: ignore[override]
                    self, host: str, port: int = 0, family: int = 0
                ) -> list[dict[str, Any]]:
                    import socket

                    addresses = spec.bootstrap or (spec.host,)
                    return [{"hostname": host, "host": address, "port": port,
                             "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                             "proto": 0, "flags": socket.AI_NUMERICHOST}
                            for address in addresses]

                async def close(self) -> None:
                    return None

            class Checked(aiohttp.TCPConnector):
                """Counts new connections and checks each one's pins before it is used."""

                async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
                    protocol = await super()._create_connection(*args, **kwargs)
                    client.connections += 1
                    transport = getattr(protocol, "transport", None)
                    try:
                        check_pins(spec, transport.get_extra_info("ssl_object")
                                   if transport is not None else None)
                    except CertificateError:
                        if transport is not None:
                            transport.close()
                        raise
                    return protocol

            context = tls_context(spec, self.ca_file)
            connector = Checked(ssl=context, resolver=Bootstrap(), limit=64,
                                 keepalive_timeout=IDLE_CLOSE, ttl_dns_cache=None)
            self.session = aiohttp.ClientSession(connector=connector)
        return self.session

    def id_in_use(self, msg_id: int) -> bool:
        return False  # each HTTP request carries one query: IDs never meet

    @property
    def url(self) -> str:
        spec = self.spec
        port = "" if spec.port == 443 else f":{spec.port}"
        return f"https://{spec.name or spec.host}{port}{spec.path}"

    async def exchange(self, packet: bytes, msg_id: int, question: bytes, timeout: float,
                       matches: Any) -> bytes:
        import ssl

        import aiohttp

        session = self._session()
        spec = self.spec
        headers = {"accept": "application/dns-message"}
        try:
            if spec.method == "GET":
                # RFC 8484 §4.1: ID 0 makes GET answers cacheable by HTTP caches.
                wire_query = b"\x00\x00" + packet[2:]
                encoded = base64.urlsafe_b64encode(wire_query).rstrip(b"=").decode()
                sep = "&" if "?" in self.url else "?"
                request = session.get(f"{self.url}{sep}dns={encoded}", headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=timeout))
                expect_id = 0
            else:
                headers["content-type"] = "application/dns-message"
                request = session.post(self.url, data=packet, headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=timeout))
                expect_id = msg_id
            async with request as response:
                if response.status != 200:
                    raise TransportError(f"{spec}: HTTP {response.status}")
                kind = response.headers.get("content-type", "").split(";")[0].strip()
                if kind != "application/dns-message":
                    raise TransportError(f"{spec}: answered {kind or 'no content type'}, "
                                         "not application/dns-message")
                body = await response.read()
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CertificateError(describe_tls_error(spec, exc.certificate_error)) from None
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(describe_tls_error(spec, exc)) from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"{spec}: {type(exc).__name__}: {exc}") from None
        if not matches(body, expect_id, question):
            raise TransportError(f"{spec}: the answer is truncated or does not match the "
                                 "question")
        return msg_id.to_bytes(2, "big") + body[2:] if expect_id != msg_id else body

    def close(self) -> None:
        if self.session is not None and not self.session.closed:
            session = self.session
            self.session = None
            try:
                asyncio.get_running_loop().create_task(session.close())
            except RuntimeError:
                pass
