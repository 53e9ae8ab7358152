"""Encrypted DNS servers on loopback for the tests: a test CA, Unbound serving DoT with a
certificate it signed, and a small aiohttp DoH endpoint in front of an Unbound."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import Unbound, free_port

TLS_NAME = "dns.test.example"


@dataclass
class CertAuthority:
    """A throwaway CA and the leaf certificates it signs."""

    directory: Path

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "straja test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            # Python 3.13's default context verifies strictly (VERIFY_X509_STRICT): a CA
            # needs its key identifier, and a leaf its issuer's (Debian 13 runs that).
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.path = self.directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, label: str, host: str, dns_name: str = TLS_NAME,
             expired: bool = False) -> tuple[Path, Path, str]:
        """(cert, key, SPKI pin) of a server certificate for `dns_name` and `host`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        start, end = (now - datetime.timedelta(days=3), now - datetime.timedelta(days=1)) \
            if expired else (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(host))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path = self.directory / f"{label}.pem"
        key_path = self.directory / f"{label}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        pin = "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
        return cert_path, key_path, pin


class DotUnbound(Unbound):
    """A real Unbound answering DNS over TLS (and plain DNS) on one loopback address."""

    def __init__(self, workdir: Path, ca: CertAuthority, host: str = "127.0.0.7",
                 dns_name: str = TLS_NAME, expired: bool = False) -> None:
        self.cert, self.key, self.pin = ca.leaf(f"dot-{host}", host, dns_name, expired)
        tls_port = free_port(host)
        self.tls_port = tls_port
        super().__init__(workdir, host=host, extra=[
            f"  interface: {host}@{tls_port}",
            f"  tls-port: {tls_port}",
            f'  tls-service-key: "{self.key}"',
            f'  tls-service-pem: "{self.cert}"',
            "  log-queries: yes",
        ])

    def url(self, name: str = TLS_NAME) -> str:
        return f"tls://{self.host}:{self.tls_port}#{name}"


class DohEndpoint:
    """DNS over HTTPS (RFC 8484, GET and POST) relayed to a plain DNS server, in a thread.

    `mode` makes it misbehave: "html" (200 with an HTML page), "500", "truncated"."""

    def __init__(self, ca: CertAuthority, upstream: tuple[str, int],
                 host: str = "127.0.0.8") -> None:
        self.cert, self.key, self.pin = ca.leaf(f"doh-{host}", host)
        self.host = host
        self.port = free_port(host)
        self.upstream = upstream
        self.mode = "ok"
        self.peers: set[tuple[str, int]] = set()
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def url(self, path: str = "/dns-query") -> str:
        return f"https://{TLS_NAME}:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/dns-query", self._handle)
        app.router.add_post("/dns-query", self._handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=context)
        self.loop.run_until_complete(site.start())
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add(tuple(peer[:2]))
        self.requests += 1
        if request.method == "POST":
            query = await request.read()
        else:
            encoded = request.query.get("dns", "")
            query = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if self.mode == "html":
            return web.Response(text="<html>captive portal</html>", content_type="text/html")
        if self.mode == "500":
            return web.Response(status=500, text="oops")
        answer = await asyncio.get_running_loop().run_in_executor(None, self._relay, query)
        if self.mode == "truncated":
            answer = answer[:14]
        return web.Response(body=answer, content_type="application/dns-message")

    def _relay(self, query: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.sendto(query, self.upstream)
            return sock.recv(65535)

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        future.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
