"""A fake clock: time moves only when a test says so, or when the loop is idle.

:class:`FakeClock` implements the library's ``Clock`` protocol, so a session
built with ``clock=FakeClock()`` does every wait (retry backoff, refresh
interval, TTL) on fake time.  Tests move time with :meth:`FakeClock.advance`
instead of sleeping; or they turn on ``auto_advance`` and let time jump to
the next sleeper's deadline whenever nothing else is running, the way trio's
``MockClock(autojump_threshold=...)`` does.

How idleness is detected (auto-advance): asyncio offers no public "is the
loop idle?" question, so a watcher task yields to the loop a few dozen times
and then waits ``auto_advance_threshold`` seconds of *real* time; if no
sleeper was added, woken or cancelled meanwhile, the loop counts as idle.
On CPython's own event loops the watcher also peeks at the loop's queue of
ready callbacks (a private attribute, read defensively), so a task that is
busy yielding is never taken for idle even when the machine is slow.  The
real-time grace lets loopback HTTP finish before time jumps, at the cost of
that much wall time per jump.  A task waiting on something other than this
clock for longer than the grace (slow I/O, a thread) may see time jump while
it waits; raise the threshold if that matters to a test.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import itertools
import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["FakeClock"]

# Loop iterations given to woken tasks before time moves on; enough for a
# task to resume, run a few awaits of already-done things and sleep again.
_SETTLE_ROUNDS: Final = 20
# Loop iterations with no sleeper activity before auto-advance calls the loop idle.
_IDLE_ROUNDS: Final = 40


class FakeClock:
    """A ``Clock`` whose time moves only on :meth:`advance` (or when idle, with ``auto_advance``).

    ``monotonic()`` starts at ``start``; ``time()`` is ``wall_start`` plus the
    fake time elapsed since then.  Bind one clock to one event loop at a time.
    """

    def __init__(
        self,
        start: float = 0.0,
        *,
        wall_start: float = 1_790_000_000.0,
        auto_advance: bool = False,
        auto_advance_threshold: float = 0.005,
    ) -> None:
        if not auto_advance_threshold >= 0:
            raise ValueError("auto_advance_threshold must be a number of seconds >= 0")
        self._start = float(start)
        self._now = float(start)
        self._wall_start = float(wall_start)
        self._auto_advance = auto_advance
        self._threshold = float(auto_advance_threshold)
        self._sleepers: list[_Sleeper] = []  # a heap, earliest deadline first
        self._timers: list[_Timer] = []  # a heap too: call_at() callbacks, which never wake time
        self._order = itertools.count()
        self._activity = 0  # bumped whenever a sleeper is added, woken or cancelled
        self._watcher: asyncio.Task[None] | None = None
        self._kick: asyncio.Future[None] | None = None
        self._closed = False

    # -- the Clock protocol -------------------------------------------------

    def monotonic(self) -> float:
        """Fake seconds; only :meth:`advance` or auto-advance move them."""
        return self._now

    def time(self) -> float:
        """Fake wall-clock seconds since the epoch: ``wall_start`` plus elapsed fake time."""
        return self._wall_start + (self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        """Wait until fake time reaches now + ``seconds``; zero or negative just yields."""
        if not seconds > 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(self._now + seconds, next(self._order), loop.create_future())
        heapq.heappush(self._sleepers, sleeper)
        self._touch()
        if self._auto_advance and not self._closed:
            self._ensure_watcher(loop)
        try:
            await sleeper.future
        finally:
            if sleeper.future.cancelled():
                self._discard(sleeper)

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        """Call ``callback`` once fake time reaches ``when`` (``monotonic()`` scale).

        Unlike a sleeper, a timer never makes auto-advance jump: it only
        watches time that moves for other reasons.  Returns a handle whose
        ``cancel()`` stops it.
        """
        timer = _Timer(when, next(self._order), FakeTimer(callback))
        heapq.heappush(self._timers, timer)
        if when <= self._now:
            self._fire_timers()
        return timer.handle

    # -- driving time -------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in deadline order and letting each run.

        A task woken inside the window that sleeps again with a deadline still
        inside it is woken too, so ``advance(60)`` equals sixty ``advance(1)``.
        """
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"cannot advance by {seconds!r}: time only moves forward, finitely")
        target = self._now + seconds
        await _yield(_SETTLE_ROUNDS)  # let tasks that are about to sleep register first
        while (deadline := self._next_event()) is not None and deadline <= target:
            self._now = max(self._now, deadline)
            self._wake_due()
            await _yield(_SETTLE_ROUNDS)
        self._now = max(self._now, target)
        self._fire_timers()
        await _yield(_SETTLE_ROUNDS)

    async def run_until_idle(self) -> None:
        """Let ready tasks run until none adds, wakes or cancels a sleeper; time stays put."""
        while True:
            mark = self._activity
            await _yield(_IDLE_ROUNDS)
            if self._activity == mark:
                return

    @property
    def sleepers(self) -> int:
        """How many tasks are sleeping on this clock."""
        return len(self._sleepers)

    @property
    def next_deadline(self) -> float | None:
        """The earliest sleeper's wake-up time (``monotonic()`` scale), or ``None``."""
        return self._sleepers[0].deadline if self._sleepers else None

    @property
    def auto_advance(self) -> bool:
        """Whether time jumps to the next deadline when the loop is idle."""
        return self._auto_advance and not self._closed

    # -- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        """Stop auto-advancing; the watcher task is cancelled (``aclose()`` also awaits it).

        Sleepers stay where they are: :meth:`advance` still wakes them.
        """
        self._closed = True
        watcher = self._watcher
        if watcher is not None and not watcher.done() and not watcher.get_loop().is_closed():
            watcher.cancel()

    async def aclose(self) -> None:
        """Stop auto-advancing and wait until the watcher task has finished."""
        self.close()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([watcher])

    async def __aenter__(self) -> FakeClock:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        mode = ", auto_advance=True" if self.auto_advance else ""
        return f"FakeClock(now={self._now!r}, sleepers={self.sleepers}{mode})"

    # -- internals ----------------------------------------------------------

    def _touch(self) -> None:
        self._activity += 1
        kick = self._kick
        if kick is not None and not kick.done():
            kick.set_result(None)

    def _next_event(self) -> float | None:
        """The earliest deadline of a sleeper or a live timer."""
        while self._timers and self._timers[0].handle.cancelled:
            heapq.heappop(self._timers)
        deadlines = [queue[0].deadline for queue in (self._sleepers, self._timers) if queue]
        return min(deadlines, default=None)

    def _fire_timers(self) -> None:
        while self._timers and self._timers[0].deadline <= self._now:
            heapq.heappop(self._timers).handle.fire()

    def _wake_due(self) -> None:
        self._fire_timers()
        while self._sleepers and self._sleepers[0].deadline <= self._now:
            future = heapq.heappop(self._sleepers).future
            if not future.done():
                future.set_result(None)
        self._touch()

    def _discard(self, sleeper: _Sleeper) -> None:
        try:
            self._sleepers.remove(sleeper)
        except ValueError:  # already woken
            return
        heapq.heapify(self._sleepers)
        self._touch()

    def _ensure_watcher(self, loop: asyncio.AbstractEventLoop) -> None:
        watcher = self._watcher
        if watcher is None or watcher.done() or watcher.get_loop() is not loop:
            self._watcher = loop.create_task(
                self._watch(), name="nanogpt_images.testing.FakeClock auto-advance"
            )

    async def _watch(self) -> None:
        """Jump to the next deadline each time the loop goes idle, until closed."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._sleepers or math.isinf(self._sleepers[0].deadline):
                self._kick = loop.create_future()
                try:
                    await self._kick  # the next sleep() sets it
                finally:
                    self._kick = None
                continue
            if await self._loop_is_idle() and self._sleepers and not self._closed:
                self._now = max(self._now, self._sleepers[0].deadline)
                self._wake_due()

    async def _loop_is_idle(self) -> bool:
        mark = self._activity
        for _ in range(_IDLE_ROUNDS):
            await asyncio.sleep(0)
            if self._activity != mark:
                return False
        if self._threshold > 0:
            await asyncio.sleep(self._threshold)  # real time, so loopback I/O can finish
        return self._activity == mark and not _others_ready(asyncio.get_running_loop())


def _others_ready(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether callbacks other than the caller's are queued to run right now.

    CPython's own loops keep them in the private ``_ready`` deque; reading it
    tells a busy task (never idle) from one waiting on I/O.  On loops without
    it (uvloop) this answers ``False`` and only the real-time grace applies.
    """
    ready = getattr(loop, "_ready", None)
    return isinstance(ready, collections.deque) and len(ready) > 0


class FakeTimer:
    """A callback waiting for fake time (from :meth:`FakeClock.call_at`); ``cancel()`` stops it."""

    __slots__ = ("_callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self._callback: Callable[[], object] | None = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not call the callback (idempotent)."""
        self.cancelled = True
        self._callback = None

    def fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None and not self.cancelled:
            callback()


@dataclasses.dataclass(order=True, slots=True)
class _Timer:
    deadline: float
    order: int
    handle: FakeTimer = dataclasses.field(compare=False)


@dataclasses.dataclass(order=True, slots=True)
class _Sleeper:
    deadline: float
    order: int
    future: asyncio.Future[None] = dataclasses.field(compare=False)


async def _yield(rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)
