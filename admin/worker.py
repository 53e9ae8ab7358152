"""One serving process: a DnsServer on its event loop, with SIGTERM and SIGHUP handling."""

from __future__ import annotations

import asyncio
import logging
import signal

from admin import stats
from admin.config import Config, ConfigError, load_config
from admin.logs import setup_logging
from admin.refresher import Refresher
from resolver.server import DnsServer

log = logging.getLogger("straja.worker")

EXIT_OK = 0
EXIT_CANNOT_LISTEN = 1


def run_worker(
    config: Config, reuse_port: bool = False, refresh_lists: bool = True, index: int = 0
) -> int:
    """Serve until SIGTERM or SIGINT; returns the process exit code.

    uvloop runs the loop when it is installed (`pip install straja[fast]`).
    """
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return asyncio.run(_serve(config, reuse_port, refresh_lists, index))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve(config, reuse_port, refresh_lists, index))


async def _serve(config: Config, reuse_port: bool, refresh_lists: bool, index: int) -> int:
    server = DnsServer(config, reuse_port=reuse_port)
    stats.restore(server.resolver.counters, config.state_path, index)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot listen: %s; check dns.listen in %s", exc, config.source)
        return EXIT_CANNOT_LISTEN
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    refresher = Refresher(config) if refresh_lists else None
    refresh_task = loop.create_task(refresher.run()) if refresher is not None else None
    stats_task = loop.create_task(stats.writer(server.resolver.counters, config.state_path, index))

    async def reload() -> None:
        try:
            new = load_config(config.source)
        except ConfigError as exc:
            log.error("reload refused, the running config stays: %s", exc)
            return
        setup_logging(new.log.level)
        await server.reload(new)
        if refresher is not None:
            refresher.configure(new)
        log.info("config reloaded from %s", new.source)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    log.info("ready, upstreams %s", ", ".join(str(u) for u in config.upstreams))
    await stop.wait()
    log.info("shutting down")
    if refresh_task is not None:
        refresh_task.cancel()
    await server.stop()
    stats_task.cancel()
    await asyncio.gather(stats_task, return_exceptions=True)
    return EXIT_OK
