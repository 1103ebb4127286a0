"""The catalog cache: freshness, single-flight fetches, stale serving, stats.

Rules (architecture section 7):

- A copy is *fresh* for ``ttl`` seconds after it was fetched or renewed by a
  304.  Fresh copies live in a :class:`cachetools.TLRUCache` timed by the
  injected clock; each entry carries its own lifetime, so a copy loaded from
  disk is fresh only for what is left of its ``ttl``.  The warm read path
  compares the clock with the same deadline instead of calling the cache's
  lookup (which costs several dict reads); both use ``now < expires``.
- Concurrent readers of an empty or too-old cache share one fetch task; a
  reader that is cancelled never cancels it (:func:`asyncio.shield`), and a
  failed fetch is never cached.
- Past ``ttl`` reads get the stale copy at once and start one background
  refresh, no more often than the failure backoff allows.  A stale copy is
  served for up to ``max_stale`` seconds past its expiry; after that readers
  wait for a fetch and get its error.
- A fetched catalog that looks broken (empty, or under half the models of the
  current one) is refused: the old copy and its validators stay while the old
  copy is within ``max_stale``; past that, a smaller (not empty) list is taken
  as real.
- With no usable copy, a read during the backoff after a failed fetch gets
  that failure again at once instead of sending another request.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Literal

import attrs
import cachetools

from ._converter import parse_catalog
from ._diff import CatalogChange, diff_catalogs
from ._errors import APIStatusError, DecodeError, NanoGPTError, SessionClosedError
from ._models import Catalog, ImageModel
from ._store import Store, StoredResponse
from ._transport import FetchResult, Validators

if TYPE_CHECKING:
    from ._clock import Clock

__all__ = ["CacheStats", "CatalogCache", "Source"]

log = logging.getLogger("nanogpt_images")

Source = Literal["network", "not_modified", "disk", "stale"]
Fetch = Callable[[Validators | None], Awaitable[FetchResult]]

#: The first backoff after a failure; it doubles up to the cap.
BACKOFF_START = 1.0

#: The longest ``Retry-After`` the backoff honours: NanoGPT's daily limits reset within a day.
MAX_RETRY_AFTER = 86400.0


@attrs.frozen
class CacheStats:
    """A snapshot of what the cache has done.

    ``source`` says where the current copy came from: ``"network"`` (a 200),
    ``"not_modified"`` (renewed by a 304), ``"disk"`` (loaded from
    ``cache_path``, not yet refreshed) or ``"stale"`` (past its TTL, refresh
    pending or failed); ``None`` before the first copy.  ``age`` is seconds
    since the copy was fetched or renewed.
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


class WarmCopy:
    """What the warm read path needs, kept current by the cache, read by the session.

    ``ImageModelsSession.get_model`` reads these fields directly: at a few
    hundred nanoseconds per warm read, a method call would be a third of it.
    The copy is fresh while the clock reads less than ``fresh_until``.
    """

    __slots__ = ("catalog", "fresh_until", "hits", "models")

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        self.models: Mapping[str, ImageModel] = {}
        self.fresh_until = -math.inf
        self.hits = 0


@attrs.frozen
class _Entry:
    catalog: Catalog
    validators: Validators
    source: Source
    fetched_at: float  # wall clock, for the store and for age
    renewed_at: float  # monotonic
    expires_at: float  # monotonic
    body: bytes | None = attrs.field(default=None, repr=False)


