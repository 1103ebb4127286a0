"""Caching end to end through a session and FakeNanoGPT: freshness, SWR, stale-if-error, 304s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import pytest
from conftest import MODEL_IDS, MakeSession, Settle, small_catalog

from nanogpt_images import CacheStats, DecodeError, NanoGPTError, ServerError
from nanogpt_images.testing import FakeClock, FakeNanoGPT

TTL = 300.0
MAX_STALE = 3600.0


async def test_stale_read_returns_at_once_and_refreshes_once_in_background(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """Past the TTL a read returns the old copy without waiting, and one refresh follows."""
    session = make_session(ttl=TTL)
    old = await session.catalog()
    server.update_model("model-0", name="Renamed")
    server.hold()  # the refresh stays at the server until release()
    await clock.advance(TTL)
    assert await session.catalog() is old  # starts the refresh
    await server.wait_for_requests(2)
    async with asyncio.timeout(5):  # a read that waited for the held refresh would hang
        for _ in range(50):
            assert await session.catalog() is old
            assert (await session.get_model("model-0")).name == "Model 0"
    assert session.stats().source == "stale"
    server.release()
    await settle(session)
    assert server.request_count == 2
    assert (await session.get_model("model-0")).name == "Renamed"
    assert session.stats().source == "network"


async def test_outage_within_max_stale_serves_the_last_good_copy(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """While NanoGPT is down the stale copy keeps being served and last_error says why."""
    session = make_session(ttl=TTL, max_stale=MAX_STALE)
    good = await session.catalog()
    server.fail_next(1000, 503)
    for _ in range(10):
        await clock.advance((MAX_STALE + TTL) / 10 - 1)
        assert await session.catalog() is good
        await settle(session)
    stats = session.stats()
    assert stats.source == "stale"
    assert stats.errors >= 1
    assert stats.last_error is not None
    assert "503" in stats.last_error


async def test_a_failed_background_refresh_is_logged_once(
    make_session: MakeSession,
    server: FakeNanoGPT,
    clock: FakeClock,
    settle: Settle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refresh started by a stale read, awaited by nobody, still logs its failure once."""
    session = make_session(ttl=TTL, refresh_interval=None)
    await session.catalog()
    server.fail_next(1, 503)
    await clock.advance(TTL)
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        await session.catalog()
        await settle(session)
    (record,) = caplog.records
    assert "503" in record.getMessage()


