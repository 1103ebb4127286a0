"""Endpoint details per model id: freshness, single-flight, stale serving and pacing.

The cache gets details from an injected ``fetch(model_id, path) ->
ModelEndpoints`` and knows nothing of HTTP.  The rules follow the catalog
cache (``_cache``), one entry per model id:

- Details are *fresh* for ``ttl`` seconds in a bounded
  :class:`cachetools.TTLCache` timed by the injected clock.  The warm path
  reads ``warm``, a plain dict that only the TTL cache's own events change
  (an install adds to it; an expiry, an eviction or a drop removes from it);
  a timer on the clock runs ``expire()`` at the next deadline.
- Readers of one cold id share one fetch; a cancelled reader never cancels
  it; a failure is never cached as an answer.
- Past ``ttl`` a read gets the last good details at once and starts one
  background fetch; they are served for up to ``max_stale`` seconds past
  their expiry (stale-if-error).  After a failure the next fetch of that id
  waits 1 s, doubling up to ``max_backoff``; with nothing to serve, a read in
  that time gets the failure again without a request.
- At most ``max_in_flight`` requests run at once, and they start at most
  ``rate`` a second (after a burst of ``max_in_flight``), so asking for 200
  cold ids never goes past NanoGPT's 25 requests a second.  A fetch that
  retries books a start for each retry with the same pacer (``pacer.wait``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import attrs
import cachetools

from ._cache import BACKOFF_START, backoff_delay
from ._endpoints import ModelEndpoints
from ._errors import APIStatusError, NanoGPTError, SessionClosedError

if TYPE_CHECKING:
    from ._clock import Clock

__all__ = ["EndpointCache", "Pacer"]

log = logging.getLogger("nanogpt_images")

FetchDetails = Callable[[str, str], Awaitable[ModelEndpoints]]

#: Requests in flight at once, and their pace: NanoGPT allows 25 requests a second in all.
MAX_IN_FLIGHT = 4
RATE = 20.0


@attrs.frozen
class _Kept:
    details: ModelEndpoints
    stale_until: float  # monotonic: past this the details are not served


@attrs.frozen
class _Failed:
    error: NanoGPTError
    failures: int
    retry_at: float  # monotonic


class _FreshDetails(cachetools.TTLCache[str, ModelEndpoints]):
    """The TTL cache that decides freshness, mirrored into ``warm`` on its own events."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float], warm: dict[str, ModelEndpoints]
    ) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self.warm = warm

    def __setitem__(self, key: str, value: ModelEndpoints) -> None:
        super().__setitem__(key, value)
        self.warm[key] = value

    def __delitem__(self, key: str) -> None:
        self.warm.pop(key, None)
        with contextlib.suppress(KeyError):  # TTLCache raises for an expired key
            super().__delitem__(key)

    def popitem(self) -> tuple[str, ModelEndpoints]:  # eviction when full
        key, value = super().popitem()
        self.warm.pop(key, None)
        return key, value

    def expire(self, time: float | None = None) -> list[tuple[str, ModelEndpoints]]:
        expired = list(super().expire(time))
        for key, _ in expired:
            self.warm.pop(key, None)
        return expired


