"""CatalogCache alone: an injected fetch and a FakeClock, no server and no sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
from conftest import MODEL_IDS, small_catalog

from nanogpt_images import (
    Catalog,
    DecodeError,
    NanoGPTError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    parse_catalog,
)
from nanogpt_images._cache import CatalogCache, Copy, NotModified, backoff_delay
from nanogpt_images._refresher import Refresher

if TYPE_CHECKING:
    from collections.abc import Callable

    from nanogpt_images.testing import FakeClock

TTL = 300.0
MAX_STALE = 3600.0
INTERVAL = 240.0

Answer = Copy | NotModified | BaseException


def make_copy(ids: tuple[str, ...] = MODEL_IDS, *, etag: str | None = '"v1"') -> Copy:
    """A copy of a small catalog with these ids."""
    return Copy(catalog=parse_catalog(small_catalog(ids)), fetched_at=0.0, etag=etag)


class ScriptedFetch:
    """A ``fetch`` that answers from a script (the last answer repeats) and records each call."""

    def __init__(self, *answers: Answer | Callable[[], Any]) -> None:
        self.answers = list(answers)
        self.calls: list[Copy | None] = []
        self.gate: asyncio.Event | None = None  # when set, each call waits for it

    async def __call__(self, previous: Copy | None) -> Copy | NotModified:
        self.calls.append(previous)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Copy | NotModified)
        return answer


def make_cache(fetch: ScriptedFetch, clock: FakeClock, **options: Any) -> CatalogCache:
    """A cache bound to the running loop with the usual test settings."""
    options.setdefault("ttl", TTL)
    options.setdefault("max_stale", MAX_STALE)
    options.setdefault("max_backoff", INTERVAL)
    cache = CatalogCache(fetch, clock=clock, **options)
    cache.bind()
    return cache


@pytest.fixture
async def closing() -> Any:
    """Closes every cache a test registers, so no expiry timer outlives it."""
    caches: list[CatalogCache] = []
    yield caches.append
    for cache in caches:
        await cache.close()


async def test_concurrent_cold_reads_share_one_fetch(clock: FakeClock, closing: Any) -> None:
    """A thousand readers of an empty cache cause one fetch and all get its catalog."""
    fetch = ScriptedFetch(make_copy())
    fetch.gate = asyncio.Event()
    cache = make_cache(fetch, clock)
    closing(cache)
    readers = [asyncio.ensure_future(cache.get()) for _ in range(1000)]
    await asyncio.sleep(0)
    fetch.gate.set()
    catalogs = await asyncio.gather(*readers)
    assert len(fetch.calls) == 1
    assert all(catalog is catalogs[0] for catalog in catalogs)


async def test_a_cancelled_reader_never_cancels_the_shared_fetch(
    clock: FakeClock, closing: Any
) -> None:
    """Cancelling the first reader leaves the fetch running for the second."""
    fetch = ScriptedFetch(make_copy())
    fetch.gate = asyncio.Event()
    cache = make_cache(fetch, clock)
    closing(cache)
    first = asyncio.ensure_future(cache.get())
    second = asyncio.ensure_future(cache.get())
    await asyncio.sleep(0)
    first.cancel()
    fetch.gate.set()
    assert (await second).ids == MODEL_IDS
    assert len(fetch.calls) == 1


async def test_fresh_reads_need_no_clock_and_expiry_clears_the_warm_copy(
    clock: FakeClock, closing: Any
) -> None:
    """The warm copy holds the models while fresh; at the TTL the cache's own timer clears it."""
    cache = make_cache(ScriptedFetch(make_copy()), clock)
    closing(cache)
    catalog = await cache.get()
    assert cache.warm.models["model-0"] is catalog["model-0"]
    await clock.advance(TTL - 1)
    assert "model-0" in cache.warm.models
    await clock.advance(1)
    assert dict(cache.warm.models) == {}
    assert cache.stats().source == "stale"


