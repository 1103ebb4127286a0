"""The background task that keeps the cached catalog fresh.

It refreshes every ``interval`` seconds, ±10 % jitter so a fleet of bots
does not call NanoGPT in step.  After a failure it waits as long as the
cache's backoff says (1 s doubling up to the interval, or a longer
``Retry-After``), logs the failure once, and carries on: no error stops it.
``stop()`` cancels and awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING

from ._errors import NanoGPTError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cache import CatalogCache
    from ._clock import Clock

__all__ = ["JITTER", "Refresher"]

log = logging.getLogger("nanogpt_images")

#: The refresh interval varies by up to this fraction either way.
JITTER = 0.1


class Refresher:
    """Runs ``cache.refresh()`` on a jittered interval until stopped."""

    def __init__(
        self,
        cache: CatalogCache,
        *,
        clock: Clock,
        interval: float,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._cache = cache
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
            self._task = asyncio.get_running_loop().create_task(
                self._run(immediately), name="nanogpt_images refresher"
            )

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, immediately: bool) -> None:
        delay = 0.0 if immediately else self._jittered()
        while True:
            await self._clock.sleep(delay)
            try:
                await self._cache.refresh()
            except NanoGPTError as exc:
                log.warning("background refresh of the image catalog failed: %s", exc)
            except Exception:
                # A bug must not silently end the refresher: log it with its traceback, go on.
                log.exception("background refresh of the image catalog crashed")
            delay = self._cache.next_delay(self._jittered())

    def _jittered(self) -> float:
        return self._interval * (1 + JITTER * (2 * self._random() - 1))
