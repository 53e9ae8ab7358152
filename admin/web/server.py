"""Serving the admin app on `admin.listen` (HTTPS with admin.tls_cert/tls_key), started once
DNS answers, in the control process or in the single process of `dns.workers: 1`.

On a first run (no user yet) it makes sure the setup token exists and logs the file that
holds it, never the token; when standard output is a terminal (as with `make run`) it also
prints the setup URL with the token, once. Otherwise it says where the UI is.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Any, TextIO

from aiohttp import web

from resolver.settings import HostPort
from resolver.sockets import bind_socket

if TYPE_CHECKING:
    from admin.config import Config

log = logging.getLogger("straja.web")


class AdminUI:
    """The admin app's runner and its listening sites; one owner of both."""

    def __init__(self, config: Config, db: Any, memory_log: Any = None) -> None:
        self.config = config
        self.db = db
        self.memory_log = memory_log
        self.runner: web.AppRunner | None = None
        self.bound: list[HostPort] = []
        self.announcing: asyncio.Task[None] | None = None

    @property
    def tls(self) -> bool:
        return bool(self.config.admin.tls_cert)

    def _ssl_context(self) -> ssl.SSLContext | None:
        section = self.config.admin
        if not section.tls_cert or not section.tls_key:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(section.tls_cert, section.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise OSError(f"cannot load admin.tls_cert {section.tls_cert} / admin.tls_key "
                          f"{section.tls_key}: {exc}") from None
        return context

    async def start(self) -> None:
        """Bind every admin.listen address; raises OSError naming the one that fails (and
        leaves nothing bound)."""
        from admin.web.app import build_app

        context = self._ssl_context()
        app = build_app(self.config, self.db, tls=context is not None,
                        memory_log=self.memory_log)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                    shutdown_timeout=2.0, keepalive_timeout=15.0)
        await self.runner.setup()
        try:
            for address in self.config.admin.listen:
                sock = bind_socket(address, socket.SOCK_STREAM, False, " for the admin UI")
                site = web.SockSite(self.runner, sock, ssl_context=context)
                await site.start()
                host, port = sock.getsockname()[:2]
                self.bound.append(HostPort(host, port))
        except OSError:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.announcing is not None:
            self.announcing.cancel()
            await asyncio.gather(self.announcing, return_exceptions=True)
            self.announcing = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        self.bound = []


async def start_admin_ui(config: Config, db: Any, *, out: TextIO | None = None,
                         memory_log: Any = None) -> AdminUI | None:
    """Start the UI when admin.enabled; a failure to bind is logged and DNS keeps serving."""
    if not config.admin.enabled:
        return None
    ui = AdminUI(config, db, memory_log)
    try:
        await ui.start()
    except OSError as exc:
        log.error("the admin UI is not served: %s", exc)
        return None
    scheme = "https" if ui.tls else "http"
    urls = ", ".join(f"{scheme}://{a}/" for a in ui.bound)
    log.info("admin UI on %s", urls)
    # In a task: the database may still be migrating (or unreachable), and nothing that
    # starts or stops the process may wait for it.
    ui.announcing = asyncio.get_running_loop().create_task(
        announce_setup(config, db, ui, out or sys.stdout))
    return ui


async def announce_setup(config: Config, db: Any, ui: AdminUI, out: TextIO) -> None:
    """On a first run: the token file named in the log; the URL on a terminal, once."""
    from admin import setup_token

    scheme = "https" if ui.tls else "http"
    where = f"{scheme}://{ui.bound[0]}/" if ui.bound else "the admin.listen address"
    if db is None:
        return
    try:
        users = await db.call(lambda store: store.users.count())
    except Exception as exc:  # noqa: BLE001 - a database error: the UI says so per page
        from admin.store.dbthread import describe_error

        log.warning("cannot tell whether the first-run setup is needed: %s",
                    describe_error(exc))
        return
    token = setup_token.ensure_setup_token(config.state_path, users=users)
    terminal = out.isatty()
    if token is None:
        if terminal:
            print(f"Straja admin UI: {where}", file=out, flush=True)
        return
    path = setup_token.token_path(config.state_path)
    log.warning("first run: no administrator yet; open %ssetup and enter the one-time setup "
                "token from %s (or run `straja users setup-url`)", where, path)
    if terminal:
        print(f"Straja first run: create the administrator at {where}setup?token={token}",
              file=out, flush=True)
