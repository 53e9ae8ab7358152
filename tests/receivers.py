"""Real receivers on loopback for alert tests: an aiohttp webhook and a minimal SMTP server."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web

from tests.servers import poll


def wait_for(what: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll until `what()` is truthy (and return it); fail after `timeout` seconds."""
    value = poll(what, timeout, every)
    if not value:
        raise AssertionError(f"nothing came within {timeout}s")
    return value


class WebhookReceiver:
    """An aiohttp server in a thread of its own, keeping every JSON body POSTed to /hook.
    With `status` other than 200 it answers that, as a broken receiver would."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.events: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        self.events.append(await request.json())
        return web.Response(status=self.status, text="noted")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class _SmtpSession(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    server: SmtpReceiver

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 127.0.0.1 test SMTP receiver")
        envelope: dict[str, Any] = {"to": []}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 127.0.0.1")
            elif verb == b"MAIL":
                envelope["from"] = line.decode().split(":", 1)[1].strip()
                self.reply("250 OK")
            elif verb == b"RCPT":
                envelope["to"].append(line.decode().split(":", 1)[1].strip())
                self.reply("250 OK")
            elif verb == b"DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = self.rfile.readline()
                    if not chunk:
                        return
                    data += chunk
                envelope["message"] = message_from_bytes(data[:-5])
                self.server.mails.append(envelope)
                envelope = {"to": []}
                self.reply("250 OK queued")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


class SmtpReceiver(socketserver.ThreadingTCPServer):
    """A loopback SMTP server keeping every message it receives (no TLS, no auth)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.mails: list[dict[str, Any]] = []
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def messages(self) -> list[Message]:
        return [m["message"] for m in self.mails]

    def __enter__(self) -> SmtpReceiver:  # type: ignore[override]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def closed_port() -> int:
    """A loopback TCP port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
