"""A short soak (about 3 s of real time, by design): flaky server, live changes, busy readers."""

from __future__ import annotations

from _bench import load_benchmark

soak = load_benchmark("soak")


async def test_short_soak_serves_every_read_misses_no_change_and_leaks_nothing():
    """1,000 readers against 30 % faults and live changes: no failed read, no missed change."""
    report = await soak.soak(3.0, readers=1_000, seed=7)

    assert report.failures == [], report.render()
    assert report.reads_served > 10_000
    assert report.requests > 5
    assert sum(report.mutations.values()) > 0
    assert report.tasks[-1] == report.tasks[0]
