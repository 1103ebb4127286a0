"""EndpointCache alone: an injected fetch and a FakeClock, no server and no sockets."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nanogpt_images import (
    ModelEndpoints,
    ModelNotFoundError,
    NanoGPTError,
    ServerError,
    SessionClosedError,
)
from nanogpt_images._endpoint_cache import EndpointCache
from nanogpt_images.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TTL = 300.0
MAX_STALE = 3600.0


def details(model_id: str, version: int = 1) -> ModelEndpoints:
    """Endpoint details whose extras say which fetch made them."""
    return ModelEndpoints(id=model_id, endpoints=(), extras={"version": version})


class Fetch:
    """A fetch that counts calls per id, can be gated, and can be told to fail."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str]] = []
        self.starts: list[float] = []
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, model_id: str, path: str) -> ModelEndpoints:
        self.calls.append((model_id, path))
        self.starts.append(self.clock.monotonic())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            for _ in range(3):
                await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
            return details(model_id, len(self.calls))
        finally:
            self.in_flight -= 1


@pytest.fixture
async def fetch(clock: FakeClock) -> Fetch:
    return Fetch(clock)


@pytest.fixture
async def cache(fetch: Fetch, clock: FakeClock) -> AsyncIterator[EndpointCache]:
    made = EndpointCache(fetch, clock=clock, ttl=TTL, max_stale=MAX_STALE, max_backoff=240.0)
    yield made
    await made.close()


async def test_a_thousand_readers_of_one_cold_id_share_one_request(
    cache: EndpointCache, fetch: Fetch
) -> None:
    """1,000 concurrent reads of one id before any answer send exactly one request."""
    fetch.gate = asyncio.Event()
    readers = [asyncio.create_task(cache.get("gpt-image-2", "/p")) for _ in range(1000)]
    await asyncio.sleep(0)
    fetch.gate.set()
    results = await asyncio.gather(*readers)
    assert len(fetch.calls) == 1
    assert all(result is results[0] for result in results)
    assert cache.misses == 1000


async def test_two_hundred_cold_ids_stay_under_the_rate_limit() -> None:
    """200 distinct cold ids: a few in flight at once, never more than 25 starts a second."""
    clock = FakeClock(auto_advance=True)
    fetch = Fetch(clock)
    cache = EndpointCache(fetch, clock=clock, ttl=TTL, max_stale=MAX_STALE, max_backoff=240.0)
    try:
        ids = [f"model-{i}" for i in range(200)]
        got = await asyncio.gather(*(cache.get(model_id, "/p") for model_id in ids))
    finally:
        await cache.close()
        await clock.aclose()
    assert [item.id for item in got] == ids
    assert len(fetch.calls) == 200
    assert fetch.most_in_flight <= 4
    starts = sorted(fetch.starts)
    for index, start in enumerate(starts):
        in_a_second = [other for other in starts[index:] if other < start + 1.0]
        assert len(in_a_second) <= 25


async def test_fresh_details_are_served_without_a_request(
    cache: EndpointCache, fetch: Fetch, clock: FakeClock
) -> None:
    """Within the TTL a read is a hit from the warm dict; no second request."""
    first = await cache.get("m", "/p")
    await clock.advance(TTL - 1)
    assert await cache.get("m", "/p") is first
    assert len(fetch.calls) == 1
    assert cache.hits == 1
    assert cache.warm == {"m": first}


async def test_expiry_clears_the_warm_dict_on_time(cache: EndpointCache, clock: FakeClock) -> None:
    """At the TTL the TTL cache's own expiry removes the id from the warm path."""
    await cache.get("m", "/p")
    await clock.advance(TTL)
    assert cache.warm == {}
    assert cache.size == 1  # still held, for stale serving


async def test_stale_details_are_served_at_once_and_refreshed_in_the_background(
    cache: EndpointCache, fetch: Fetch, clock: FakeClock
) -> None:
    """Past the TTL reads return the old details at once; one background fetch renews them."""
    first = await cache.get("m", "/p")
    await clock.advance(TTL + 1)
    fetch.gate = asyncio.Event()
    assert await cache.get("m", "/p") is first
    assert await cache.get("m", "/p") is first
    assert len(cache.busy()) == 1  # one refresh for both reads
    await clock.run_until_idle()
    assert len(fetch.calls) == 2
    fetch.gate.set()
    await asyncio.gather(*cache.busy())
    renewed = await cache.get("m", "/p")
    assert renewed.extras == {"version": 2}