async def test_a_stale_read_returns_at_once_and_refreshes_once(
    clock: FakeClock, closing: Any
) -> None:
    """Past the TTL reads get the old copy immediately; one refresh replaces it."""
    fetch = ScriptedFetch(make_copy(), make_copy(("a", "b", "c", "d", "e", "f")))
    cache = make_cache(fetch, clock)
    closing(cache)
    old = await cache.get()
    await clock.advance(TTL)
    fetch.gate = asyncio.Event()
    assert [await cache.get() for _ in range(100)] == [old] * 100
    await asyncio.sleep(0)  # the one background fetch starts
    assert len(fetch.calls) == 2
    fetch.gate.set()
    assert cache.busy is not None
    await cache.busy
    assert (await cache.get()).ids == ("a", "b", "c", "d", "e", "f")
    assert cache.stats().source == "network"


async def test_a_304_renews_the_copy_and_keeps_the_validators(
    clock: FakeClock, closing: Any
) -> None:
    """NotModified renews freshness without a new catalog; the previous copy is passed in."""
    first = make_copy()
    fetch = ScriptedFetch(first, NotModified(etag=None))
    cache = make_cache(fetch, clock)
    closing(cache)
    catalog = await cache.get()
    await clock.advance(TTL + 5)
    assert await cache.refresh() is catalog
    assert fetch.calls == [None, first]
    assert cache.current is not None
    assert cache.current.etag == '"v1"'
    stats = cache.stats()
    assert (stats.source, stats.not_modified, stats.age) == ("not_modified", 1, 0.0)


async def test_a_304_with_nothing_cached_is_an_error_with_backoff(
    clock: FakeClock, closing: Any
) -> None:
    """NotModified with no copy to renew is a DecodeError, and reads then wait out the backoff."""
    fetch = ScriptedFetch(NotModified())
    cache = make_cache(fetch, clock)
    closing(cache)
    with pytest.raises(DecodeError, match="no cached copy to renew"):
        await cache.get()
    with pytest.raises(DecodeError):
        await cache.get()
    assert len(fetch.calls) == 1


async def test_any_exception_from_fetch_is_a_nanogpt_error_that_backs_off(
    clock: FakeClock, closing: Any
) -> None:
    """A ValueError from a fetch reaches callers as a NanoGPTError and is not retried at once."""
    fetch = ScriptedFetch(ValueError("Invalid URL 'http://[::1'"), make_copy())
    cache = make_cache(fetch, clock)
    closing(cache)
    with pytest.raises(NanoGPTError, match="ValueError") as caught:
        await cache.get()
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(NanoGPTError):
        await cache.get()  # during the backoff: the same failure, no new fetch
    assert len(fetch.calls) == 1
    await clock.advance(1.0)
    assert (await cache.get()).ids == MODEL_IDS
    assert cache.stats().errors == 1


@pytest.mark.parametrize("failures", [1, 2, 10, 1025, 10_000, 2**40])
def test_backoff_never_overflows_and_stays_within_its_cap(failures: int) -> None:
    """However many failures in a row, the backoff is a finite delay of at most the cap."""
    delay = backoff_delay(failures, start=1.0, cap=INTERVAL)
    assert delay == (2.0 ** (failures - 1) if failures < 9 else INTERVAL)
    assert backoff_delay(failures, start=1.0, cap=INTERVAL, retry_after=3600) == 3600


async def test_a_week_of_outage_keeps_the_backoff_at_its_cap(clock: FakeClock) -> None:
    """A revoked key for seven days: one fetch per interval at most, and reads never crash."""
    fetch = ScriptedFetch(make_copy(), ServerError("HTTP 401", status=401))
    cache = make_cache(fetch, clock, max_stale=float("inf"))
    refresher = Refresher(cache, clock=clock, interval=INTERVAL, random=lambda: 0.5)
    good = await cache.get()
    refresher.start()
    await clock.run_until_idle()  # the refresher is asleep
    week = 7 * 86400.0
    while clock.monotonic() < week:
        deadline = clock.next_deadline
        assert deadline is not None
        await clock.advance(deadline - clock.monotonic())
        assert await cache.get() is good
    await refresher.stop()
    await cache.close()
    expected = week / INTERVAL
    assert expected <= len(fetch.calls) <= expected + 10
    assert cache.next_delay(INTERVAL) <= INTERVAL


async def test_retry_after_sets_the_next_fetch(clock: FakeClock, closing: Any) -> None:
    """A Retry-After longer than the backoff is honoured by the refresher's next delay."""
    fetch = ScriptedFetch(RateLimitError("slow down", status=429, retry_after=120.0))
    cache = make_cache(fetch, clock)
    closing(cache)
    with pytest.raises(RateLimitError):
        await cache.get()
    assert cache.next_delay(INTERVAL) == 120.0


