"""The STOP page server: aiohttp on the listen addresses, a close-at-once TCP listener for HTTPS.

Any Host, any path: the Host header (without port) is the name the browser asked for, and
`explain(name, client_ip)` says which list blocks it. Nothing here logs a request or stores
a client address; the only counters are totals.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import hdrs, web

from resolver.settings import HostPort
from resolver.sockets import bind_socket
from resolver.stoppage import BlockInfo, StopPageSettings
from resolver.stoppage.reports import ReportStore
from resolver.stoppage.templates import (
    REPORT_PATH,
    blocked_page,
    mandatory_page,
    message_page,
    not_blocked_page,
)
from resolver.stoppage.texts import LANGUAGES, contacts_for, pick_language

log = logging.getLogger("straja.stoppage")

Explain = Callable[[str, str], BlockInfo | None]

MAX_BODY = 4096  # a report is two short fields
MAX_NAME = 253
MAX_LIST_ID = 64
DEDUPE_SECONDS = 3600.0
IDLE_TIMEOUT = 10.0  # seconds an idle keep-alive connection is kept

# Sent with every page: nothing is cached, nothing loads from elsewhere, no referrer leaks
# the blocked name to the help sites.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Server": "Straja",  # not aiohttp's name and version
}

class _NoClientAddress(logging.Filter):
    """aiohttp logs "Error handling request from <client address>" for every malformed
    request; those are answered with a 4xx and not worth a line, and we never log who."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error handling request from")


_http_log = logging.getLogger("straja.stoppage.http")
_http_log.addFilter(_NoClientAddress())

_LABELS = re.compile(r"^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$")


def host_name(value: str | None) -> str:
    """The name in a Host header or form field: lowercased, without port or final dot.

    "" when there is none or it is not a DNS name (an IP literal, garbage, too long).
    """
    if not value:
        return ""
    value = value.strip().lower()
    if value.startswith("["):
        return ""  # an IPv6 literal: no name was asked for
    if value.count(":") == 1:
        value = value.split(":")[0]
    value = value.rstrip(".")
    if len(value) > MAX_NAME or not _LABELS.match(value):
        return ""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return value
    return ""


@dataclass(slots=True)
class StopPageCounters:
    """Totals since start; never who, never which name."""

    pages_mandatory: int = 0
    pages_blocked: int = 0
    pages_not_blocked: int = 0
    reports_stored: int = 0
    reports_duplicate: int = 0
    reports_refused: int = 0
    https_rejected: int = 0


class _CloseAtOnce(asyncio.Protocol):
    """Accept and close: a browser trying HTTPS on the sinkhole fails fast instead of hanging."""

    def __init__(self, counters: StopPageCounters) -> None:
        self.counters = counters

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.counters.https_rejected += 1
        transport.close()


def _bind(address: HostPort, reuse_port: bool) -> socket.socket:
    return bind_socket(address, socket.SOCK_STREAM, reuse_port, " for the STOP page")