class CatalogCache:
    """The catalog in memory, kept fresh by ``fetch``; see the module docstring."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Clock,
        ttl: float,
        max_stale: float,
        backoff_cap: float,
        detailed: bool = True,
        store: Store | None = None,
        on_change: Callable[[CatalogChange], None] | None = None,
        redact: Callable[[str], str] = str,
        url: str | None = None,
    ) -> None:
        self._fetch_response = fetch
        self._url = url  # where the catalog comes from: a stored copy must come from there too
        self._clock = clock
        self._monotonic = clock.monotonic
        self._ttl = ttl
        self._max_stale = max_stale
        self._backoff_cap = backoff_cap
        self._detailed = detailed
        self._store = store
        self._on_change = on_change
        self._redact = redact
        self._fresh: cachetools.TLRUCache[bool, _Entry] = cachetools.TLRUCache(
            maxsize=2, ttu=_entry_deadline, timer=clock.monotonic
        )
        self._good: _Entry | None = None
        self.warm = WarmCopy()
        self._stale_until = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_foreign_loop = False
        self._inflight: asyncio.Task[Catalog] | None = None
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
        self._saving: asyncio.Future[None] | None = None

    # -- reading --------------------------------------------------------------

    def peek(self) -> Catalog | None:
        """The catalog from a usable copy, else ``None``; never waits.

        Fresh until ``ttl``; past it, within ``max_stale``, the stale copy is
        returned and one background refresh is started.
        """
        warm = self.warm
        now = self._monotonic()
        if now < warm.fresh_until:
            warm.hits += 1
            return warm.catalog
        if now <= self._stale_until:
            warm.hits += 1
            self.refresh_soon()
            return warm.catalog
        return None

    async def get(self) -> Catalog:
        """The catalog; waits only when no copy is usable (none, or past ``max_stale``).

        With no usable copy, a fetch that failed less than a backoff ago is not
        repeated: its error is raised again at once.
        """
        catalog = self.peek()
        if catalog is not None:
            return catalog
        if self._closed:
            raise SessionClosedError("the session is closed; open a new ImageModelsSession")
        self._misses += 1
        failure = self._last_failure
        if failure is not None and self._inflight is None and self._monotonic() < self._retry_at:
            # A copy for each caller: one object raised in many tasks would share (and
            # keep rewriting) its traceback and context.
            raise copy.copy(failure) from failure.__cause__
        return await self.refresh()

    async def refresh(self) -> Catalog:
        """Fetch now, joining a fetch already in flight; return the resulting catalog."""
        if self._closed:
            raise SessionClosedError("the session is closed; open a new ImageModelsSession")
        task = self._start_fetch()
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._cancelled_by_close(task):
                raise SessionClosedError(
                    "the session was closed while this read was waiting for the catalog"
                ) from None
            raise

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
            self._start_fetch().add_done_callback(_log_background_failure)

    def next_delay(self, interval: float) -> float:
        """How long the refresher should wait: ``interval``, or the backoff after failures."""
        if self._failures == 0:
            return interval
        return max(self._retry_at - self._monotonic(), 0.0)

    @property
    def has_copy(self) -> bool:
        """Whether any copy (fresh or stale) is held."""
        return self._good is not None

    def stats(self) -> CacheStats:
        """A snapshot of the counters and the state of the current copy."""
        good = self._good
        source: Source | None = None
        age = None
        if good is not None:
            age = max(self._monotonic() - good.renewed_at, 0.0)
            source = good.source if self._detailed in self._fresh else "stale"
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

    async def load(self) -> bool:
        """Bind to the running loop and load the stored copy, if any; ``True`` when loaded."""
        self._loop = asyncio.get_running_loop()
        if self._store is None:
            return False
        try:
            stored = await self._store.load()
        except Exception as exc:  # a store that cannot answer is a cold start, not a crash
            log.warning("could not load the catalog from %r: %s", self._store, exc)
            return False
        if stored is None or self._closed:  # closed while the store was read
            return False
        if not isinstance(stored, StoredResponse):  # a Store of someone else's making
            log.warning(  # type: ignore[unreachable]
                "ignoring what %r loaded: a %s, not a StoredResponse",
                self._store,
                type(stored).__name__,
            )
            return False
        if stored.detailed != self._detailed:
            log.warning(
                "ignoring the stored catalog: it was fetched with detailed=%s", stored.detailed
            )
            return False
        if stored.url is not None and self._url is not None and stored.url != self._url:
            log.warning(
                "ignoring the stored catalog: it was fetched from %s, not %s", stored.url, self._url
            )
            return False
        try:
            catalog = parse_catalog(stored.body)
        except DecodeError as exc:
            log.warning("ignoring the stored catalog: %s", exc)
            return False
        age = max(self._clock.time() - stored.fetched_at, 0.0)
        self._install(
            catalog,
            Validators(etag=stored.etag, last_modified=stored.last_modified),
            source="disk",
            body=stored.body,
            fetched_at=stored.fetched_at,
            age=age,
        )
        return True

    async def close(self) -> None:
        """Stop the fetch in flight, if any; later reads raise :class:`SessionClosedError`."""
        self._closed = True
        self.warm.fresh_until = self._stale_until = -math.inf
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, NanoGPTError):
                await task
        if self._saving is not None and not self._saving.done():
            await asyncio.wait([self._saving])  # a file write is not cut off half-way

    # -- fetching -------------------------------------------------------------

    def _start_fetch(self) -> asyncio.Task[Catalog]:
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(self._fetch())
            task.add_done_callback(self._fetch_done)
            self._inflight = task
        return self._inflight

    def _cancelled_by_close(self, task: asyncio.Task[Catalog]) -> bool:
        """Whether close() cancelled the shared fetch (rather than our caller being cancelled)."""
        current = asyncio.current_task()
        caller_cancelled = current is not None and current.cancelling() > 0
        return self._closed and task.cancelled() and not caller_cancelled

    def _fetch_done(self, task: asyncio.Task[Catalog]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so nobody's absence makes asyncio log it

    async def _fetch(self) -> Catalog:
        self._fetches += 1
        good = self._good
        try:
            response = await self._fetch_response(good.validators if good else None)
            if response.not_modified:
                if good is None:
                    raise DecodeError(
                        "the server answered 304 Not Modified to a request without "
                        "validators: there is no cached copy to renew"
                    )
                self._not_modified += 1
                catalog = good.catalog
                self._install(catalog, response.validators, source="not_modified", body=good.body)
            else:
                catalog = self._parse(response.body or b"")
                if good is not None and self._refuses(good, catalog):
                    return good.catalog
                self._install(catalog, response.validators, source="network", body=response.body)
        except NanoGPTError as exc:
            self._fail(exc)
            raise
        self._failures = 0
        self._retry_at = -math.inf
        self._last_failure = None
        if good is not None and self._on_change is not None and catalog is not good.catalog:
            change = diff_catalogs(good.catalog, catalog)
            if change:
                self._on_change(change)
        if self._store is not None:
            # Shielded and kept, so close() can wait for a write a cancelled fetch started.
            self._saving = asyncio.ensure_future(self._save())
            await asyncio.shield(self._saving)
        return catalog

    def _parse(self, body: bytes) -> Catalog:
        """parse_catalog, with the API key blanked out of what a bad body's error quotes.

        The key is blanked out of the body before the error is made, not after:
        an excerpt may cut the key short, and the error's chain holds the body.
        """
        try:
            return parse_catalog(body)
        except DecodeError as exc:
            error = exc
        text = body.decode("utf-8", errors="replace")
        redacted = self._redact(text)
        if redacted != text:  # the body quotes the key: make the error again without it
            try:
                parse_catalog(redacted)
            except DecodeError as exc:
                error = exc
            else:  # only the key made it unreadable: say so, quoting nothing
                error = DecodeError("the response was not a readable catalog")
        raise error

    def _install(
        self,
        catalog: Catalog,
        validators: Validators,
        *,
        source: Source,
        body: bytes | None,
        fetched_at: float | None = None,
        age: float = 0.0,
    ) -> None:
        if self._good is None or catalog is not self._good.catalog:
            self._prepare(catalog)
        with self._fresh.timer as now:
            renewed_at = now - age  # a copy from disk is as old as its fetch, not its load
            entry = _Entry(
                catalog=catalog,
                validators=validators,
                source=source,
                fetched_at=self._clock.time() if fetched_at is None else fetched_at,
                renewed_at=renewed_at,
                expires_at=renewed_at + self._ttl,
                body=body if self._store is not None else None,
            )
            self._fresh[self._detailed] = entry
        self._good = entry
        warm = self.warm
        warm.catalog = catalog
        warm.models = catalog._index  # the dict itself: a read-only proxy costs a third more
        warm.fresh_until = entry.expires_at
        self._stale_until = entry.expires_at + self._max_stale

    @staticmethod
    def _prepare(catalog: Catalog) -> None:
        """Build the query tables here, once, rather than in the first find() of a request."""
        try:
            catalog.prepare()
        except Exception:  # a bug, never the data: queries then build them, and say so
            log.exception("could not prepare the catalog's query tables")

    async def _save(self) -> None:
        good = self._good
        if self._store is None or good is None or good.body is None:
            return
        stored = StoredResponse(
            body=good.body,
            detailed=self._detailed,
            fetched_at=good.fetched_at,
            etag=good.validators.etag,
            last_modified=good.validators.last_modified,
            url=self._url,
        )
        try:
            await self._store.save(stored)
        except Exception as exc:  # any store (a file, Redis...): a failed save never fails a read
            log.warning("could not save the catalog to %r: %s", self._store, exc)

    def _refuses(self, good: _Entry, fetched: Catalog) -> bool:
        """Whether to keep the ``good`` copy rather than a ``fetched`` catalog that looks broken.

        Once the good copy is past ``max_stale`` it could not be served any
        more anyway: a smaller list the server still sends then is taken as
        real.  An empty list never is; with nothing else left to serve, it is
        an error (:class:`DecodeError`) for the caller.
        """
        kept = good.catalog
        if not _looks_broken(kept, fetched):
            return False
        if self._monotonic() > good.expires_at + self._max_stale:
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
        self._back_off(exc.retry_after if isinstance(exc, APIStatusError) else None)

    def _back_off(self, retry_after: float | None) -> None:
        self._failures += 1
        delay = min(BACKOFF_START * 2 ** (self._failures - 1), self._backoff_cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        self._retry_at = self._monotonic() + delay


def _log_background_failure(task: asyncio.Task[Catalog]) -> None:
    """A refresh started by a stale read has nobody to raise to: log its failure."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("background refresh of the image catalog failed: %s", exc)


def _entry_deadline(_key: bool, entry: _Entry, _now: float) -> float:
    return entry.expires_at


def _looks_broken(current: Catalog, fetched: Catalog) -> bool:
    """An empty list, or under half the models, replacing a good catalog is refused."""
    return len(current) > 0 and (len(fetched) == 0 or len(fetched) * 2 < len(current))
