"""The background task that keeps the cached catalog fresh.

It refreshes every ``interval`` seconds, ±10 % jitter so a fleet of bots
does not call NanoGPT in step.  After a failure it waits as long as the
cache's backoff says (1 s doubling up to the interval, or a longer
``Retry-After``) and carries on: no error stops it.  The cache logs each
failure once.  ``stop()`` cancels and awaits the task.

The task holds the cache only through a weak reference while it sleeps, so
a session dropped without ``close()`` is not kept alive by its own refresher:
the task ends at its next wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cache import CatalogCache
    from ._clock import Clock

__all__ = ["JITTER", "Refresher"]

log = logging.getLogger("nanogpt_images")

#: The refresh interval varies by up to this fraction either way.
JITTER = 0.1


class Refresher:
    """Runs ``cache.refresh_in_background()`` on a jittered interval until stopped."""

    def __init__(
        self,
        cache: CatalogCache,
        *,
        clock: Clock,
        interval: float,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._cache = weakref.ref(cache)
        self._clock = clock
        self._interval = interval
        self._random = random
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    def start(self, *, immediately: bool = False) -> None:
        """Start the task in the running loop; refresh at once if ``immediately``."""
        if self._task is None:
            jittered = _jitter(self._interval, self._random)
            self._task = asyncio.get_running_loop().create_task(
                _refresh_forever(self._cache, self._clock, jittered, immediately),
                name="nanogpt_images refresher",
            )

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def abandon(self) -> None:
        """Cancel the task without waiting: its session was dropped unclosed."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                task.cancel()


def _jitter(interval: float, random: Callable[[], float]) -> Callable[[], float]:
    def jittered() -> float:
        return interval * (1 + JITTER * (2 * random() - 1))

    return jittered


async def _refresh_forever(
    cache_ref: weakref.ref[CatalogCache],
    clock: Clock,
    jittered: Callable[[], float],
    immediately: bool,
) -> None:
    delay = 0.0 if immediately else jittered()
    while True:
        await clock.sleep(delay)
        cache = cache_ref()
        if cache is None:  # the session was dropped without close()
            return
        try:
            await cache.refresh_in_background()
        except Exception:
            # A bug must not silently end the refresher: log it with its traceback, go on.
            log.exception("background refresh of the image catalog crashed")
        delay = cache.next_delay(jittered())
        del cache  # no strong reference while asleep
