"""CPU work off the event loop that leaves the loop its turns.

CPython runs one thread's Python at a time.  A thread that wants the GIL back
waits up to the switch interval (5 ms) before the holder is told to let go,
and one turn of the event loop may need it several times, so a worker thread
reading a 10,000-model catalog for half a second delays the loop by 10 to
30 ms again and again.  Work run by :func:`off_loop` calls :func:`pace`
between small steps; every :data:`SLICE` of work it rests :data:`REST`, long
enough for a waiting thread to take the GIL, so the loop waits about a slice
at most.  Called anywhere else (the loop's own thread, a user's code) ``pace``
does nothing.  The interpreter's switch interval is left alone: it is the
application's, not a library's, to set.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REST", "SLICE", "off_loop", "pace"]

T = TypeVar("T")

#: Seconds of work between rests.
SLICE = 0.002
#: Seconds of each rest (the loop's thread wakes and takes the GIL in tens of µs).
REST = 0.0002


async def off_loop(func: Callable[..., T], /, *args: object) -> T:
    """``await asyncio.to_thread(func, *args)``, its :func:`pace` calls resting now and then."""
    return await asyncio.to_thread(_paced, func, *args)


def pace() -> None:
    """Between two steps of work: rest if this thread has worked a slice since the last rest."""
    pacer = _PACER.get()
    if pacer is not None:
        pacer.step()


class _Pacer:
    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = time.perf_counter() + SLICE

    def step(self) -> None:
        if time.perf_counter() >= self.until:
            time.sleep(REST)  # releases the GIL, for longer than a waiting thread needs
            self.until = time.perf_counter() + SLICE


_PACER: contextvars.ContextVar[_Pacer | None] = contextvars.ContextVar(
    "nanogpt_images_pacer", default=None
)


def _paced(func: Callable[..., T], /, *args: object) -> T:
    token = _PACER.set(_Pacer())
    try:
        return func(*args)
    finally:
        _PACER.reset(token)