class EndpointCache:
    """Endpoint details per model id, kept fresh by ``fetch``; see the module docstring."""

    def __init__(
        self,
        fetch: FetchDetails,
        *,
        clock: Clock,
        ttl: float,
        max_stale: float,
        max_backoff: float,
        maxsize: int = 1024,
        max_in_flight: int = MAX_IN_FLIGHT,
        rate: float = RATE,
    ) -> None:
        self._fetch_details = fetch
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._max_backoff = max_backoff
        self.warm: dict[str, ModelEndpoints] = {}
        self._fresh = _FreshDetails(maxsize, ttl, clock.monotonic, self.warm)
        self._kept: cachetools.LRUCache[str, _Kept] = cachetools.LRUCache(maxsize)
        self._failed: cachetools.LRUCache[str, _Failed] = cachetools.LRUCache(maxsize)
        self._deadlines: dict[str, float] = {}  # fresh ids by deadline, earliest first
        self._inflight: dict[str, asyncio.Task[ModelEndpoints]] = {}
        self._outdated: set[str] = set()  # in flight when dropped: not installed
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None  # made in the loop, on first use
        self._pacer = Pacer(clock, rate=rate, burst=max_in_flight)
        self._expiry: asyncio.Task[None] | None = None
        self._closed = False
        self.hits = 0
        self.misses = 0
        self.fetches = 0
        self.errors = 0

    # -- reading --------------------------------------------------------------

    async def get(self, model_id: str, path: str) -> ModelEndpoints:
        """The details of ``model_id``, fetched from ``path`` when none are usable."""
        details = self.warm.get(model_id)
        if details is not None:
            self.hits += 1
            return details
        self._check_open()
        self._fresh.expire()
        now = self._clock.monotonic()
        kept = self._kept.get(model_id)
        if kept is not None and now <= kept.stale_until:
            self.hits += 1
            self._refresh_soon(model_id, path, now)
            return kept.details
        self.misses += 1
        failed = self._failed.get(model_id)
        if failed is not None and model_id not in self._inflight and now < failed.retry_at:
            raise copy.copy(failed.error) from failed.error.__cause__
        task = self._start(model_id, path)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and task.cancelled() and (current is None or not current.cancelling()):
                raise SessionClosedError(
                    "the session was closed while this read waited for endpoint details"
                ) from None
            raise

    def ids(self) -> list[str]:
        """The ids with details held (fresh or stale) or being fetched.

        A refresh of the catalog drops the ones it changed or removed; an id
        whose first fetch is in flight is among them, so that what it brings
        (the details of a model as it was) is not installed.
        """
        return list(dict.fromkeys([*self._kept, *self._inflight]))

    def drop(self, model_ids: Iterable[str]) -> None:
        """Forget the details of these ids; a fetch of one in flight is not installed."""
        for model_id in model_ids:
            if model_id in self._fresh or model_id in self.warm:
                del self._fresh[model_id]
            self._kept.pop(model_id, None)
            self._failed.pop(model_id, None)
            self._deadlines.pop(model_id, None)
            if model_id in self._inflight:
                self._outdated.add(model_id)

    @property
    def pacer(self) -> Pacer:
        """The pace of request starts: ``fetch`` books each retry of its own with it too."""
        return self._pacer

    @property
    def size(self) -> int:
        """How many ids have details held (fresh or stale)."""
        return len(self._kept)

    # -- lifecycle ------------------------------------------------------------

    async def close(self) -> None:
        """Cancel fetches in flight and the expiry timer; later reads raise SessionClosedError."""
        self._closed = True
        tasks = [*self._inflight.values(), *([self._expiry] if self._expiry else [])]
        for task in tasks:
            task.cancel()
        self._inflight.clear()
        self._expiry = None
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, NanoGPTError):
                await task
        self._fresh.clear()
        self.warm.clear()
        self._kept.clear()

    def abandon(self) -> None:
        """Cancel without waiting: the owner was dropped unclosed."""
        self._closed = True
        for task in [*self._inflight.values(), self._expiry]:
            if task is not None and not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    task.cancel()

    def busy(self) -> list[asyncio.Task[ModelEndpoints]]:
        """The fetches in flight."""
        return list(self._inflight.values())

    # -- fetching -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("the session is closed; open a new ImageModelsSession")

    def _refresh_soon(self, model_id: str, path: str, now: float) -> None:
        failed = self._failed.get(model_id)
        if model_id not in self._inflight and (failed is None or now >= failed.retry_at):
            self._start(model_id, path)

    def _start(self, model_id: str, path: str) -> asyncio.Task[ModelEndpoints]:
        task = self._inflight.get(model_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._fetch(model_id, path), name=f"nanogpt_images endpoints {model_id!r}"
            )
            task.add_done_callback(lambda done: self._fetch_done(model_id, done))
            self._inflight[model_id] = task
        return task

    def _fetch_done(self, model_id: str, task: asyncio.Task[ModelEndpoints]) -> None:
        if self._inflight.get(model_id) is task:
            del self._inflight[model_id]
        self._outdated.discard(model_id)
        if not task.cancelled():
            task.exception()  # retrieved: a background refresh's failure is logged in _fetch

    async def _fetch(self, model_id: str, path: str) -> ModelEndpoints:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_in_flight)
        async with self._slots:
            await self._pacer.wait()
            self.fetches += 1
            try:
                try:
                    details = await self._fetch_details(model_id, path)
                except NanoGPTError:
                    raise
                except Exception as exc:  # a surprise still goes through the backoff
                    raise NanoGPTError(
                        f"fetching the endpoint details of {model_id!r} failed unexpectedly "
                        f"({type(exc).__name__}); this is a bug worth reporting"
                    ) from exc
            except NanoGPTError as exc:
                self._fail(model_id, exc)
                raise
        self._failed.pop(model_id, None)
        if model_id not in self._outdated:
            self._install(model_id, details)
        return details

    def _install(self, model_id: str, details: ModelEndpoints) -> None:
        now = self._clock.monotonic()
        self._fresh[model_id] = details
        self._kept[model_id] = _Kept(details, now + self._ttl + self._max_stale)
        self._deadlines.pop(model_id, None)
        self._deadlines[model_id] = now + self._ttl
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.get_running_loop().create_task(
                self._expire_on_time(), name="nanogpt_images endpoint expiry"
            )

    async def _expire_on_time(self) -> None:
        """Run the TTL cache's ``expire()`` at each deadline, so the warm path needs no clock."""
        while self._deadlines:
            deadline = next(iter(self._deadlines.values()))
            await self._clock.sleep(max(deadline - self._clock.monotonic(), 0.0))
            now = self._clock.monotonic()
            self._fresh.expire(now)
            while self._deadlines:
                model_id, first = next(iter(self._deadlines.items()))
                if first > now:
                    break
                del self._deadlines[model_id]

    def _fail(self, model_id: str, exc: NanoGPTError) -> None:
        self.errors += 1
        previous = self._failed.get(model_id)
        failures = previous.failures + 1 if previous is not None else 1
        retry_after = exc.retry_after if isinstance(exc, APIStatusError) else None
        delay = backoff_delay(
            failures, start=BACKOFF_START, cap=self._max_backoff, retry_after=retry_after
        )
        self._failed[model_id] = _Failed(exc, failures, self._clock.monotonic() + delay)
        if model_id in self._kept:  # a background refresh: nobody else hears of it
            log.warning("refreshing the endpoint details of %r failed: %s", model_id, exc)


class Pacer:
    """Request starts paced on the injected clock: ``burst`` at once, then ``rate`` a second.

    Each caller books the next free start time at once (the generic cell
    rate algorithm), so waiting needs one sleep and no polling; in any
    window of ``w`` seconds at most ``burst + w * rate`` requests start.
    """

    def __init__(self, clock: Clock, *, rate: float, burst: int) -> None:
        self._clock = clock
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._due = -math.inf  # when the next start would be on schedule

    async def wait(self) -> None:
        """Return when one more request may start."""
        now = self._clock.monotonic()
        due = max(self._due, now)
        self._due = due + self._interval
        delay = due - now - self._tolerance
        if delay > 0:
            await self._clock.sleep(delay)
