"""CPU work off the event loop that leaves the loop its turns, and stops when its owner closes.

CPython runs one thread's Python at a time.  A thread that wants the GIL back
waits up to the switch interval (5 ms) before the holder is told to let go,
and one turn of the event loop may need it several times, so a worker thread
reading a 10,000-model catalog for half a second delays the loop again and
again.  Work run by :meth:`Workers.run` calls :func:`pace` between small
steps; every :data:`SLICE` of work it rests :data:`REST`, long enough for a
waiting thread to take the GIL.  Called anywhere else (the loop's own thread,
a user's code) ``pace`` does nothing.  The interpreter's switch interval is
left alone: it is the application's, not a library's, to set.

A thread cannot be cancelled, so :meth:`Workers.stop` (a session's
``close()``) makes the next ``pace()`` of each running piece of work raise
:class:`WorkStoppedError`, and waits for them to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REST", "SLICE", "WorkStoppedError", "Workers", "pace"]

T = TypeVar("T")

#: Seconds of work between rests.
SLICE = 0.002
#: Seconds of each rest (the loop's thread wakes and takes the GIL in tens of µs).
REST = 0.0002


class WorkStoppedError(Exception):
    """Raised by :func:`pace` in work whose owner stopped it (the session closed)."""


class Workers:
    """The pieces of work one owner runs in threads: paced, one at a time, stopped on demand."""

    def __init__(self) -> None:
        self.stopping = False
        self._turn: asyncio.Lock | None = None  # made in the loop, on first use

    async def run(self, func: Callable[..., T], /, *args: object) -> T:
        """``await asyncio.to_thread(func, *args)``, its :func:`pace` calls resting now and then.

        One piece at a time: two busy threads would take the GIL from each
        other while the event loop waited for it (a 30 ms stall, measured).
        A thread cannot be cancelled, so its turn lasts until it has ended,
        even when the caller is cancelled.
        """
        async with self._the_turn():
            work = asyncio.ensure_future(asyncio.to_thread(_paced, _Pacer(self), func, *args))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await _ended(work)
                raise

    def stop_soon(self) -> None:
        """Make running work stop at its next :func:`pace`, without waiting for it."""
        self.stopping = True

    async def stop(self, wait: float) -> None:
        """Make running work stop at its next :func:`pace`; wait up to ``wait`` s for it."""
        self.stop_soon()
        turn = self._the_turn()
        try:
            await asyncio.wait_for(turn.acquire(), wait)
        except TimeoutError:
            return
        turn.release()  # nothing runs: every piece holds the turn until its thread ends

    def _the_turn(self) -> asyncio.Lock:
        if self._turn is None:
            self._turn = asyncio.Lock()
        return self._turn


def pace() -> None:
    """Between two steps of work: rest if this thread has worked a slice since the last rest.

    Raises :class:`WorkStoppedError` when the work's owner has stopped it.
    """
    pacer = _PACER.get()
    if pacer is not None:
        pacer.step()


class _Pacer:
    __slots__ = ("until", "workers")

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.until = time.perf_counter() + SLICE

    def step(self) -> None:
        if self.workers.stopping:
            raise WorkStoppedError
        if time.perf_counter() >= self.until:
            time.sleep(REST)  # releases the GIL, for longer than a waiting thread needs
            self.until = time.perf_counter() + SLICE


_PACER: contextvars.ContextVar[_Pacer | None] = contextvars.ContextVar(
    "nanogpt_images_pacer", default=None
)


def _paced(pacer: _Pacer, func: Callable[..., T], /, *args: object) -> T:
    """In the worker thread: ``func(*args)``, its pace() calls going to ``pacer``."""
    token = _PACER.set(pacer)
    try:
        return func(*args)
    finally:
        _PACER.reset(token)


async def _ended(work: asyncio.Future[Any]) -> None:
    """Wait, cancelled or not, until ``work`` is done; nobody else will see how it ended."""
    while not work.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([work])
    if not work.cancelled():
        work.exception()
