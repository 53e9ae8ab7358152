"""A real HTTPS server on loopback with a throwaway certificate, serving list files."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import os
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "straja test publisher")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ListServer:
    """Serves files from `root` over HTTPS with ETags; records each request's headers."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self.trickle: dict[str, float] = {}  # path -> seconds between bytes sent
        self.closing = threading.Event()
        self.cert, key = make_certificate(root.parent, host)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = server.root / self.path.lstrip("/")
                headers = dict(self.headers.items())
                if not path.is_file():
                    server.requests.append((self.path, headers, 404))
                    self.send_error(404)
                    return
                body = path.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if headers.get("If-None-Match") == etag:
                    server.requests.append((self.path, headers, 304))
                    self.send_response(304)
                    self.end_headers()
                    return
                server.requests.append((self.path, headers, 200))
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Mon, 23 Nov 2026 08:00:00 GMT")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                delay = server.trickle.get(self.path)
                if delay is None:
                    self.wfile.write(body)
                    return
                for i in range(len(body)):  # a source trickling one byte at a time
                    if server.closing.wait(delay):
                        return
                    try:
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def start_trusting(server: object, site: ListServer) -> None:
    """Start a Straja (tests.servers.Straja) that trusts `site`'s certificate: the daemon
    inherits SSL_CERT_FILE, which is set only around its start."""
    os.environ["SSL_CERT_FILE"] = str(site.cert)
    try:
        server.start()  # type: ignore[attr-defined]
    finally:
        del os.environ["SSL_CERT_FILE"]


def wait_for_a(server: object, name: str, want: str, timeout: float) -> str:
    """Poll `server` for `name`'s first A record until it is `want` or `timeout` passes;
    the last answer seen ("" for none)."""
    deadline = time.monotonic() + timeout
    answer = ""
    while time.monotonic() < deadline:
        r = server.query(name, "A")  # type: ignore[attr-defined]
        answer = str(r.answer[0][0]) if r.answer else ""
        if answer == want:
            break
        time.sleep(0.2)
    return answer
