"""Work off the loop rests a moment every slice, so the event loop gets the GIL back promptly."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nanogpt_images import _pace


class RecordingTime:
    """``time`` for the pacer: perf_counter moves only when told, sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.rests: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.rests.append(seconds)


@pytest.fixture
def recording_time(monkeypatch: pytest.MonkeyPatch) -> RecordingTime:
    fake = RecordingTime()
    monkeypatch.setattr(_pace, "time", fake)
    return fake


def work(clock: RecordingTime, steps: int, step: float) -> str:
    """``steps`` steps of ``step`` seconds each, pacing between them; returns its thread's name."""
    for _ in range(steps):
        clock.now += step
        _pace.pace()
    return threading.current_thread().name


async def test_work_off_the_loop_rests_once_a_slice(recording_time: RecordingTime) -> None:
    """Ten slices of work in steps of a tenth of a slice rest ten times, in a worker thread."""
    name = await _pace.Workers().run(work, recording_time, 100, _pace.SLICE / 10)
    assert name != threading.current_thread().name
    assert len(recording_time.rests) in (9, 10)  # the float sum may land just short of the 10th
    assert set(recording_time.rests) == {_pace.REST}


async def test_pace_on_the_loop_never_rests(recording_time: RecordingTime) -> None:
    """Called on the event loop's own thread (a small body read there), pace() does nothing."""
    work(recording_time, 100, _pace.SLICE)
    assert recording_time.rests == []


async def test_pacing_ends_with_the_work(recording_time: RecordingTime) -> None:
    """After the work returns, the same worker thread reused by asyncio no longer rests."""
    await _pace.Workers().run(work, recording_time, 1, 0.0)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, work, recording_time, 10, _pace.SLICE)
    assert recording_time.rests == []


async def test_stopping_ends_running_work_at_its_next_step_and_waits_for_it() -> None:
    """stop() makes pace() raise in the thread, and returns once the thread has ended."""
    workers = _pace.Workers()
    started = threading.Event()
    ended = threading.Event()

    def endless() -> None:
        try:
            started.set()
            while True:
                _pace.pace()
        finally:
            ended.set()

    running = asyncio.ensure_future(workers.run(endless))
    await asyncio.to_thread(started.wait, 5)
    running.cancel()  # what close() does to the task awaiting it: the thread goes on
    await workers.stop(wait=5)
    assert ended.is_set()
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(_pace.WorkStoppedError):  # work started after stop() stops at once
        await workers.run(work, RecordingTime(), 1, 0.0)
