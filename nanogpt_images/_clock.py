"""Time behind one small protocol, so tests can control all of it.

Every wait in the library (retry backoff, refresh interval) and every
freshness decision goes through a :class:`Clock`.  Production code uses
:data:`SYSTEM_CLOCK`; tests inject ``nanogpt_images.testing.FakeClock``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SYSTEM_CLOCK", "Cancellable", "Clock", "SystemClock", "call_at", "wait_on"]


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

    def call_at(self, when: float, callback: Callable[[], object]) -> Cancellable:
        """Call ``callback`` in the running loop at ``when`` (``monotonic()`` scale)."""
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - time.monotonic()), callback)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()


class Cancellable(Protocol):
    """A scheduled callback: an :class:`asyncio.TimerHandle`, a task, a fake timer."""

    def cancel(self) -> object:
        """Stop it; idempotent."""
        ...


def call_at(clock: Clock, when: float, callback: Callable[[], object]) -> Cancellable:
    """Call ``callback`` once ``clock`` reaches ``when``; returns what cancels it.

    A clock with a ``call_at`` of its own (the system clock, ``FakeClock``)
    schedules a timer, which a ``FakeClock`` never jumps time for; any other
    clock gets a task that sleeps on it.
    """
    own = getattr(clock, "call_at", None)
    if own is not None:
        return own(when, callback)  # type: ignore[no-any-return]
    return asyncio.get_running_loop().create_task(_sleep_then_call(clock, when, callback))


async def _sleep_then_call(clock: Clock, when: float, callback: Callable[[], object]) -> None:
    await clock.sleep(when - clock.monotonic())
    callback()


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
