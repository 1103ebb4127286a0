"""Time behind one small protocol, so tests can control all of it.

Every wait in the library (retry backoff, refresh interval) and every
freshness decision goes through a :class:`Clock`.  Production code uses
:data:`SYSTEM_CLOCK`; tests inject ``nanogpt_images.testing.FakeClock``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "wait_on"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic time for deadlines, wall time for timestamps, and sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch, for timestamps and HTTP dates."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    # The C functions themselves, not wrappers: the warm read path calls monotonic().
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()


async def wait_on(clock: Clock, future: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` of ``clock`` for ``future``; ``True`` once it is done.

    The future is never cancelled here: whoever else waits for it still gets it.
    """
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return future.done()