async def test_a_broken_looking_catalog_is_refused(clock: FakeClock, closing: Any) -> None:
    """An empty or under-half catalog does not replace a good copy within max_stale."""
    fetch = ScriptedFetch(make_copy(), make_copy(("only",)))
    cache = make_cache(fetch, clock)
    closing(cache)
    good = await cache.get()
    assert await cache.refresh() is good
    stats = cache.stats()
    assert stats.refused_refreshes == 1
    assert stats.last_error is not None
    assert "refused a catalog of 1 models" in stats.last_error


async def test_give_up_after_bounds_a_cold_read_and_the_fetch_goes_on(
    clock: FakeClock, closing: Any
) -> None:
    """A read with a bound gets RequestTimeoutError on time; a later read gets the catalog."""
    fetch = ScriptedFetch(make_copy())
    fetch.gate = asyncio.Event()
    cache = make_cache(fetch, clock)
    closing(cache)
    reader = asyncio.ensure_future(cache.get(give_up_after=10.0))
    await clock.advance(10.0)
    with pytest.raises(RequestTimeoutError, match=r"no catalog after 10 s \(wait_timeout\)"):
        await reader
    fetch.gate.set()
    assert (await cache.get()).ids == MODEL_IDS
    assert len(fetch.calls) == 1


async def test_a_failure_is_logged_only_when_nobody_receives_it(
    clock: FakeClock, closing: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A caller who gets the exception sees no WARNING too; a background failure logs one."""
    fetch = ScriptedFetch(make_copy(), ServerError("HTTP 503", status=503))
    cache = make_cache(fetch, clock)
    closing(cache)
    await cache.get()
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        with pytest.raises(ServerError):
            await cache.refresh()
        assert caplog.records == []
        await clock.advance(TTL + 1)
        await cache.get()  # stale: starts a background refresh that fails
        assert cache.busy is not None
        await asyncio.wait([cache.busy])
    (record,) = caplog.records
    assert record.getMessage().startswith("refreshing the image catalog failed: HTTP 503")


async def test_install_listener_hears_each_copy_and_its_source(
    clock: FakeClock, closing: Any
) -> None:
    """on_install gets the previous copy, the new one and where it came from."""
    heard: list[tuple[Catalog | None, Catalog, str]] = []
    first, second = make_copy(), make_copy(etag='"v2"')

    def listen(previous: Copy | None, new: Copy, source: str) -> None:
        heard.append((previous.catalog if previous else None, new.catalog, source))

    cache = make_cache(ScriptedFetch(second), clock, on_install=listen)
    closing(cache)
    cache.install(first, source="disk", age=10.0)
    await cache.refresh()
    assert heard == [(None, first.catalog, "disk"), (first.catalog, second.catalog, "network")]


async def test_reads_after_close_say_the_session_is_closed(clock: FakeClock) -> None:
    """A closed cache neither serves nor fetches."""
    fetch = ScriptedFetch(make_copy())
    cache = make_cache(fetch, clock)
    await cache.get()
    await cache.close()
    with pytest.raises(SessionClosedError):
        await cache.get()
    assert cache.peek() is None
    assert len(fetch.calls) == 1


async def test_a_stale_copy_under_a_slow_refresh_is_served_until_max_stale(
    clock: FakeClock, closing: Any
) -> None:
    """The warm path serves the stale copy while its refresh runs, but never past max_stale."""
    fetch = ScriptedFetch(make_copy())
    cache = make_cache(fetch, clock, max_stale=60.0)
    closing(cache)
    catalog = await cache.get()
    fetch.gate = asyncio.Event()  # the refresh hangs
    await clock.advance(TTL)
    assert cache.peek() is catalog  # stale: starts the refresh
    assert cache.warm.catalog is catalog  # ...and is served from the warm path meanwhile
    await clock.advance(59.0)
    assert cache.warm.catalog is catalog
    await clock.advance(1.0)
    assert cache.warm.catalog is None
    await clock.advance(0.5)
    assert cache.peek() is None
    fetch.gate.set()
    await cache.get()
    assert cache.warm.catalog is not None
