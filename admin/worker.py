"""One serving process: a DnsServer on its event loop, with SIGTERM and SIGHUP handling."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from admin import sdnotify, stats
from admin.alerts import Alerts
from admin.config import Config, ConfigError, load_config
from admin.heartbeat import Heartbeat, ServiceNotifier, probe_targets
from admin.logs import setup_logging
from admin.refresher import Refresher
from blocklists.errors import ListError
from blocklists.trie import name_to_labels
from resolver.server import DnsServer
from resolver.stoppage import BlockInfo

if TYPE_CHECKING:
    from resolver.encrypted import DohService
    from resolver.stoppage.server import StopPage

log = logging.getLogger("straja.worker")

EXIT_OK = 0
EXIT_CANNOT_LISTEN = 1


def run_worker(
    config: Config, reuse_port: bool = False, control: bool = True, index: int = 0
) -> int:
    """Serve until SIGTERM or SIGINT; returns the process exit code.

    uvloop runs the loop when it is installed (`pip install straja[fast]`).
    """
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return asyncio.run(_serve(config, reuse_port, control, index))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve(config, reuse_port, control, index))


async def _serve(config: Config, reuse_port: bool, control: bool, index: int) -> int:
    server = DnsServer(config, reuse_port=reuse_port)
    stats.restore(server.resolver.counters, config.state_path, index)
    query_log = start_query_log(server, config, index)  # None, and no hook at all, when off
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot listen: %s; check dns.listen in %s", exc, config.source)
        return EXIT_CANNOT_LISTEN
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    refresher = Refresher(config) if control else None
    refresh_task = loop.create_task(refresher.run()) if refresher is not None else None
    alerts = Alerts(config) if control else None
    alerts_task = loop.create_task(alerts.run()) if alerts is not None else None
    stats_task = loop.create_task(stats.writer(server.resolver.counters, config.state_path, index))
    stop_page: StopPage | None = None

    async def reload() -> None:
        try:
            await apply_reload()
        finally:
            sdnotify.ready()  # the reload is over, applied or refused

    async def apply_reload() -> None:
        try:
            new = load_config(config.source)
        except ConfigError as exc:
            log.error("reload refused, the running config stays: %s", exc)
            return
        setup_logging(new.log.level)
        await server.reload(new)
        if stop_page is not None:
            stop_page.configure(new.stop_page)
        if doh is not None:
            doh.reload(new.dns)
        if refresher is not None:
            refresher.configure(new)
        if alerts is not None:
            alerts.configure(new)
        if query_log is not None:
            query_log.configure(new.query_log.enabled, new.query_log.level)
        log.info("config reloaded from %s", new.source)

    def on_hup() -> None:
        sdnotify.reloading()
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    log.info("ready, upstreams %s", ", ".join(str(u) for u in config.upstreams))
    doh: DohService | None = None
    admin_ui = None
    if control:  # one process does it all; under the supervisor the control process does
        stop_page = await start_stop_page(server, config, reuse_port)
        doh = await start_doh(server, config, reuse_port)
        admin_ui = await start_admin(config)
        if admin_ui is not None and alerts is not None:
            alerts.db_healthy = admin_ui.db_healthy
    notifier = loop.create_task(
        ServiceNotifier(Heartbeat(lambda: probe_targets(server.bound)), "serving DNS").run()
    ) if control else None
    await stop.wait()
    sdnotify.stopping()
    log.info("shutting down")
    if admin_ui is not None:
        await admin_ui.stop()
    if notifier is not None:
        notifier.cancel()
    if refresh_task is not None:
        refresh_task.cancel()
    if alerts_task is not None:
        alerts_task.cancel()
    if stop_page is not None:
        await stop_page.stop()
    if doh is not None:
        await doh.stop()
    await server.stop()
    stats_task.cancel()
    await asyncio.gather(stats_task, return_exceptions=True)
    if query_log is not None:
        query_log.task.cancel()
        await asyncio.gather(query_log.task, return_exceptions=True)
    return EXIT_OK


def start_query_log(server: DnsServer, config: Config, index: int) -> Any:
    """The opt-in query log's hook and writer task, before the sockets open; None when
    query_log.enabled is off (then nothing on the query path changes)."""
    if not config.query_log.enabled:
        return None
    from resolver.querylog import QueryLog

    query_log = QueryLog(server.resolver, config.state_path, index, config.query_log.level)
    query_log.install()
    query_log.task = asyncio.get_running_loop().create_task(query_log.writer())
    return query_log


async def start_stop_page(server: DnsServer, config: Config, reuse_port: bool) -> StopPage | None:
    """Start the STOP page once DNS answers (aiohttp is imported only now, so it never
    delays the first DNS answer). A failure to bind is logged; DNS keeps serving."""
    if not config.stop_page.enabled:
        return None
    from resolver.stoppage import StopPage
    from resolver.stoppage.reports import ReportStore

    page = StopPage(config.stop_page, stop_page_explainer(server), ReportStore(config.state_path),
                    reuse_port=reuse_port)
    try:
        await page.start()
    except OSError as exc:
        log.error("the STOP page is not served: %s", exc)
        return None
    log.info("STOP page on %s", ", ".join(str(a) for a in page.bound))
    return page


async def start_doh(server: DnsServer, config: Config, reuse_port: bool) -> DohService | None:
    """Start DNS over HTTPS once plain DNS answers, answered by `server`'s resolver. A
    failure to bind or to read the certificate is logged; plain DNS keeps serving."""
    if not config.dns.https_listen:
        return None
    import ssl

    from resolver.encrypted import DohService

    try:
        service = DohService(server.resolver, config.dns, reuse_port)
        await service.start()
    except (OSError, ssl.SSLError) as exc:
        log.error("DNS over HTTPS is not served: %s", exc)
        return None
    return service


class AdminHandle:
    """The admin UI and the store service it was given, stopped in that order."""

    def __init__(self, store: Any, ui: Any) -> None:
        self.store, self.ui = store, ui

    def db_healthy(self) -> bool:
        """For the alerts: False while the database is unreachable (or was never opened)."""
        return self.store is not None and bool(self.store.db.healthy)

    async def stop(self) -> None:
        if self.ui is not None:
            await self.ui.stop()
        if self.store is not None:
            await self.store.stop()


async def start_admin(config: Config) -> AdminHandle | None:
    """The store service (database thread, rollups) and the admin UI, started after DNS
    answers (the UI and the store import aiohttp, Jinja2 and SQLAlchemy only now). A
    database that cannot be reached is retried by the database thread; the UI then says
    which parts are not available, and DNS keeps serving."""
    if not config.admin.enabled:
        return None
    service = await start_store(config)
    from admin.web.server import start_admin_ui

    try:
        ui = await start_admin_ui(config, service.db if service is not None else None,
                                  memory_log=service.memory_log if service is not None else None)
    except Exception as exc:  # noqa: BLE001 - DNS must keep serving whatever the UI does
        log.error("the admin UI is not served: %s", exc)
        ui = None
    return AdminHandle(service, ui)


async def start_store(config: Config) -> Any:
    """The store service, or None (logged) when the database URL cannot be used at all."""
    from admin.store_service import StoreService

    try:
        return await StoreService.start(config)
    except Exception as exc:  # noqa: BLE001 - a bad URL or a missing driver: DNS serves on
        from admin.store import database_url

        log.error("the database %s cannot be used: %s", _safe_url(database_url(config)), exc)
        return None


def _safe_url(url: str) -> str:
    """A database URL without its password, for the log."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.partition(':')[0]}@{tail}"


def stop_page_explainer(server: DnsServer) -> Callable[[str, str], BlockInfo | None]:
    """Which list blocks a Host for a client, asked of the worker's live policy."""
    from blocklists.names import normalise_name  # idna: loaded with the STOP page, not before

    resolver = server.resolver

    def explain(host: str, client: str) -> BlockInfo | None:
        try:
            name = normalise_name(host)
        except ListError:
            return None
        group = resolver.groups.for_address(client)
        block = group.policy.decide(name_to_labels(name))
        if block is None:
            return None
        spec = next((s for s in resolver.config.lists if s.id == block.list_id), None)
        return BlockInfo(block.list_id, block.tier, spec.category if spec else None)

    return explain
