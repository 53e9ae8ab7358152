"""The proof behind READY=1 and every WATCHDOG=1: Straja's workers answered a real DNS
query since the last ping, not merely that some loop is still turning.

Each round sends a CHAOS-class question (`version.bind TXT CH`, which every worker answers
itself, allowed or refused, whatever the upstreams do) to every listen address from fresh
sockets, so fresh source ports spread the probes over the workers behind SO_REUSEPORT.
With several workers, the proof also needs every worker's query counter (the snapshot it
writes to state_dir/run every 2 s) to have moved since the last ping; rounds repeat every
second until both hold.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from admin import sdnotify, stats
from resolver.settings import HostPort

log = logging.getLogger("straja.heartbeat")

# version.bind. TXT CH, RD set
_QUESTION = b"\x07version\x04bind\x00" + struct.pack("!HH", 16, 3)
RETRY = 1.0  # seconds between rounds while the proof is still missing
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def probe_targets(addresses: Iterable[HostPort]) -> list[tuple[str, int]]:
    """Where to send probes: each listen address, a wildcard one through loopback."""
    return [(_WILDCARDS.get(a.host, a.host), a.port) for a in addresses]


def worker_counts(state_dir: Path, workers: int) -> Callable[[], dict[int, int]]:
    """Each worker's query count, as its last counter snapshot says (missing: absent)."""

    def read() -> dict[int, int]:
        counts = {}
        for index in range(workers):
            try:
                data = json.loads(stats.counter_path(state_dir, index).read_text())
                counts[index] = int(data.get("queries", 0))
            except (OSError, ValueError, TypeError, AttributeError):
                continue
        return counts

    return read


class Heartbeat:
    """Call `poll()` often; it answers True once the proof is complete, then starts over."""

    def __init__(
        self,
        targets: Callable[[], list[tuple[str, int]]],
        counts: Callable[[], dict[int, int]] | None = None,
        workers: int = 0,
    ) -> None:
        self.targets = targets
        self.counts = counts
        self.workers = set(range(workers)) if counts is not None else set()
        # Four probes per worker and target: the chance that SO_REUSEPORT's hash gives some
        # worker none of them in a round is about e^-4; the next round tries again.
        self.probes = max(1, 4 * workers)
        self.baseline = counts() if counts is not None else {}
        self.current: list[tuple[str, int]] = []
        self.answered: set[tuple[str, int]] = set()
        self.pending: list[tuple[socket.socket, tuple[str, int], bytes]] = []  # socket, to, ID
        self.round_at: float | None = None

    def poll(self) -> bool:
        self._read_answers()
        if self.current and self.answered.issuperset(self.current):
            moved = self._moved()
            if moved is not None:
                self._close()
                self.answered.clear()
                self.round_at = None
                self.baseline = moved
                return True
        now = time.monotonic()
        if self.round_at is None or now - self.round_at >= RETRY:
            self._start_round(now)
        return False

    def _moved(self) -> dict[int, int] | None:
        """The new counts when every worker's count moved since the last proof, else None."""
        if self.counts is None:
            return {}
        counts = self.counts()
        for index in self.workers:
            if counts.get(index, -1) <= self.baseline.get(index, -1):
                return None
        return counts

    def _start_round(self, now: float) -> None:
        self._close()
        self.round_at = now
        self.current = self.targets()  # read again: a reload may have changed dns.listen
        for target in self.current:
            host, port = target
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            for _ in range(self.probes):
                ident = os.urandom(2)
                sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                try:
                    sock.sendto(ident + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + _QUESTION,
                                (host, port))
                except OSError as exc:
                    log.debug("probe to %s:%d not sent: %s", host, port, exc)
                    sock.close()
                    continue
                self.pending.append((sock, target, ident))

    def _read_answers(self) -> None:
        for sock, target, ident in self.pending:
            try:
                data = sock.recv(512)
            except OSError:
                continue
            if data[:2] == ident and len(data) >= 12 and data[2] & 0x80:
                self.answered.add(target)

    def _close(self) -> None:
        for sock, _, _ in self.pending:
            sock.close()
        self.pending.clear()

    def close(self) -> None:
        self._close()


class ServiceNotifier:
    """READY=1 after the first proof, WATCHDOG=1 after each later one, every `interval`."""

    def __init__(self, heartbeat: Heartbeat, status: str) -> None:
        self.heartbeat = heartbeat
        self.status = status
        self.interval = sdnotify.watchdog_interval()
        self.is_ready = False
        self.due = 0.0

    @property
    def wanted(self) -> bool:
        """Whether anything listens: no NOTIFY_SOCKET, no probes."""
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def poll(self) -> None:
        if not self.wanted or time.monotonic() < self.due:
            return
        if not self.heartbeat.poll():
            return
        if not self.is_ready:
            self.is_ready = True
            sdnotify.ready(self.status)
            log.debug("told systemd we are ready")
        else:
            sdnotify.watchdog()
        self.due = time.monotonic() + self.interval if self.interval else float("inf")

    async def run(self) -> None:
        """poll() on the running loop until cancelled (the one-process case)."""
        try:
            while self.wanted and (self.interval or not self.is_ready):
                self.poll()
                await asyncio.sleep(max(0.1, min(self.due - time.monotonic(), 1.0)))
        finally:
            self.heartbeat.close()
