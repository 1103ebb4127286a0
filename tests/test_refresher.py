"""The background refresher: interval with jitter, backoff, Retry-After, change events."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest
from conftest import MODEL_IDS, MakeSession, Settle

from nanogpt_images._refresher import Refresher
from nanogpt_images.testing import FakeClock, FakeNanoGPT, model_payload

if TYPE_CHECKING:
    from nanogpt_images import CatalogChange, ImageModelsSession

TTL = 300.0
INTERVAL = 240.0


async def wake_refresher(clock: FakeClock, session: ImageModelsSession, settle: Settle) -> float:
    """Advance exactly to the refresher's next wake-up, let its refresh finish; return the wait.

    Other sleepers (the cache's expiry timer) wake on the way without a fetch.
    """
    fetches = session.stats().fetches
    start = clock.monotonic()
    while session.stats().fetches == fetches:
        deadline = clock.next_deadline
        assert deadline is not None, "the refresher is not sleeping"
        await clock.advance(deadline - clock.monotonic())
        await settle(session)
    return clock.monotonic() - start


async def started(
    make_session: MakeSession, settle: Settle, **options: float
) -> ImageModelsSession:
    """A started session with a background refresher whose first fetch has landed."""
    options.setdefault("refresh_interval", INTERVAL)
    options.setdefault("ttl", TTL)
    session = make_session(**options)
    await session.start()
    await settle(session)
    return session


async def test_start_fetches_in_the_background(
    make_session: MakeSession, server: FakeNanoGPT, settle: Settle
) -> None:
    """start() kicks off the first fetch, so the first read is already a hit."""
    session = make_session(refresh_interval=INTERVAL)
    await session.start()
    await settle(session)
    assert server.request_count == 1
    assert (await session.catalog()).ids == MODEL_IDS
    assert session.stats().misses == 0


async def test_refresh_interval_has_ten_percent_jitter(
    make_session: MakeSession, clock: FakeClock, settle: Settle
) -> None:
    """Each wait is refresh_interval ±10 %, and waits differ so a fleet does not march in step."""
    session = await started(make_session, settle)
    waits = [await wake_refresher(clock, session, settle) for _ in range(20)]
    assert all(0.9 * INTERVAL <= wait <= 1.1 * INTERVAL for wait in waits)
    assert len(set(waits)) > 1
    assert session.stats().fetches == 21
    assert session.stats().source == "not_modified"


async def test_background_refresh_emits_one_change_per_changing_refresh(
    make_session: MakeSession,
    server: FakeNanoGPT,
    clock: FakeClock,
    settle: Settle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Added, removed and changed models each reach sync and async subscribers once."""
    session = await started(make_session, settle)
    sync_seen: list[CatalogChange] = []
    async_seen: list[CatalogChange] = []

    async def on_change_async(change: CatalogChange) -> None:
        await asyncio.sleep(0)
        async_seen.append(change)

    def broken_sync(change: CatalogChange) -> None:
        raise RuntimeError("subscriber bug")

    async def broken_async(change: CatalogChange) -> None:
        raise RuntimeError("async subscriber bug")

    session.subscribe(broken_sync)
    session.subscribe(sync_seen.append)
    session.subscribe(broken_async)
    session.subscribe(on_change_async)

    with caplog.at_level(logging.ERROR, logger="nanogpt_images"):
        server.add_model(model_payload("newcomer"))
        await wake_refresher(clock, session, settle)
        server.remove_model("model-1")
        await wake_refresher(clock, session, settle)
        server.update_model("model-2", name="Model Two", brand_new_key=True)
        await wake_refresher(clock, session, settle)
        await wake_refresher(clock, session, settle)  # nothing changed: no event

    assert sync_seen == async_seen
    assert len(sync_seen) == 3
    added, removed, changed = sync_seen
    assert [model.id for model in added.added] == ["newcomer"]
    assert (added.removed, added.changed) == ((), ())
    assert [model.id for model in removed.removed] == ["model-1"]
    assert [(c.id, c.fields) for c in changed.changed] == [("model-2", ("brand_new_key", "name"))]
    assert changed.changed[0].before.name == "Model 2"
    assert changed.changed[0].after.name == "Model Two"
    assert caplog.text.count("subscriber raised") == 6  # two broken subscribers, three events
    assert "subscriber bug" in caplog.text
    assert session.stats().fetches == 5  # the refresher carried on


async def test_unsubscribe_stops_delivery(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """After calling the function subscribe() returned, the callback hears nothing more."""
    session = await started(make_session, settle)
    seen: list[CatalogChange] = []
    unsubscribe = session.subscribe(seen.append)
    server.add_model(model_payload("one"))
    await wake_refresher(clock, session, settle)
    unsubscribe()
    unsubscribe()  # twice is harmless
    server.add_model(model_payload("two"))
    await wake_refresher(clock, session, settle)
    assert [[m.id for m in change.added] for change in seen] == [["one"]]
    assert "two" in await session.catalog()


async def test_first_load_is_not_a_change(
    make_session: MakeSession, server: FakeNanoGPT, settle: Settle
) -> None:
    """Subscribers hear about changes, not about the initial load."""
    session = make_session(refresh_interval=INTERVAL)
    seen: list[CatalogChange] = []
    session.subscribe(seen.append)
    await session.catalog()
    await settle(session)
    assert seen == []


async def test_failure_backoff_doubles_up_to_the_interval_then_recovers(
    make_session: MakeSession,
    server: FakeNanoGPT,
    clock: FakeClock,
    settle: Settle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failures retry after 1, 2, 4 … s up to refresh_interval; a success restores the interval."""
    session = await started(make_session, settle)
    failures = 10
    server.fail_next(failures, 503)
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        waits = [await wake_refresher(clock, session, settle) for _ in range(failures + 2)]
    assert 0.9 * INTERVAL <= waits[0] <= 1.1 * INTERVAL
    assert waits[1:-1] == pytest.approx([1, 2, 4, 8, 16, 32, 64, 128, 240, 240])
    assert 0.9 * INTERVAL <= waits[-1] <= 1.1 * INTERVAL  # after the recovery
    warnings = [r for r in caplog.records if "refreshing the image catalog" in r.getMessage()]
    assert len(warnings) == failures  # each failure logged once, with its reason
    assert all("503" in record.getMessage() for record in warnings)
    assert session.stats().source == "not_modified"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("retry_after", "expected"), [(120, 120.0), (0.5, 1.0)])
async def test_retry_after_delays_the_next_background_refresh(
    make_session: MakeSession,
    server: FakeNanoGPT,
    clock: FakeClock,
    settle: Settle,
    retry_after: float,
    expected: float,
    status: int,
) -> None:
    """A Retry-After (429 or 503) sets the next attempt when longer than the backoff.

    Reads wait for it too.
    """
    session = await started(make_session, settle, ttl=1000.0)  # no expiry among the deadlines
    server.fail_next(1, status, retry_after=retry_after)
    await wake_refresher(clock, session, settle)
    requests = server.request_count
    deadline = clock.next_deadline
    assert deadline is not None
    assert deadline - clock.monotonic() == pytest.approx(expected)
    await clock.advance(expected - 0.01)
    await session.catalog()  # stale by now; must not hit the rate-limited server
    await settle(session)
    assert server.request_count == requests
    await wake_refresher(clock, session, settle)
    assert server.request_count == requests + 1
    assert session.stats().errors == 1


async def test_refused_refresh_is_retried_by_the_refresher(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """After the shrink guard refuses a catalog, the refresher tries again after a backoff."""
    session = await started(make_session, settle)
    full = server.catalog
    server.set_catalog({**full, "data": []})
    await wake_refresher(clock, session, settle)
    assert session.stats().refused_refreshes == 1
    server.set_catalog(full)
    assert await wake_refresher(clock, session, settle) == pytest.approx(1.0)
    assert session.stats().refused_refreshes == 1
    assert (await session.catalog()).ids == MODEL_IDS


async def test_close_stops_the_refresher(
    make_session: MakeSession, clock: FakeClock, settle: Settle
) -> None:
    """After close() nothing sleeps on the clock and advancing time makes no request."""
    session = await started(make_session, settle)
    assert clock.sleepers == 1
    await session.close()
    assert clock.sleepers == 0
    await clock.advance(10 * INTERVAL)
    assert session.stats().fetches == 1


class FlakyCache:
    """Stands in for the cache: the first refresh hits a bug, later ones work."""

    def __init__(self) -> None:
        self.calls = 0

    async def refresh_in_background(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug, not a NanoGPTError")

    def next_delay(self, interval: float) -> float:
        return interval


@pytest.mark.parametrize(("draw", "wait"), [(0.0, 9.0), (0.5, 10.0), (1.0, 11.0)])
async def test_refresher_survives_a_crash_and_keeps_its_jittered_interval(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, draw: float, wait: float
) -> None:
    """An unexpected exception is logged with its traceback and the next refresh still comes."""
    cache = FlakyCache()
    refresher = Refresher(cache, clock=clock, interval=10.0, random=lambda: draw)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="nanogpt_images"):
        refresher.start(immediately=True)
        await clock.run_until_idle()
    assert cache.calls == 1
    assert "crashed" in caplog.text
    assert caplog.records[0].exc_info is not None
    assert refresher.running
    await clock.advance(wait - 0.001)
    assert cache.calls == 1
    await clock.advance(0.001)
    assert cache.calls == 2
    await refresher.stop()
    await refresher.stop()
    assert not refresher.running
    assert clock.sleepers == 0