async def test_outage_past_max_stale_raises_the_typed_error(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """Once the copy is more than max_stale past its expiry, the caller gets the server's error."""
    session = make_session(ttl=TTL, max_stale=MAX_STALE)
    await session.catalog()
    server.fail_next(1000, 502)
    await clock.advance(TTL + MAX_STALE)
    await session.catalog()  # the last moment the stale copy may be served
    await settle(session)
    await clock.advance(0.001)
    with pytest.raises(ServerError) as info:
        await session.catalog()
    assert info.value.status == 502


async def test_recovery_after_an_outage_serves_fresh_data_again(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """When NanoGPT comes back, the next refresh replaces the stale copy with a fresh one."""
    session = make_session(ttl=TTL)
    await session.catalog()
    server.fail_next(1, 503)
    server.remove_model("model-5")
    await clock.advance(TTL)
    await session.catalog()
    await settle(session)
    assert session.stats().source == "stale"
    refreshed = await session.refresh()
    assert "model-5" not in refreshed
    assert session.stats().source == "network"


async def test_stale_reads_after_a_failure_respect_the_backoff(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """After a failed refresh, stale reads do not hit the server again until the backoff ends."""
    session = make_session(ttl=TTL)
    await session.catalog()
    server.fail_next(1, 503)
    await clock.advance(TTL)
    await session.catalog()
    await settle(session)
    assert server.request_count == 2
    for _ in range(20):
        await session.catalog()
    await clock.advance(0.999)  # the first backoff is 1 s
    await session.catalog()
    await settle(session)
    assert server.request_count == 2
    await clock.advance(0.001)
    await session.catalog()
    await settle(session)
    assert server.request_count == 3
    assert session.stats().source == "not_modified"


@pytest.mark.parametrize("kept", [(), ("model-0", "model-1")], ids=["empty", "under-half"])
async def test_shrink_guard_keeps_the_good_copy(
    make_session: MakeSession,
    server: FakeNanoGPT,
    caplog: pytest.LogCaptureFixture,
    kept: tuple[str, ...],
) -> None:
    """An empty or under-half catalog is refused: old copy kept, counted, validators unchanged."""
    session = make_session()
    good = await session.catalog()
    server.set_catalog(small_catalog(kept))
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert await session.refresh() is good
    assert "refused" in caplog.text
    stats = session.stats()
    assert stats.refused_refreshes == 1
    assert stats.last_error is not None
    assert "refused" in stats.last_error
    # The next refresh tries again, still with the first response's validators:
    # the restored catalog has the first ETag again, so the server answers 304.
    server.set_catalog(small_catalog())
    assert await session.refresh() is good
    etags = [request.headers.get("if-none-match") for request in server.requests]
    assert etags[1] is not None
    assert etags[2] == etags[1]
    assert session.stats().not_modified == 1


async def test_shrink_is_accepted_once_the_good_copy_is_past_max_stale(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """A smaller list is refused while the good copy could be served, then taken as real."""
    session = make_session(ttl=TTL, max_stale=TTL)
    good = await session.catalog()
    server.set_catalog(small_catalog(MODEL_IDS[:1]))
    await clock.advance(2 * TTL)  # expired, but still within max_stale
    assert await session.refresh() is good
    assert session.stats().refused_refreshes == 1
    await clock.advance(TTL)  # now past max_stale: the old copy cannot be served any more
    assert (await session.refresh()).ids == MODEL_IDS[:1]
    assert session.stats().refused_refreshes == 1
    assert session.stats().source == "network"


async def test_shrink_to_exactly_half_is_accepted(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """Losing half the models is a real change, not a broken answer: it is accepted."""
    session = make_session()
    await session.catalog()
    server.set_catalog(small_catalog(MODEL_IDS[:3]))
    assert (await session.refresh()).ids == MODEL_IDS[:3]
    assert session.stats().refused_refreshes == 0


async def test_not_modified_renews_freshness_without_parsing(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """A 304 keeps the very same Catalog object, counts not_modified and restarts the TTL."""
    session = make_session(ttl=TTL)
    first = await session.catalog()
    await clock.advance(TTL + 10)
    assert await session.refresh() is first
    assert server.requests[-1].headers.get("if-none-match") is not None
    stats = session.stats()
    assert (stats.not_modified, stats.fetches, stats.source, stats.age) == (
        1,
        2,
        "not_modified",
        0.0,
    )
    await clock.advance(TTL - 0.001)
    assert await session.catalog() is first
    assert server.request_count == 2


async def test_not_modified_keeps_the_validators_the_304_sent(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A 304's newer Last-Modified is what the next conditional request sends."""
    session = make_session()
    await session.catalog()
    first_date = server.requests[0]
    server.add_model(small_catalog(("temporary",))["data"][0])
    server.remove_model("temporary")  # same body and ETag again, a later Last-Modified
    await session.refresh()  # 304, carrying the new date
    await session.refresh()
    sent = [request.headers.get("if-modified-since") for request in server.requests]
    assert first_date.headers.get("if-modified-since") is None
    assert sent[1] is not None
    assert sent[2] is not None
    assert sent[2] != sent[1]
    assert session.stats().not_modified == 2


async def test_without_validators_a_200_is_parsed_again(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """A server without ETag/Last-Modified gets plain GETs and each answer is read anew."""
    server.etag = False
    session = make_session(ttl=TTL)
    first = await session.catalog()
    second = await session.refresh()
    assert second is not first
    assert second == first
    assert "if-none-match" not in server.requests[-1].headers
    assert session.stats().not_modified == 0


async def test_stats_report_what_happened(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """stats() counts hits, misses, fetches, 304s, errors and gives the copy's age and source."""
    session = make_session(ttl=TTL)
    assert session.stats() == CacheStats()
    await session.catalog()
    await clock.advance(10)
    await session.catalog()
    await session.get_model("model-1")
    stats = session.stats()
    assert (stats.misses, stats.hits, stats.fetches) == (1, 2, 1)
    assert (stats.age, stats.source, stats.last_error) == (10.0, "network", None)
    server.fail_next(1, 500)
    with pytest.raises(ServerError):
        await session.refresh()
    await session.refresh()  # 304
    stats = session.stats()
    assert (stats.fetches, stats.errors, stats.not_modified) == (3, 1, 1)
    assert stats.last_error is not None
    assert stats.last_error.startswith("ServerError")
    with pytest.raises(AttributeError):
        stats.hits = 0  # type: ignore[misc]


async def test_a_broken_body_never_replaces_the_good_copy(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """Malformed JSON or an HTML page from the server is an error; the good copy stays."""
    session = make_session(ttl=TTL)
    good = await session.catalog()
    server.fault_next("malformed_json")
    server.fault_next("html_200")
    await clock.advance(TTL)
    assert await session.catalog() is good
    await settle(session)
    await clock.advance(1)
    assert await session.catalog() is good
    await settle(session)
    assert session.stats().errors == 2
    assert session.stats().last_error is not None
    assert session.stats().last_error.startswith("DecodeError")  # type: ignore[union-attr]


# -- randomized: reads, time jumps, catalog changes and faults, interleaved ---------


class CountingClock(FakeClock):
    """A FakeClock that counts the sleeps which ran to their end (refresher wake-ups)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.wakeups += 1


@pytest.mark.parametrize(
    ("seed", "refresh_interval"), [(1, None), (2, 240.0), (3, 90.0)], ids=["no-bg", "bg", "bg-fast"]
)
async def test_randomized_reads_time_faults_and_changes_keep_the_invariants(
    make_session: MakeSession,
    server: FakeNanoGPT,
    settle: Settle,
    seed: int,
    refresh_interval: float | None,
) -> None:
    """A read never fails while a good copy is within max_stale; one request per trigger at most."""
    rng = random.Random(seed)
    ttl, max_stale = 300.0, 600.0
    clock = CountingClock()
    session = make_session(
        ttl=ttl, max_stale=max_stale, clock=clock, refresh_interval=refresh_interval
    )
    served_ids = list(MODEL_IDS)
    faults = 0  # queued at the server; each consumes one request
    accepted_ids: tuple[str, ...] | None = None  # the oracle's view of the good copy
    good_since = -1.0e18  # fake time of the last accepted answer (200 or 304)
    triggers = 0
    next_id = 100
    seen = 0  # requests already matched against the oracle

    def account() -> None:
        """Replay the requests the server saw since last time through the oracle."""
        nonlocal faults, accepted_ids, good_since, seen
        for _ in range(server.request_count - seen):
            seen += 1
            if faults:
                faults -= 1
                continue
            served = tuple(served_ids)
            if (
                accepted_ids is not None
                and (not served or len(served) * 2 < len(accepted_ids))
                and clock.monotonic() <= good_since + ttl + max_stale
            ):
                continue  # the shrink guard refuses it while the good copy is servable
            accepted_ids, good_since = served, clock.monotonic()

    async def step_time(seconds: float) -> None:
        """Advance, stopping at each refresher wake-up to let its fetch finish at that time."""
        target = clock.monotonic() + seconds
        while (deadline := clock.next_deadline) is not None and deadline <= target:
            await clock.advance(deadline - clock.monotonic())
            await settle(session)
            account()
        await clock.advance(target - clock.monotonic())

    await session.start()
    await settle(session)
    account()
    for _ in range(300):
        action = rng.choices(
            ["read", "time", "add", "remove", "update", "shrink", "fault", "refresh"],
            weights=[8, 5, 1, 1, 1, 0.3, 1.5, 0.5],
        )[0]
        if action == "read":
            now = clock.monotonic()
            fresh = accepted_ids is not None and now < good_since + ttl
            usable = accepted_ids is not None and now <= good_since + ttl + max_stale
            triggers += not fresh
            before = accepted_ids
            try:
                catalog = await session.catalog()
            except Exception:
                assert not usable, f"a read failed with a good copy {now - good_since:.0f}s old"
            else:
                if usable:
                    assert catalog.ids == before
            await settle(session)
            account()
        elif action == "time":
            await step_time(rng.choice([1.0, 30.0, 120.0, 250.0, 400.0, 700.0]))
        elif action == "add":
            server.add_model(small_catalog((f"model-{next_id}",))["data"][0])
            served_ids.append(f"model-{next_id}")
            next_id += 1
        elif action == "remove" and len(served_ids) > 1:
            victim = rng.choice(served_ids)
            server.remove_model(victim)
            served_ids.remove(victim)
        elif action == "update" and served_ids:
            server.update_model(rng.choice(served_ids), name=f"name {rng.random()}")
        elif action == "shrink":
            served_ids = served_ids[:1]
            server.set_catalog(small_catalog(tuple(served_ids)))
        elif action == "fault":
            kind = rng.choice(["503", "429", "malformed"])
            if kind == "503":
                server.fail_next(1, 503)
            elif kind == "429":
                server.fail_next(1, 429, retry_after=rng.choice([1, 30, 500]))
            else:
                server.fault_next("malformed_json")
            faults += 1
        elif action == "refresh":
            triggers += 1
            with pytest.raises(NanoGPTError) if faults else contextlib.nullcontext():
                await session.refresh()
            await settle(session)
            account()
        assert server.request_count == session.stats().fetches
        assert server.request_count <= triggers + clock.wakeups + 1  # +1: the start
    assert session.stats().fetches > 10


async def test_stale_reads_during_a_slow_refresh_do_not_queue_more_requests(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """Hundreds of stale reads while one refresh is at the server add no request."""
    session = make_session(ttl=TTL)
    await session.catalog()
    server.hold()
    await clock.advance(TTL)
    await session.catalog()  # stale: starts the refresh, which the server holds
    await server.wait_for_requests(2)
    async with asyncio.timeout(5):  # a read that waited for the held refresh would hang
        await asyncio.gather(*(session.catalog() for _ in range(500)))
    assert server.request_count == 2
    server.release()
    await settle(session)
    assert server.request_count == 2


async def test_an_empty_list_never_replaces_a_good_copy_even_past_max_stale(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """Age alone never makes an empty catalog acceptable: it is a broken answer, not a change.

    Within max_stale the good copy is kept and served; past it, nothing can be
    served, so the caller gets an error rather than a copy older than allowed.
    """
    session = make_session(ttl=TTL, max_stale=TTL)
    good = await session.catalog()
    server.set_catalog(small_catalog(()))
    await clock.advance(1.5 * TTL)
    assert await session.refresh() is good
    assert session.stats().refused_refreshes == 1
    await clock.advance(10 * TTL)
    with pytest.raises(DecodeError, match=r"empty catalog.*past max_stale"):
        await session.refresh()
    with pytest.raises(DecodeError):
        await session.catalog()
    server.set_catalog(small_catalog())
    await clock.advance(10 * TTL)  # past the backoff
    assert (await session.catalog()).ids == MODEL_IDS