async def test_stale_details_are_served_through_an_outage_until_max_stale(
    cache: EndpointCache, fetch: Fetch, clock: FakeClock
) -> None:
    """Failed refreshes keep the old details in service for max_stale, then the error shows."""
    first = await cache.get("m", "/p")
    fetch.fail = ServerError("503 from NanoGPT", status=503)
    await clock.advance(TTL + 1)
    assert await cache.get("m", "/p") is first
    await asyncio.gather(*cache.busy(), return_exceptions=True)
    await clock.advance(MAX_STALE - 2)
    assert await cache.get("m", "/p") is first
    await asyncio.gather(*cache.busy(), return_exceptions=True)
    await clock.advance(10)
    with pytest.raises(ServerError, match="503"):
        await cache.get("m", "/p")
    assert cache.errors >= 2


async def test_a_failure_is_not_repeated_within_the_backoff(
    cache: EndpointCache, fetch: Fetch, clock: FakeClock
) -> None:
    """With nothing cached, a failed id raises again at once for 1 s, then is asked again."""
    fetch.fail = ModelNotFoundError("gone", ("gone-2",))
    with pytest.raises(ModelNotFoundError):
        await cache.get("gone", "/p")
    with pytest.raises(ModelNotFoundError) as again:
        await cache.get("gone", "/p")
    assert again.value.suggestions == ("gone-2",)
    assert len(fetch.calls) == 1
    await clock.advance(1.0)
    fetch.fail = None
    assert (await cache.get("gone", "/p")).id == "gone"
    assert len(fetch.calls) == 2


async def test_an_unexpected_exception_becomes_a_nanogpt_error(
    cache: EndpointCache, fetch: Fetch
) -> None:
    """A bug in the fetch surfaces as a NanoGPTError saying so, not as a bare exception."""
    fetch.fail = KeyError("x")
    with pytest.raises(NanoGPTError, match="bug worth reporting"):
        await cache.get("m", "/p")


async def test_a_cancelled_reader_does_not_cancel_the_fetch(
    cache: EndpointCache, fetch: Fetch
) -> None:
    """One reader giving up leaves the shared request running for the others."""
    fetch.gate = asyncio.Event()
    quitter = asyncio.create_task(cache.get("m", "/p"))
    stayer = asyncio.create_task(cache.get("m", "/p"))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.sleep(0)
    fetch.gate.set()
    assert (await stayer).id == "m"
    assert quitter.cancelled()
    assert len(fetch.calls) == 1


async def test_the_cache_is_bounded(fetch: Fetch, clock: FakeClock) -> None:
    """maxsize bounds the fresh, warm and stale stores alike."""
    cache = EndpointCache(
        fetch, clock=clock, ttl=TTL, max_stale=MAX_STALE, max_backoff=240.0, maxsize=2
    )
    try:
        for model_id in ("a", "b", "c"):
            await cache.get(model_id, "/p")
        assert cache.size == 2
        assert len(cache.warm) == 2
        assert "a" not in cache.warm
    finally:
        await cache.close()


async def test_dropped_ids_are_fetched_again(cache: EndpointCache, fetch: Fetch) -> None:
    """After drop() the next read asks again."""
    await cache.get("m", "/p")
    cache.drop(["m"])
    assert cache.warm == {}
    assert (await cache.get("m", "/p")).extras == {"version": 2}


async def test_a_fetch_in_flight_when_dropped_is_not_kept(
    cache: EndpointCache, fetch: Fetch
) -> None:
    """Details asked for before a drop reach their reader but are not cached."""
    fetch.gate = asyncio.Event()
    reader = asyncio.create_task(cache.get("m", "/p"))
    await asyncio.sleep(0)
    cache.drop(["m"])
    fetch.gate.set()
    assert (await reader).id == "m"
    assert cache.warm == {}
    assert cache.size == 0


async def test_close_ends_waiting_reads_and_refuses_new_ones(
    cache: EndpointCache, fetch: Fetch
) -> None:
    """A read waiting at close() gets SessionClosedError, and so does any later read."""
    fetch.gate = asyncio.Event()
    reader = asyncio.create_task(cache.get("m", "/p"))
    await asyncio.sleep(0)
    await cache.close()
    with pytest.raises(SessionClosedError, match="closed"):
        await reader
    with pytest.raises(SessionClosedError):
        await cache.get("m", "/p")
    assert cache.busy() == []
