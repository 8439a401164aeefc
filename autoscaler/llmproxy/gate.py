"""`--max-concurrency`: at most N requests forwarded at once, the rest wait first come, first
served (asyncio.Semaphore gives no FIFO guarantee on every Python we support)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from prometheus_client import Gauge


class FifoGate:
    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max concurrency must be at least 1, got {limit}")
        self.limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def active(self) -> int:
        return self._active

    @contextlib.asynccontextmanager
    async def slot(self, waiting: Gauge) -> AsyncIterator[None]:
        """Hold a slot for the body of the `async with`; `waiting` counts the queue."""
        if self.limit is None:
            yield
            return
        waiting.inc()
        try:
            await self._acquire()
        finally:
            waiting.dec()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        assert self.limit is not None
        if self._active < self.limit and not self._waiters:
            self._active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.cancelled():
                with contextlib.suppress(ValueError):  # _release may have skipped it already
                    self._waiters.remove(future)
            else:
                # Granted the slot just as the client went away: hand it to the next one.
                self._release()
            raise

    def _release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes on: _active is unchanged
                return
        self._active -= 1
