"""The catalog cache: freshness, single-flight fetches, stale serving and backoff.

The cache holds one :class:`Copy` of the catalog and gets new ones from an
injected ``fetch(previous) -> Copy | NotModified``.  It knows nothing of HTTP,
parsing, files or subscribers: whoever builds it passes ``fetch`` and, to
hear of each installed copy, ``on_install``.

Rules (architecture section 7):

- A copy is *fresh* for ``ttl`` seconds after it was fetched or renewed by a
  304.  Freshness is decided by a :class:`cachetools.TLRUCache` timed by the
  injected clock (a copy loaded from disk is fresh only for what is left of
  its ``ttl``).  The warm read path reads a mirror of that cache which only
  the cache's own events change: an install sets it, and ``expire()`` (run
  by a timer on the clock at the deadline, or by any slow-path read) clears it.
- Concurrent readers of an empty or too-old cache share one fetch; a reader
  that is cancelled never cancels it, and a failed fetch is never cached.
- Past ``ttl`` reads get the stale copy at once and start one background
  refresh, no more often than the failure backoff allows.  A stale copy is
  served for up to ``max_stale`` seconds past its expiry; after that readers
  wait for a fetch and get its error.
- A fetched catalog that looks broken (empty, or under half the models of the
  current one) is refused while the current copy is within ``max_stale``.
- After a failure the next fetch waits 1 s, doubling up to ``max_backoff``
  (or a longer ``Retry-After``).  With no usable copy, a read during that
  backoff gets the last failure again at once instead of sending a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Literal

import attrs
import cachetools

from ._backoff import exponential
from ._clock import Cancellable, call_at, wait_on
from ._errors import (
    DecodeError,
    NanoGPTError,
    RequestTimeoutError,
    SessionClosedError,
)
from ._models import Catalog, ImageModel

if TYPE_CHECKING:
    from ._clock import Clock

__all__ = [
    "CacheStats",
    "CatalogCache",
    "Copy",
    "NotModified",
    "Role",
    "Shared",
    "Source",
    "backoff_delay",
]

log = logging.getLogger("nanogpt_images")

Source = Literal["network", "not_modified", "disk", "shared", "stale"]
Role = Literal["leader", "follower", "solo"]

#: The first backoff after a failure; it doubles up to the cap.
BACKOFF_START = 1.0

#: The longest ``Retry-After`` the backoff honours: NanoGPT's daily limits reset within a day.
MAX_RETRY_AFTER = 86400.0


@attrs.frozen
class CacheStats:
    """A snapshot of what the cache has done.

    ``source`` says where the current copy came from: ``"network"`` (a 200),
    ``"not_modified"`` (renewed by a 304), ``"disk"`` (loaded from
    ``cache_path``, not yet refreshed), ``"shared"`` (taken from the fleet) or
    ``"stale"`` (past its TTL, refresh pending or failed); ``None`` before the
    first copy.  ``age`` is seconds since the copy was fetched or renewed.

    With a coordinator (fleet mode), ``role`` is ``"leader"`` (holds or last
    held the fetch lease), ``"follower"`` or ``"solo"`` (coordinator
    unreachable), ``shared_installs`` counts copies taken from the fleet and
    ``coordinator_errors`` failed coordinator calls; ``role`` is ``None``
    without a coordinator.
    """

    hits: int = 0
    misses: int = 0
    fetches: int = 0
    not_modified: int = 0
    errors: int = 0
    refused_refreshes: int = 0
    age: float | None = None
    source: Source | None = None
    last_error: str | None = None
    role: Role | None = None
    shared_installs: int = 0
    coordinator_errors: int = 0
    # The endpoint-details cache (ImageModelsSession.endpoints): reads served from it,
    # reads that waited for a fetch, requests sent, failed ones, models held.
    endpoint_hits: int = 0
    endpoint_misses: int = 0
    endpoint_fetches: int = 0
    endpoint_errors: int = 0
    endpoint_size: int = 0


@attrs.frozen
class Copy:
    """One good answer: the catalog, when it was fetched, and what revalidates and stores it."""

    catalog: Catalog
    fetched_at: float  # wall-clock seconds of the fetch (or of the 304 that renewed it)
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class NotModified:
    """A 304: the copy passed to ``fetch`` is still current (with these validators, if sent)."""

    etag: str | None = None
    last_modified: str | None = None


@attrs.frozen
class Shared:
    """A copy a fleet coordinator supplied: install it with ``source``, ``age`` seconds old."""

    copy: Copy
    age: float = 0.0
    source: Source = "shared"


Fetch = Callable[[Copy | None], Awaitable[Copy | NotModified | Shared]]
Listener = Callable[[Copy | None, Copy, Source], None]


def backoff_delay(
    failures: int, *, start: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``start`` doubling up to ``cap``.

    A ``Retry-After`` longer than that is honoured up to a day.  The exponent
    is capped, so a week of failures never overflows a float.
    """
    delay = exponential(start, cap, failures - 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


class WarmCopy:
    """What the warm read path needs: the catalog and its index, or nothing.

    Set while a read needs no action (the copy is fresh, or stale with a
    refresh in flight), cleared otherwise, only by the cache's own events;
    so such a read is a dict read with no clock call.
    ``ImageModelsSession`` reads the fields directly.
    """

    __slots__ = ("catalog", "hits", "models")

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        self.models: Mapping[str, ImageModel] = _NO_MODELS
        self.hits = 0

    def show(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.models = catalog._index  # the dict itself: a read-only proxy costs a third more

    def clear(self) -> None:
        self.catalog = None
        self.models = _NO_MODELS


_NO_MODELS: Mapping[str, ImageModel] = {}


@attrs.frozen
class _Entry:
    copy: Copy
    source: Source
    renewed_at: float  # monotonic
    expires_at: float  # monotonic


class _FreshCache(cachetools.TLRUCache[str, _Entry]):
    """The cachetools cache that decides freshness; calls ``changed`` when that may change."""

    KEY = "catalog"

    def __init__(self, timer: Callable[[], float], changed: Callable[[], None]) -> None:
        super().__init__(maxsize=1, ttu=_entry_deadline, timer=timer)
        self._changed = changed

    def __setitem__(self, key: str, entry: _Entry) -> None:
        super().__setitem__(key, entry)
        self._changed()

    def __delitem__(self, key: str) -> None:
        with contextlib.suppress(KeyError):  # TLRUCache raises for an expired key
            super().__delitem__(key)
        self._changed()

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = list(super().expire(time))
        if expired:
            self._changed()
        return expired


def _entry_deadline(_key: str, entry: _Entry, _now: float) -> float:
    return entry.expires_at


class CatalogCache:
    """The catalog in memory, kept fresh by ``fetch``; see the module docstring."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Clock,
        ttl: float,
        max_stale: float,
        max_backoff: float,
        on_install: Listener | None = None,
    ) -> None:
        self._fetch_copy = fetch
        self._clock = clock
        self._monotonic = clock.monotonic
        self._ttl = ttl
        self._max_stale = max_stale
        self._max_backoff = max_backoff
        self._on_install = on_install
        self.warm = WarmCopy()
        self._entry: _Entry | None = None
        self._fresh = _FreshCache(clock.monotonic, self._sync_warm)
        self._stale_until = -math.inf  # monotonic: past this the copy is not served
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_foreign_loop = False
        self._inflight: asyncio.Task[Catalog] | None = None
        self._waiters: dict[asyncio.Task[Catalog], int] = {}  # callers told of a fetch's failure
        self._expiry: Cancellable | None = None
        self._failures = 0
        self._retry_at = -math.inf
        self._closed = False
        self._misses = 0
        self._fetches = 0
        self._not_modified = 0
        self._errors = 0
        self._refused = 0
        self._last_error: str | None = None
        self._last_failure: NanoGPTError | None = None

    # -- reading --------------------------------------------------------------

    def peek(self) -> Catalog | None:
        """The catalog from a usable copy, else ``None``; never waits.

        Past ``ttl``, within ``max_stale``, the stale copy is returned and one
        background refresh is started.
        """
        warm = self.warm
        catalog = warm.catalog
        if catalog is not None:
            warm.hits += 1
            return catalog
        entry = self._entry
        if entry is None:
            return None
        now = self._monotonic()
        if now <= self._stale_until:
            warm.hits += 1
            if self._inflight is None and now >= entry.expires_at:
                self.refresh_soon()
            return entry.copy.catalog
        return None

    async def get(self, *, give_up_after: float | None = None) -> Catalog:
        """The catalog; waits only when no copy is usable (none, or past ``max_stale``).

        With no usable copy, a fetch that failed less than a backoff ago is not
        repeated: its error is raised again at once.  ``give_up_after`` bounds the
        wait (on the injected clock); the fetch goes on for later reads.
        """
        catalog = self.peek()
        if catalog is not None:
            return catalog
        self._check_open()
        self._misses += 1
        failure = self._last_failure
        if failure is not None and self._inflight is None and self._monotonic() < self._retry_at:
            # A copy for each caller: one object raised in many tasks would share (and
            # keep rewriting) its traceback and context.
            raise copy.copy(failure) from failure.__cause__
        return await self._join(self._start_fetch(), give_up_after=give_up_after)

    async def refresh(self) -> Catalog:
        """Fetch now, joining a fetch already in flight; return the resulting catalog."""
        self._check_open()
        return await self._join(self._start_fetch())

    async def refresh_in_background(self) -> None:
        """Fetch now, for a background task: a failure is logged here, once, not raised."""
        if self._closed:
            return
        with contextlib.suppress(NanoGPTError):
            await asyncio.shield(self._start_fetch())

    def refresh_soon(self) -> None:
        """Start a background fetch unless one is running or the backoff says wait."""
        if self._inflight is None and not self._closed and self._monotonic() >= self._retry_at:
            if asyncio.get_running_loop() is not self._loop:
                if not self._warned_foreign_loop:
                    self._warned_foreign_loop = True
                    log.warning(
                        "a stale catalog was read from an event loop the session was not "
                        "started in, so it cannot refresh it there; use one session per loop"
                    )
                return
            self._start_fetch()

    def next_delay(self, interval: float) -> float:
        """How long a refresher should wait: ``interval``, or the backoff after failures."""
        if self._failures == 0:
            return interval
        return max(self._retry_at - self._monotonic(), 0.0)

    @property
    def current(self) -> Copy | None:
        """The copy held (fresh or stale), if any."""
        return self._entry.copy if self._entry is not None else None

    @property
    def busy(self) -> asyncio.Task[Catalog] | None:
        """The fetch in flight, if any."""
        return self._inflight

    def stats(self) -> CacheStats:
        """A snapshot of the counters and the state of the current copy."""
        entry = self._entry
        source: Source | None = None
        age = None
        if entry is not None:
            age = max(self._monotonic() - entry.renewed_at, 0.0)
            source = entry.source if _FreshCache.KEY in self._fresh else "stale"
        return CacheStats(
            hits=self.warm.hits,
            misses=self._misses,
            fetches=self._fetches,
            not_modified=self._not_modified,
            errors=self._errors,
            refused_refreshes=self._refused,
            age=age,
            source=source,
            last_error=self._last_error,
        )

    # -- lifecycle ------------------------------------------------------------

    def bind(self) -> None:
        """Bind to the running loop: background refreshes start there."""
        self._loop = asyncio.get_running_loop()

    def install(self, new: Copy, *, source: Source, age: float = 0.0) -> None:
        """Make ``new`` the current copy, fresh for ``ttl`` minus ``age`` seconds."""
        previous = self.current
        with self._fresh.timer as now:
            renewed_at = now - age  # a copy from disk is as old as its fetch, not its load
            entry = _Entry(
                copy=new, source=source, renewed_at=renewed_at, expires_at=renewed_at + self._ttl
            )
            self._entry = entry
            self._stale_until = entry.expires_at + self._max_stale
            self._fresh[_FreshCache.KEY] = entry
        self._schedule_expiry(entry.expires_at)
        if self._on_install is not None:
            try:
                self._on_install(previous, new, source)
            except Exception:  # a listener's bug never undoes an install
                log.exception("a catalog install listener raised")

    async def close(self) -> None:
        """Stop the fetch in flight, if any; later reads raise :class:`SessionClosedError`."""
        self._closed = True
        with contextlib.suppress(KeyError):
            del self._fresh[_FreshCache.KEY]
        self._entry = None
        self._stale_until = -math.inf
        self._cancel_timers()
        task, self._inflight = self._inflight, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, NanoGPTError):
                await task

    def abandon(self) -> None:
        """Cancel the cache's tasks without waiting: its owner was dropped unclosed."""
        self._closed = True
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        """Cancel the expiry timer and the fetch in flight, even from a closed loop."""
        for scheduled in (self._expiry, self._inflight):
            if scheduled is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    scheduled.cancel()
        self._expiry = None

    # -- fetching -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError("the session is closed; open a new ImageModelsSession")

    async def _join(
        self, task: asyncio.Task[Catalog], *, give_up_after: float | None = None
    ) -> Catalog:
        """Wait for the shared fetch without ever cancelling it; a failure is ours to raise."""
        self._waiters[task] = self._waiters.get(task, 0) + 1
        try:
            if give_up_after is None:
                return await asyncio.shield(task)
            return await _wait_on_clock(self._clock, task, give_up_after)
        except asyncio.CancelledError:
            if self._cancelled_by_close(task):
                raise SessionClosedError(
                    "the session was closed while this read was waiting for the catalog"
                ) from None
            raise
        finally:
            count = self._waiters.get(task)
            if count is not None:  # else the fetch is over and its failure was told already
                if count <= 1 and task.done():
                    del self._waiters[task]
                else:
                    self._waiters[task] = count - 1

    def _start_fetch(self) -> asyncio.Task[Catalog]:
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(
                self._fetch(), name="nanogpt_images catalog fetch"
            )
            task.add_done_callback(self._fetch_done)
            self._inflight = task
            if self.warm.catalog is None:
                self._sync_warm()  # a stale copy under refresh is served from the warm path
        return self._inflight

    def _cancelled_by_close(self, task: asyncio.Task[Catalog]) -> bool:
        """Whether close() cancelled the shared fetch (rather than our caller being cancelled)."""
        current = asyncio.current_task()
        caller_cancelled = current is not None and current.cancelling() > 0
        return self._closed and task.cancelled() and not caller_cancelled

    def _fetch_done(self, task: asyncio.Task[Catalog]) -> None:
        if self._inflight is task:
            self._inflight = None
            self._sync_warm()  # failed or refused: stale reads go back to asking for a refresh
        waiters = self._waiters.pop(task, 0)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so nobody's absence makes asyncio log it
        if exc is not None and waiters == 0:
            # Nobody is waiting to be told: this is the one line that reports it.
            log.warning("refreshing the image catalog failed: %s", exc)

    async def _fetch(self) -> Catalog:
        self._fetches += 1
        entry = self._entry
        previous = entry.copy if entry is not None else None
        try:
            try:
                fetched = await self._fetch_copy(previous)
            except NanoGPTError:
                raise
            except Exception as exc:  # any fetch's surprise still goes through the backoff
                raise NanoGPTError(
                    f"fetching the catalog failed unexpectedly ({type(exc).__name__}); "
                    "this is a bug worth reporting"
                ) from exc
            if isinstance(fetched, NotModified):
                if previous is None:
                    raise DecodeError(
                        "the server answered 304 Not Modified, but there is no cached copy to renew"
                    )
                self._not_modified += 1
                renewed = attrs.evolve(
                    previous,
                    fetched_at=self._clock.time(),
                    etag=fetched.etag or previous.etag,
                    last_modified=fetched.last_modified or previous.last_modified,
                )
                self.install(renewed, source="not_modified")
                catalog = renewed.catalog
            elif isinstance(fetched, Shared):
                new = fetched.copy
                replaces = entry is not None and new.catalog is not entry.copy.catalog
                if replaces and entry is not None and self._refuses(entry, new.catalog):
                    return entry.copy.catalog
                self.install(new, source=fetched.source, age=fetched.age)
                catalog = new.catalog
            elif entry is not None and self._refuses(entry, fetched.catalog):
                return entry.copy.catalog
            else:
                self.install(fetched, source="network")
                catalog = fetched.catalog
        except NanoGPTError as exc:
            self._fail(exc)
            raise
        self._failures = 0
        self._retry_at = -math.inf
        self._last_failure = None
        return catalog

    def _sync_warm(self) -> None:
        """Show the copy on the warm path exactly while a read of it needs no action.

        That is while it is fresh, or stale (within ``max_stale``) with a
        refresh already in flight.  Called on the cache's own events only:
        an install, an expiry, a fetch starting or ending.
        """
        entry = self._entry
        if entry is None:
            self.warm.clear()
        elif _FreshCache.KEY in self._fresh:
            self.warm.show(entry.copy.catalog)
        elif self._inflight is not None and self._monotonic() < self._stale_until:
            self.warm.show(entry.copy.catalog)
            self._schedule_expiry(self._stale_until)  # ...until max_stale says no
        else:
            self.warm.clear()

    def _schedule_expiry(self, deadline: float) -> None:
        """Expire on the clock at ``deadline``, so the warm path needs no clock read."""
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = call_at(self._clock, deadline, functools.partial(_expire, weakref.ref(self)))

    def _deadline_passed(self) -> None:
        self._fresh.expire()
        self._sync_warm()

    def _refuses(self, entry: _Entry, fetched: Catalog) -> bool:
        """Whether to keep the current copy rather than a ``fetched`` catalog that looks broken.

        Once the current copy is past ``max_stale`` it could not be served any
        more anyway: a smaller list the server still sends then is taken as
        real.  An empty list never is; with nothing else left to serve, it is
        an error (:class:`DecodeError`) for the caller.
        """
        kept = entry.copy.catalog
        if not _looks_broken(kept, fetched):
            return False
        if self._monotonic() > entry.expires_at + self._max_stale:
            if len(fetched) == 0:
                raise DecodeError(
                    f"the server sent an empty catalog, and the last good copy "
                    f"({len(kept)} models) is past max_stale: there is no catalog to serve"
                )
            log.warning(
                "accepting a catalog of %d models (was %d): the good copy is past max_stale",
                len(fetched),
                len(kept),
            )
            return False
        self._refused += 1
        reason = (
            f"refused a catalog of {len(fetched)} models that would replace {len(kept)}; "
            "keeping the current copy and trying again later"
        )
        log.warning("%s", reason)
        self._last_error = reason
        self._back_off(None)
        return True

    def _fail(self, exc: NanoGPTError) -> None:
        self._errors += 1
        self._last_failure = exc
        self._last_error = f"{type(exc).__name__}: {exc}"
        # Any error may say how long to wait (a fleet's shared backoff does), not only an API's.
        self._back_off(getattr(exc, "retry_after", None))

    def _back_off(self, retry_after: float | None) -> None:
        self._failures += 1
        delay = backoff_delay(
            self._failures, start=BACKOFF_START, cap=self._max_backoff, retry_after=retry_after
        )
        self._retry_at = self._monotonic() + delay


def _expire(cache_ref: weakref.ref[CatalogCache]) -> None:
    """The expiry timer: holds no strong reference to the cache while it waits."""
    cache = cache_ref()
    if cache is not None:
        cache._deadline_passed()


async def _wait_on_clock(clock: Clock, task: asyncio.Task[Catalog], seconds: float) -> Catalog:
    """``task``'s result, or :class:`RequestTimeoutError` after ``seconds`` of ``clock``."""
    if await wait_on(clock, task, seconds):
        return task.result()
    raise RequestTimeoutError(
        f"no catalog after {seconds:g} s (wait_timeout) and none cached; NanoGPT has not "
        "answered yet, the fetch goes on, and later reads use it when it arrives"
    )


def _looks_broken(current: Catalog, fetched: Catalog) -> bool:
    """An empty list, or under half the models, replacing a good catalog is refused."""
    return len(current) > 0 and (len(fetched) == 0 or len(fetched) * 2 < len(current))
