"""FakeClock: time moves on advance() or, with auto_advance, whenever the loop is idle."""

from __future__ import annotations

import asyncio
import time

import pytest

from nanogpt_images._clock import Clock
from nanogpt_images.testing import FakeClock


async def _sleep_and_record(
    clock: FakeClock, seconds: float, log: list[tuple[str, float]], name: str
) -> None:
    await clock.sleep(seconds)
    log.append((name, clock.monotonic()))


def test_implements_clock_protocol() -> None:
    """FakeClock can be injected wherever the library takes a Clock."""
    assert isinstance(FakeClock(), Clock)


async def test_time_starts_where_asked_and_moves_only_on_advance() -> None:
    """monotonic() starts at start, time() at wall_start, and both move by exactly the advance."""
    clock = FakeClock(100.0, wall_start=1_700_000_000.0)
    assert (clock.monotonic(), clock.time()) == (100.0, 1_700_000_000.0)
    await clock.advance(2.5)
    assert (clock.monotonic(), clock.time()) == (102.5, 1_700_000_002.5)


async def test_advance_wakes_due_sleepers_in_deadline_order() -> None:
    """Sleepers due inside the window wake in deadline order, each seeing its own deadline."""
    clock = FakeClock()
    log: list[tuple[str, float]] = []
    tasks = [
        asyncio.create_task(_sleep_and_record(clock, seconds, log, name))
        for name, seconds in [("c", 30.0), ("a", 10.0), ("late", 100.0), ("b", 20.0)]
    ]
    await clock.advance(50)
    assert log == [("a", 10.0), ("b", 20.0), ("c", 30.0)]
    assert (clock.monotonic(), clock.sleepers, clock.next_deadline) == (50.0, 1, 100.0)
    await clock.advance(50)
    assert log[-1] == ("late", 100.0)
    await asyncio.gather(*tasks)


async def test_advance_wakes_a_task_that_sleeps_again_inside_the_window() -> None:
    """advance(60) equals sixty advance(1): a ticker sleeping 10 s ticks six times."""
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(10)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.advance(60)
    assert ticks == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_sleep_zero_or_negative_only_yields() -> None:
    """sleep(0) and sleep(-1) return at once without registering a sleeper or moving time."""
    clock = FakeClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert (clock.monotonic(), clock.sleepers) == (0.0, 0)


async def test_cancelled_sleeper_is_removed() -> None:
    """A cancelled sleep leaves no sleeper behind, so it can never be woken or jumped to."""
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await clock.run_until_idle()
    assert (clock.sleepers, clock.next_deadline) == (1, 5.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (clock.sleepers, clock.next_deadline) == (0, None)


async def test_advance_refuses_to_go_back() -> None:
    """Time only moves forward."""
    clock = FakeClock()
    with pytest.raises(ValueError, match="forward"):
        await clock.advance(-1)


async def test_auto_advance_finishes_an_hour_long_sleep_at_once() -> None:
    """With auto_advance, `await clock.sleep(3600)` returns in real milliseconds at time +3600."""
    async with FakeClock(auto_advance=True) as clock:
        started = time.perf_counter()
        await clock.sleep(3600)
        assert time.perf_counter() - started < 1.0
        assert clock.monotonic() == 3600.0
        assert clock.time() == 1_790_000_000.0 + 3600


async def test_auto_advance_jumps_deadline_by_deadline() -> None:
    """Auto-advance wakes concurrent sleepers one deadline at a time, in order."""
    async with FakeClock(auto_advance=True) as clock:
        log: list[tuple[str, float]] = []
        await asyncio.gather(
            _sleep_and_record(clock, 300, log, "slow"),
            _sleep_and_record(clock, 5, log, "fast"),
            _sleep_and_record(clock, 60, log, "medium"),
        )
        assert log == [("fast", 5.0), ("medium", 60.0), ("slow", 300.0)]


async def test_auto_advance_waits_while_another_task_is_busy() -> None:
    """Time does not jump while a task still runs; its later short sleep wakes first."""
    async with FakeClock(auto_advance=True) as clock:
        log: list[tuple[str, float]] = []

        async def busy_then_sleep() -> None:
            for _ in range(200):
                await asyncio.sleep(0)
            await _sleep_and_record(clock, 1, log, "busy")

        await asyncio.gather(_sleep_and_record(clock, 10, log, "idle"), busy_then_sleep())
        assert log == [("busy", 1.0), ("idle", 10.0)]


async def test_aclose_leaves_no_task_behind() -> None:
    """After aclose() the auto-advance watcher is gone: only the test's own task remains."""
    clock = FakeClock(auto_advance=True)
    await clock.sleep(1)
    assert len(asyncio.all_tasks()) == 2  # this test and the watcher
    await clock.aclose()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not clock.auto_advance
    await clock.aclose()  # idempotent


async def test_closed_clock_still_advances_by_hand() -> None:
    """After close() auto-advance stops, but advance() still wakes sleepers."""
    clock = FakeClock(auto_advance=True)
    clock.close()
    task = asyncio.create_task(clock.sleep(30))
    await clock.advance(30)
    assert task.done()
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_repr_shows_time_and_sleepers() -> None:
    """The repr says what a failing test needs: current time and pending sleepers."""
    assert repr(FakeClock(3.0)) == "FakeClock(now=3.0, sleepers=0)"


def test_rejects_a_negative_auto_advance_threshold() -> None:
    """The idle grace is a real-time duration, so it cannot be negative."""
    with pytest.raises(ValueError, match="threshold"):
        FakeClock(auto_advance=True, auto_advance_threshold=-1)


async def test_auto_advance_with_zero_threshold_needs_no_real_wait() -> None:
    """auto_advance_threshold=0 jumps as soon as the loop has run out of ready work."""
    async with FakeClock(auto_advance=True, auto_advance_threshold=0) as clock:
        await asyncio.gather(clock.sleep(2), clock.sleep(1))
        assert clock.monotonic() == 2.0
