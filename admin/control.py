"""The supervisor's control process: the list refresher and the STOP page, once per machine.

With several workers, running the STOP page (aiohttp, ~27 MB of RSS) in each of them would
multiply its memory on a small router; one process serves it for all. It keeps its own
copy of the policy (a Resolver that serves no DNS, remapping lists like the workers do) to
say which list blocks a Host. SIGHUP makes the supervisor restart it with the new config.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from admin.alerts import Alerts
from admin.config import Config
from admin.refresher import Refresher
from admin.worker import start_admin, start_stop_page
from resolver.server import DnsServer

log = logging.getLogger("straja.control")


def run_control_process(config: Config) -> int:
    """Entry point of the supervisor's control process."""
    return asyncio.run(_control(config))


async def _control(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = [loop.create_task(Refresher(config).run())]
    alerts = Alerts(config)
    tasks.append(loop.create_task(alerts.run()))
    page = None
    if config.stop_page.enabled:
        policy = DnsServer(config)  # never started: its resolver only answers "which list?"
        tasks.append(loop.create_task(policy.lists.run()))
        page = await start_stop_page(policy, config, reuse_port=False)
    admin_ui = await start_admin(config)
    if admin_ui is not None:
        alerts.db_healthy = admin_ui.db_healthy
    await stop.wait()
    if admin_ui is not None:
        await admin_ui.stop()
    for task in tasks:
        task.cancel()
    if page is not None:
        await page.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    return 0
