"""Several worker processes on SO_REUSEPORT sockets, restarted when they die.

The supervisor forks the workers before any event loop exists, forwards SIGHUP (after
checking the new config once, so a bad file is reported once and changes nothing) and
SIGTERM, and restarts a worker that exits unexpectedly, backing off if it keeps dying.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from admin import sdnotify
from admin.config import Config, ConfigError, load_config
from admin.control import run_control_process
from admin.heartbeat import Heartbeat, ServiceNotifier, probe_targets, worker_counts
from admin.worker import run_worker

log = logging.getLogger("straja.supervisor")

CONTROL_PROCESS = -1  # the index of the control process (lists, STOP page) among the children


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.children: dict[int, int] = {}  # pid -> worker index
        self.started: dict[int, float] = {}  # worker index -> last start time
        self.backoff: dict[int, float] = {}
        self.stopping = False
        self.reload_wanted = False
        self.expected_exits: set[int] = set()

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            sdnotify.forget()  # NotifyAccess=main: only the supervisor speaks for the service
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            code = 1
            try:
                if index == CONTROL_PROCESS:
                    code = run_control_process(self.config)
                else:
                    code = run_worker(
                        self.config, reuse_port=True, control=False, index=index
                    )
            finally:
                os._exit(code)
        self.children[pid] = index
        self.started[index] = time.monotonic()
        what = "control process" if index == CONTROL_PROCESS else f"worker {index}"
        log.info("%s started as pid %d", what, pid)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for index in range(self.config.dns.workers):
            self.spawn(index)
        self.spawn(CONTROL_PROCESS)
        notifier = self._notifier()
        while self.children:
            if not self.stopping:
                notifier.poll()
            if self.reload_wanted:
                self.reload_wanted = False
                self._reload()
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.1)
                continue
            index = self.children.pop(pid)
            if self.stopping:
                continue
            if pid in self.expected_exits:
                self.expected_exits.discard(pid)
                self.spawn(index)
                continue
            code = os.waitstatus_to_exitcode(status)
            log.error("worker %d (pid %d) exited with %d; restarting it", index, pid, code)
            lived = time.monotonic() - self.started[index]
            delay = 0.0 if lived > 10 else min(self.backoff.get(index, 0.5) * 2, 30.0)
            self.backoff[index] = delay or 0.5
            time.sleep(delay)
            if not self.stopping:
                self.spawn(index)
        return 0

    def _notifier(self) -> ServiceNotifier:
        """READY and WATCHDOG once every worker has answered DNS (see admin.heartbeat)."""
        workers = self.config.dns.workers
        counts = worker_counts(self.config.state_path, workers)
        heartbeat = Heartbeat(lambda: probe_targets(self.config.dns.listen), counts, workers)
        return ServiceNotifier(heartbeat, f"serving DNS with {workers} workers")

    def _on_stop(self, signum: int, frame: object) -> None:
        if not self.stopping:
            sdnotify.stopping()
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _on_hup(self, signum: int, frame: object) -> None:
        self.reload_wanted = True

    def _reload(self) -> None:
        sdnotify.reloading()
        try:
            self._forward_reload()
        finally:
            sdnotify.ready()

    def _forward_reload(self) -> None:
        try:
            new = load_config(self.config.source)
        except ConfigError as exc:
            log.error("reload refused, the running config stays: %s", exc)
            return
        if new.dns.workers != self.config.dns.workers:
            log.warning("dns.workers changed; it takes effect at the next restart")
        self.config = new
        for pid, index in list(self.children.items()):
            # Workers reload in place; the control process restarts with the new config.
            if index == CONTROL_PROCESS:
                self.expected_exits.add(pid)
            try:
                os.kill(pid, signal.SIGTERM if index == CONTROL_PROCESS else signal.SIGHUP)
            except ProcessLookupError:
                pass
