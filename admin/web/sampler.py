"""A short memory of the workers' summed counters, for rates: queries per second now and
each upstream's recent answers and failures (the snapshots only hold totals since start).

One sample every INTERVAL seconds, WINDOW seconds kept: a few dozen small dicts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from admin import stats

INTERVAL = 5.0
WINDOW = 600.0


class Sampler:
    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self.samples: deque[tuple[float, dict[str, Any]]] = deque()

    def sample(self) -> dict[str, Any]:
        """Read the snapshots now, remember them, and return the totals."""
        now = self.clock()
        total = stats.totals(self.state_dir)
        self.samples.append((now, total))
        while self.samples and self.samples[0][0] < now - WINDOW:
            self.samples.popleft()
        return total

    def rate(self, key: str, over: float = 60.0) -> float | None:
        """Per second of `key` between the newest sample and the oldest within `over` s."""
        if len(self.samples) < 2:
            return None
        newest_at, newest = self.samples[-1]
        oldest_at, oldest = next(
            ((t, s) for t, s in self.samples if t >= newest_at - over), self.samples[0])
        if newest_at <= oldest_at:
            return None
        delta = int(newest.get(key, 0)) - int(oldest.get(key, 0))
        return max(delta, 0) / (newest_at - oldest_at)

    def recent(self, key: str, over: float = 300.0) -> dict[str, int]:
        """How much each entry of the mapping `key` grew in the last `over` seconds."""
        if not self.samples:
            return {}
        newest_at, newest = self.samples[-1]
        oldest = next((s for t, s in self.samples if t >= newest_at - over), newest)
        if len(self.samples) == 1:
            oldest = {}
        now_map = newest.get(key) or {}
        then_map = oldest.get(key) or {}
        return {k: max(int(v) - int(then_map.get(k, 0)), 0) for k, v in now_map.items()}

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sample)
            except OSError:
                pass
            await asyncio.sleep(INTERVAL)
