"""Fleet mode end to end: sessions sharing one real redis-server and one FakeNanoGPT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from nanogpt_images import CatalogChange, ImageModelsSession
from nanogpt_images.testing import FakeNanoGPT

from .conftest import MakeReplica
from ._redis import RedisServer

DEADLINE = 10.0


async def eventually(condition: Callable[[], bool], *, within: float = DEADLINE) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` real seconds."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"still false after {within} s: {condition}")
        await asyncio.sleep(0.01)


def counting(session: ImageModelsSession) -> list[CatalogChange]:
    changes: list[CatalogChange] = []
    session.subscribe(changes.append)
    return changes


async def test_cold_start_adopts_the_shared_copy(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """A second replica takes the first one's copy from Redis without asking NanoGPT."""
    first = make_replica()
    await first.catalog()
    assert server.request_count == 1
    assert first.stats().role == "leader"

    second = make_replica()
    catalog = await second.catalog()
    assert len(catalog) == len(await first.catalog())
    assert server.request_count == 1
    stats = second.stats()
    assert stats.source == "shared"
    assert stats.role == "follower"
    assert stats.shared_installs == 1
    assert stats.fetches == 1 and stats.coordinator_errors == 0


async def read_forever(sessions: list[ImageModelsSession], failures: list[BaseException]) -> None:
    """Read every session's catalog in a loop, recording any read that fails."""
    while True:
        for session in sessions:
            try:
                await session.get_model("model-0")
            except Exception as exc:  # a failed read is what these tests look for
                failures.append(exc)
        await asyncio.sleep(0.005)


def has_name(session: ImageModelsSession, name: str) -> bool:
    catalog = session._warm.catalog or (session._cache.current and session._cache.current.catalog)
    return catalog is not None and catalog.get("model-0") is not None and (
        catalog["model-0"].name == name
    )


async def test_a_change_reaches_every_replica_and_each_tells_it_once(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """One replica fetches a change; the others get it by pub/sub, each calling back once."""
    leader = make_replica(refresh_interval=0.3)
    followers = [make_replica() for _ in range(3)]  # no refresher: only the fleet's news
    replicas = [leader, *followers]
    for replica in replicas:
        await replica.catalog()
    changes = [counting(replica) for replica in replicas]

    server.update_model("model-0", name="first change")
    await eventually(lambda: all(has_name(r, "first change") for r in replicas))
    server.update_model("model-0", name="second change")
    await eventually(lambda: all(has_name(r, "second change") for r in replicas))
    await eventually(lambda: all(len(c) == 2 for c in changes))

    for told in changes:
        assert [change.changed[0].after.name for change in told] == [
            "first change",
            "second change",
        ]
    assert sum(r.stats().fetches for r in followers) >= 2
    assert all(r.stats().role == "follower" for r in followers)
    assert all(r.stats().shared_installs == 3 for r in followers)


async def test_replicas_make_one_upstream_request_per_interval(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """Four replicas refreshing every 0.3 s ask NanoGPT about once per 0.3 s, not four times."""
    replicas = [make_replica(refresh_interval=0.3) for _ in range(4)]
    for replica in replicas:
        await replica.catalog()
    started = time.monotonic()
    before = server.request_count
    await server.wait_for_requests(before + 6, give_up_after=DEADLINE)
    elapsed = time.monotonic() - started
    # Solo, four replicas would send six requests in about half an interval.
    assert elapsed >= 5 * 0.3 * 0.9 - 0.1
    assert server.request_count - before <= 6 + 1


async def test_shared_backoff_honours_retry_after_for_the_whole_fleet(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """After a 503 with Retry-After: 2, no replica asks NanoGPT again for 2 s; reads never fail."""
    replicas = [make_replica(refresh_interval=0.2) for _ in range(3)]
    for replica in replicas:
        await replica.catalog()
    failures: list[BaseException] = []
    reader = asyncio.create_task(read_forever(replicas, failures))
    try:
        server.fail_next(100, 503, retry_after=2)
        before = server.request_count
        await server.wait_for_requests(before + 1, give_up_after=DEADLINE)
        failed_at = time.monotonic()
        await server.wait_for_requests(before + 2, give_up_after=DEADLINE)
        assert time.monotonic() - failed_at >= 2 * 0.95
        assert server.request_count == before + 2
    finally:
        reader.cancel()
    assert failures == []
    assert all(r.stats().source in ("stale", "network", "shared", "not_modified") for r in replicas)