class StopPage:
    """The STOP page on every `listen` address and the fast close on every `https_reject` one.

    `explain(name, client_ip)` returns the BlockInfo of the list that blocks `name` for
    that client, or None; `reports` stores the "looks wrongly blocked" reports.
    """

    def __init__(
        self,
        settings: StopPageSettings,
        explain: Explain,
        reports: ReportStore,
        *,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.contacts = contacts_for(settings)
        self.explain = explain
        self.reports = reports
        self.reuse_port = reuse_port
        self.counters = StopPageCounters()
        self._runner: web.AppRunner | None = None
        self._http: dict[HostPort, tuple[web.SockSite, HostPort]] = {}
        self._reject: dict[HostPort, tuple[asyncio.Server, HostPort]] = {}
        self._recent: dict[tuple[str, str], float] = {}
        self._stored: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bound(self) -> list[HostPort]:
        """The HTTP addresses actually bound (a configured port 0 becomes the kernel's)."""
        return [bound for _, bound in self._http.values()]

    @property
    def bound_https_reject(self) -> list[HostPort]:
        """The close-at-once addresses actually bound."""
        return [bound for _, bound in self._reject.values()]

    async def start(self) -> None:
        """Bind every listen and https_reject address; raises OSError naming the address
        that cannot be bound (and leaves nothing bound)."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app,
            access_log=None,  # no request log: it would hold client addresses
            logger=_http_log,
            handle_signals=False,
            shutdown_timeout=2.0,
            keepalive_timeout=IDLE_TIMEOUT,
            max_line_size=4096,
            max_field_size=4096,
            max_headers=64,
        )
        await self._runner.setup()
        now = time.time()
        for report in self.reports.since(now - DEDUPE_SECONDS):
            self._recent.setdefault((report.name, report.list_id), report.time)
        try:
            async with self._lock:
                await self._open(self._wanted_http(), self._wanted_reject(), strict=True)
        except OSError:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every listener and open connection."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server, _ in self._reject.values():
            server.close()
        for server, _ in self._reject.values():
            await server.wait_closed()
        self._reject.clear()
        self._http.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def configure(self, settings: StopPageSettings) -> None:
        """Apply new settings (on SIGHUP): texts and links at once; changed addresses are
        rebound in a task (a failure is logged and the other addresses keep serving)."""
        self.settings = settings
        self.contacts = contacts_for(settings)
        if self._runner is None:
            return
        if set(self._http) != set(self._wanted_http()) or set(self._reject) != set(
            self._wanted_reject()
        ):
            task = asyncio.get_running_loop().create_task(self.rebind())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def rebind(self) -> None:
        """Listen on the current settings' addresses: close the ones no longer configured,
        bind the new ones. An address that cannot be bound is logged, not raised."""
        if self._runner is None:
            return
        async with self._lock:
            http, reject = self._wanted_http(), self._wanted_reject()
            for address in [a for a in self._http if a not in http]:
                site, _ = self._http.pop(address)
                await site.stop()
            for address in [a for a in self._reject if a not in reject]:
                server, _ = self._reject.pop(address)
                server.close()
                await server.wait_closed()
            await self._open(http, reject, strict=False)

    def _wanted_http(self) -> list[HostPort]:
        return list(self.settings.listen) if self.settings.enabled else []

    def _wanted_reject(self) -> list[HostPort]:
        return list(self.settings.https_reject) if self.settings.enabled else []

    async def _open(
        self, http: Iterable[HostPort], reject: Iterable[HostPort], strict: bool
    ) -> None:
        assert self._runner is not None
        loop = asyncio.get_running_loop()
        for address in http:
            if address in self._http:
                continue
            try:
                sock = _bind(address, self.reuse_port)
                site = web.SockSite(self._runner, sock)
                await site.start()
            except OSError as exc:
                if strict:
                    raise
                log.error("%s", exc)
                continue
            self._http[address] = (site, _bound(sock, address))
        for address in reject:
            if address in self._reject:
                continue
            try:
                sock = _bind(address, self.reuse_port)
                server = await loop.create_server(
                    lambda: _CloseAtOnce(self.counters), sock=sock, backlog=256
                )
            except OSError as exc:
                if strict:
                    raise
                log.error("%s", exc)
                continue
            self._reject[address] = (server, _bound(sock, address))

    # -- requests -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        lang = request.query.get("lang", "")
        if lang not in LANGUAGES:
            lang = pick_language(request.headers.get(hdrs.ACCEPT_LANGUAGE), self.settings.language)
        try:
            if request.path == REPORT_PATH and request.method == hdrs.METH_POST:
                return await self._report(request, lang)
            if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
                allow = "GET, HEAD, POST" if request.path == REPORT_PATH else "GET, HEAD"
                return self._message(405, lang, "e_title", "e_method", headers={"Allow": allow})
            if request.path == "/favicon.ico":
                return web.Response(status=404, headers=SECURITY_HEADERS)
            return self._page(request, lang)
        except Exception:
            # The traceback is ours to fix; it names no client.
            log.exception("STOP page: error answering a request")
            return self._message(500, lang, "e_title", "e_error")

    def _page(self, request: web.Request, lang: str) -> web.Response:
        name = host_name(request.headers.get(hdrs.HOST))
        info = self.explain(name, request.remote or "") if name else None
        if info is None:
            self.counters.pages_not_blocked += 1
            # 404: this server has nothing for that name (typically a stale DNS answer).
            return self._html(404, lang, not_blocked_page(lang, self.contacts, name))
        if info.mandatory:
            self.counters.pages_mandatory += 1
            # 451 Unavailable For Legal Reasons (RFC 7725).
            return self._html(451, lang, mandatory_page(lang, self.contacts))
        self.counters.pages_blocked += 1
        page = blocked_page(lang, self.contacts, name, info, self.settings.report_form)
        return self._html(403, lang, page)

    async def _report(self, request: web.Request, lang: str) -> web.Response:
        if not self.settings.report_form:
            return self._refused(403, lang, "r_off")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._refused(413, lang, "r_too_big")
        if request.content_type != "application/x-www-form-urlencoded":
            return self._refused(400, lang, "r_bad")
        try:
            body = await request.read()
            fields = urllib.parse.parse_qs(body.decode("utf-8"), max_num_fields=8)
        except web.HTTPRequestEntityTooLarge:
            return self._refused(413, lang, "r_too_big")
        except ValueError:  # also UnicodeDecodeError and too many fields
            return self._refused(400, lang, "r_bad")
        form_lang = _first(fields, "lang")
        if form_lang in LANGUAGES:
            lang = form_lang
        raw_name, list_id = _first(fields, "name"), _first(fields, "list")
        name = host_name(raw_name) if len(raw_name) <= MAX_NAME else ""
        if not name or not list_id or len(list_id) > MAX_LIST_ID:
            return self._refused(400, lang, "r_bad")
        info = self.explain(name, request.remote or "")
        if info is None:
            return self._refused(400, lang, "r_not_blocked", name)
        if info.mandatory:
            return self._refused(403, lang, "r_mandatory", name)
        # The list that blocks the name now is stored, whatever the form said.
        now = time.time()
        key = (name, info.list_id)
        last = self._recent.get(key)
        if last is not None and now - last < DEDUPE_SECONDS:
            self.counters.reports_duplicate += 1
            return self._message(200, lang, "r_thanks_title", "r_duplicate", name)
        while self._stored and now - self._stored[0] >= 60:
            self._stored.popleft()
        if len(self._stored) >= self.settings.reports_per_minute:
            return self._refused(429, lang, "r_busy", headers={"Retry-After": "60"})
        try:
            self.reports.add(name, info.list_id, now)
        except OSError as exc:
            log.error("cannot store a wrongly-blocked report in %s: %s", self.reports.path, exc)
            return self._message(500, lang, "e_title", "e_error")
        self._stored.append(now)
        self._remember(key, now)
        self.counters.reports_stored += 1
        return self._message(200, lang, "r_thanks_title", "r_thanks", name)

    def _remember(self, key: tuple[str, str], now: float) -> None:
        self._recent[key] = now
        if len(self._recent) > 10_000:
            self._recent = {k: t for k, t in self._recent.items() if now - t < DEDUPE_SECONDS}

    def _refused(
        self, status: int, lang: str, text_key: str, name: str = "",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self.counters.reports_refused += 1
        return self._message(status, lang, "r_refused_title", text_key, name, headers)

    def _message(
        self, status: int, lang: str, title_key: str, text_key: str, name: str = "",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        page = message_page(lang, self.contacts, title_key, text_key, name)
        return self._html(status, lang, page, headers)

    def _html(
        self, status: int, lang: str, page: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            text=page,
            content_type="text/html",
            charset="utf-8",
            headers={**SECURITY_HEADERS, "Content-Language": lang, **(headers or {})},
        )


def _first(fields: dict[str, list[str]], key: str) -> str:
    values = fields.get(key)
    return values[0] if values else ""


def _bound(sock: socket.socket, address: HostPort) -> HostPort:
    return HostPort(address.host, int(sock.getsockname()[1]))
