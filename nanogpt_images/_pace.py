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
    """The pieces of work one owner runs in threads: paced, and waited for when it stops."""

    def __init__(self) -> None:
        self.stopping = False
        self._running: set[asyncio.Future[None]] = set()
        self._turn: asyncio.Lock | None = None  # made in the loop, on first use

    async def run(self, func: Callable[..., T], /, *args: object) -> T:
        """``await asyncio.to_thread(func, *args)``, its :func:`pace` calls resting now and then.

        One piece at a time: two busy threads would take the GIL from each
        other while the event loop waited for it (a 30 ms stall, measured).
        """
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            work = asyncio.ensure_future(self._run(func, *args))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await _ended(work)  # a thread cannot be cancelled: its turn lasts until it ends
                raise

    def stop_soon(self) -> None:
        """Make running work stop at its next :func:`pace`, without waiting for it."""
        self.stopping = True

    async def _run(self, func: Callable[..., T], /, *args: object) -> T:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        self._running.add(ended)
        ended.add_done_callback(self._running.discard)
        pacer = _Pacer(self)

        def work() -> T:
            token = _PACER.set(pacer)
            try:
                return func(*args)
            finally:
                _PACER.reset(token)
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_end, ended)

        return await asyncio.to_thread(work)

    async def stop(self, wait: float) -> None:
        """Make running work stop at its next :func:`pace`; wait up to ``wait`` s for it."""
        self.stopping = True
        if self._running:
            await asyncio.wait(list(self._running), timeout=wait)


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


async def _ended(work: asyncio.Future[Any]) -> None:
    """Wait, cancelled or not, until ``work`` is done; nobody else will see how it ended."""
    while not work.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([work])
    if not work.cancelled():
        work.exception()


def _end(ended: asyncio.Future[None]) -> None:
    if not ended.done():
        ended.set_result(None)
