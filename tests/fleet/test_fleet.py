"""Fleet mode end to end: sessions sharing one real redis-server and one FakeNanoGPT."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from nanogpt_images import ImageModelsSession
from nanogpt_images.redis import RedisCoordinator

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nanogpt_images import CatalogChange
    from nanogpt_images.testing import FakeNanoGPT

    from ._redis import RedisServer
    from .conftest import MakeReplica

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
    assert stats.fetches == 1
    assert stats.coordinator_errors == 0


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
    return (
        catalog is not None
        and catalog.get("model-0") is not None
        and (catalog["model-0"].name == name)
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


@pytest.mark.parametrize("outage", ["killed, restarted empty", "frozen"])
async def test_a_redis_outage_loses_no_read_and_no_change(
    make_replica: MakeReplica,
    server: FakeNanoGPT,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    outage: str,
) -> None:
    """Redis killed or frozen: solo within a second, still refreshing; rejoined within 5 s."""
    caplog.set_level(logging.INFO, "nanogpt_images")
    killed = outage.startswith("killed")
    cut, mend = redis_server.kill, redis_server.start
    if not killed:
        cut, mend = redis_server.freeze, redis_server.thaw
    replicas = [make_replica(refresh_interval=0.3) for _ in range(2)]
    for replica in replicas:
        await replica.catalog()
    changes = [counting(replica) for replica in replicas]
    failures: list[BaseException] = []
    reader = asyncio.create_task(read_forever(replicas, failures))
    try:
        cut()
        cut_at = time.monotonic()
        await eventually(lambda: all(r.stats().role == "solo" for r in replicas))
        assert time.monotonic() - cut_at < 1.0
        server.update_model("model-0", name="during the outage")
        await eventually(lambda: all(has_name(r, "during the outage") for r in replicas))

        mend()
        mended_at = time.monotonic()
        await eventually(lambda: all(r.stats().role != "solo" for r in replicas))
        assert time.monotonic() - mended_at < 5.0
        if killed:  # an empty Redis is refilled from a replica's copy, not refetched
            await eventually(lambda: "refilled the fleet's empty coordinator" in caplog.text)

        server.update_model("model-0", name="after the outage")
        await eventually(lambda: all(has_name(r, "after the outage") for r in replicas))
        await eventually(lambda: all(len(c) == 2 for c in changes))
    finally:
        reader.cancel()
    assert failures == []
    assert all(r.stats().coordinator_errors > 0 for r in replicas)


async def test_killed_pubsub_connections_resubscribe_and_catch_up(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """CLIENT KILL TYPE pubsub: followers resubscribe, compare versions and still get changes."""
    leader = make_replica(refresh_interval=0.3)
    followers = [make_replica() for _ in range(2)]  # only news tells them
    for replica in (leader, *followers):
        await replica.catalog()
    changes = [counting(follower) for follower in followers]
    admin = aioredis.from_url(redis_server.url)
    try:
        killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 2
        server.update_model("model-0", name="after the kill")
        await eventually(lambda: all(has_name(r, "after the kill") for r in followers))
    finally:
        await admin.aclose()
    assert [len(c) for c in changes] == [1, 1]
    assert all(r.stats().role == "follower" for r in followers)
    assert all(r.stats().coordinator_errors == 0 for r in followers)


async def test_a_late_lease_holder_cannot_overwrite_a_newer_copy(
    redis_server: RedisServer,
) -> None:
    """Fencing: a writer whose lease ran out, or that started from an old version, is refused."""
    late = RedisCoordinator(redis_server.url)
    prompt = RedisCoordinator(redis_server.url)
    for coordinator in (late, prompt):
        coordinator.bind("http://127.0.0.1:1/api/v1/image-models?detailed=true")
    admin = aioredis.from_url(redis_server.url)
    try:
        token = await late.acquire(0.2)
        assert token is not None
        first = await late.commit(token, None, b"first", etag=None, last_modified=None)
        assert first is not None
        assert await prompt.acquire(5) is None  # held
        give_up = time.monotonic() + DEADLINE
        while await admin.exists(late.keys[1]):  # the lease runs out on Redis's clock
            assert time.monotonic() < give_up
            await asyncio.sleep(0.01)
        newer = await prompt.acquire(5)
        assert newer is not None
        second = await prompt.commit(newer, first, b"second", etag='"2"', last_modified=None)
        assert second is not None

        assert await late.commit(token, first, b"stale", etag=None, last_modified=None) is None
        assert not await late.renew(token, second, etag=None, last_modified=None)
        await late.back_off(token, 60, failures=1, error="late")
        assert await prompt.commit(newer, first, b"stale", etag=None, last_modified=None) is None

        shared = await late.load()
        assert shared is not None
        assert shared.body == b"second"
        assert shared.etag == '"2"'
        assert (await late.state()).backoff == 0
        await late.release(token)  # not its lease any more: nothing happens
        assert await admin.get(late.keys[1]) == newer.encode()
    finally:
        await admin.aclose()
        await late.close()
        await prompt.close()


async def test_a_corrupt_shared_body_is_ignored_and_replaced(
    make_replica: MakeReplica, server: FakeNanoGPT, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage in Redis is not served: the replica warns, fetches itself and shares a good copy."""
    first = make_replica()
    coordinator = first._fleet.coordinator  # type: ignore[union-attr]
    await coordinator.commit(None, None, b"<html>oops</html>", etag=None, last_modified=None)
    catalog = await first.catalog()
    assert len(catalog) == 6
    assert server.request_count == 1
    assert "ignoring the fleet's shared catalog" in caplog.text

    second = make_replica()
    assert len(await second.catalog()) == 6
    assert second.stats().source == "shared"
    assert server.request_count == 1


async def test_an_oversized_shared_body_is_ignored(
    make_replica: MakeReplica, server: FakeNanoGPT, caplog: pytest.LogCaptureFixture
) -> None:
    """A shared body over max_body_bytes is not loaded; the replica fetches its own copy."""
    first = make_replica()
    await first.catalog()
    small = make_replica(coordinator={"max_body_bytes": 100})
    assert len(await small.catalog()) == 6
    assert server.request_count == 2
    assert "over the 100-byte limit" in caplog.text
    assert small.stats().shared_installs == 0


async def test_close_leaves_no_task_and_no_redis_connection(
    make_replica: MakeReplica, redis_server: RedisServer
) -> None:
    """After close(), no fleet task runs and Redis sees no connection of ours."""
    replicas = [make_replica(refresh_interval=0.3) for _ in range(3)]
    for replica in replicas:
        await replica.catalog()
    for replica in replicas:
        await replica.close()
    ours = [t for t in asyncio.all_tasks() if t.get_name().startswith("nanogpt_images")]
    assert ours == []
    admin = aioredis.from_url(redis_server.url)
    try:
        clients = await admin.client_list()
        assert len(clients) == 1  # the admin connection itself
    finally:
        await admin.aclose()


async def test_no_key_reaches_redis_and_all_keys_share_one_hash_tag(
    make_replica: MakeReplica, redis_server: RedisServer
) -> None:
    """Nothing in Redis holds the API key; every key carries the same {hash tag}."""
    secret = "sk-live-never-in-redis-0123456789"
    replica = make_replica(api_key=secret, refresh_interval=0.3)
    await replica.catalog()
    admin = aioredis.from_url(redis_server.url)
    try:
        keys = [key.decode() for key in await admin.keys("*")]
        assert {key.split("}")[0] for key in keys} == {keys[0].split("}")[0]}
        assert all(key.startswith("nanogpt_images:{") for key in keys)
        for key in keys:
            kind = (await admin.type(key)).decode()
            dump = await admin.hgetall(key) if kind == "hash" else {b"": await admin.get(key)}
            assert all(secret.encode() not in (v or b"") for v in dump.values())
    finally:
        await admin.aclose()


class ReplicaProcess:
    """A replica run as its own Python process (tests/fleet/replica.py)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, redis_url: str, base_url: str, interval: float) -> ReplicaProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("replica.py")),
            redis_url,
            base_url,
            str(interval),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def wait_for(self, prefix: str) -> str:
        """The next line of output starting with ``prefix`` (gives up after the deadline)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(DEADLINE * 2):
            while True:
                line = (await self.process.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"the replica ended before saying {prefix!r}")
                self.lines.append(line.strip())
                if line.startswith(prefix):
                    return line.strip()

    async def stop(self) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        stats = json.loads((await self.wait_for("stats")).split(" ", 1)[1])
        await self.process.wait()
        return stats  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def test_replicas_in_other_processes_share_the_catalog(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """Two processes and two in-process replicas: one request per interval, one call per change."""
    local = [make_replica(refresh_interval=0.3) for _ in range(2)]
    await local[0].catalog()
    processes = [await ReplicaProcess.start(redis_server.url, server.url, 0.3) for _ in range(2)]
    try:
        for process in processes:
            assert await process.wait_for("ready") == "ready 6"
        await local[1].catalog()
        changes = [counting(replica) for replica in local]

        server.update_model("model-0", name="everywhere")
        for process in processes:
            assert await process.wait_for("change") == "change everywhere"
        await eventually(lambda: all(has_name(r, "everywhere") for r in local))

        before = server.request_count
        started = time.monotonic()
        await server.wait_for_requests(before + 4, give_up_after=DEADLINE)
        assert time.monotonic() - started >= 3 * 0.3 * 0.9 - 0.1  # solo: four in ~0.3 s
        reports = [await process.stop() for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert [len(c) for c in changes] == [1, 1]
    assert all(line != "change everywhere" for p in processes for line in p.lines[2:])
    assert all(report["shared_installs"] for report in reports)


async def test_a_stale_shared_copy_is_taken_cold_then_renewed_in_the_background(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """A cold replica serves a stale shared copy at once, then revalidates it with its ETag."""
    first = make_replica()
    await first.catalog()
    coordinator = first._fleet.coordinator  # type: ignore[union-attr]
    give_up = time.monotonic() + DEADLINE
    while (await coordinator.state()).age < 0.3:  # let the shared copy age on Redis's clock
        assert time.monotonic() < give_up
        await asyncio.sleep(0.02)

    late = make_replica(ttl=0.3)
    assert len(await late.catalog()) == 6
    assert late.stats().shared_installs == 1
    await server.wait_for_requests(2, give_up_after=DEADLINE)
    assert server.requests[1].headers.get("if-none-match")
    await eventually(lambda: late.stats().source == "not_modified")
    assert late.stats().role == "leader"
    assert (await coordinator.state()).age < 0.3  # the 304 renewed the shared copy too


async def test_a_dropped_fleet_session_stops_its_background_work(
    server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """A fleet session garbage-collected unclosed warns and leaves no fleet task running."""
    session = ImageModelsSession(
        base_url=server.url,
        refresh_interval=None,
        coordinator=RedisCoordinator(redis_server.url, check_interval=0.05),
    )
    await session.catalog()
    with pytest.warns(ResourceWarning, match="unclosed ImageModelsSession"):
        del session

    def fleet_tasks() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name().startswith("nanogpt_images fleet")]

    await eventually(lambda: fleet_tasks() == [])


async def test_a_shared_copy_of_another_scope_is_ignored(
    make_replica: MakeReplica,
    server: FakeNanoGPT,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A shared copy that says it belongs to another catalog URL is never served here."""
    first = make_replica()
    await first.catalog()
    coordinator = first._fleet.coordinator  # type: ignore[union-attr]
    admin = aioredis.from_url(redis_server.url)
    try:
        await admin.hset(coordinator.keys[0], "scope", "https://elsewhere.example/x")
    finally:
        await admin.aclose()
    second = make_replica()
    assert len(await second.catalog()) == 6
    assert server.request_count == 2
    assert second.stats().shared_installs == 0
    assert "belongs to https://elsewhere.example/x" in caplog.text


async def test_an_unusable_shared_copy_does_not_make_a_replica_fetch_again_and_again(
    make_replica: MakeReplica, server: FakeNanoGPT
) -> None:
    """A replica that cannot use the shared copy fetches once, not at every version check."""
    first = make_replica()
    await first.catalog()
    small = make_replica(coordinator={"max_body_bytes": 100})
    await small.catalog()
    checks = small._fleet.checks  # type: ignore[union-attr]
    await eventually(lambda: small._fleet.checks >= checks + 5)  # type: ignore[union-attr]
    assert server.request_count == 2


async def test_a_leader_whose_base_changed_keeps_its_copy_but_does_not_share_it(
    make_replica: MakeReplica,
    server: FakeNanoGPT,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A commit on top of a version that changed meanwhile is refused; reads still get the copy."""
    caplog.set_level(logging.INFO, "nanogpt_images")
    replica = make_replica()
    server.hold()
    reading = asyncio.create_task(replica.catalog())
    await server.wait_for_requests(1)
    coordinator = replica._fleet.coordinator  # type: ignore[union-attr]
    admin = aioredis.from_url(redis_server.url)
    try:
        await admin.hset(coordinator.keys[0], "version", "written-meanwhile")
        server.release()
        assert len(await reading) == 6
        assert (await coordinator.state()).version == "written-meanwhile"
    finally:
        await admin.aclose()
    assert "its copy is not shared" in caplog.text


async def test_a_frozen_lease_holder_cannot_overwrite_the_newer_copy(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """A replica process frozen (SIGSTOP) mid-fetch past its lease wakes up and is refused."""
    server.hold()
    frozen = await ReplicaProcess.start(redis_server.url, server.url, 60.0)
    admin = aioredis.from_url(redis_server.url)
    try:
        await server.wait_for_requests(1, give_up_after=DEADLINE * 2)  # it holds the lease
        keys = [key.decode() for key in await admin.keys("*:lease")]
        assert len(keys) == 1
        os.kill(frozen.process.pid, signal.SIGSTOP)
        await admin.delete(keys[0])  # its lease runs out (as PX would, only sooner)
        server.respond_next(200, copy.deepcopy(server.catalog))  # its answer: the old catalog
        server.update_model("model-0", name="newer")
        server.release()  # that answer now waits in the frozen replica's socket

        prompt = make_replica()
        assert (await prompt.get_model("model-0")).name == "newer"
        assert prompt.stats().role == "leader"

        os.kill(frozen.process.pid, signal.SIGCONT)
        assert await frozen.wait_for("ready") == "ready 6"
        assert await frozen.wait_for("change") == "change newer"  # it took the newer copy
        coordinator = prompt._fleet.coordinator  # type: ignore[union-attr]
        shared = await coordinator.load()
        assert shared is not None
        assert b'"newer"' in shared.body
        await frozen.stop()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen.process.pid, signal.SIGCONT)
        frozen.kill()
        await admin.aclose()


async def test_a_redis_restarted_empty_after_a_short_outage_is_refilled_not_refetched(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """An outage shorter than a refresh (no solo fetch): a replica still refills the empty Redis."""
    replicas = [make_replica(refresh_interval=60.0) for _ in range(2)]
    for replica in replicas:
        await replica.catalog()
    assert server.request_count == 1
    redis_server.kill()
    await eventually(lambda: all(r.stats().role == "solo" for r in replicas))
    redis_server.start()  # empty
    await eventually(lambda: all(r.stats().role != "solo" for r in replicas))
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await eventually_async(lambda: _has_keys(client))
    finally:
        await client.aclose()
    newcomer = make_replica()
    await newcomer.catalog()
    assert newcomer.stats().source == "shared"
    assert server.request_count == 1  # nobody asked NanoGPT again


async def _has_keys(client: aioredis.Redis) -> bool:
    return bool(await client.keys("*"))


async def eventually_async(
    condition: Callable[[], Awaitable[bool]], *, within: float = DEADLINE
) -> None:
    """Poll an async ``condition`` until it holds; fail after ``within`` real seconds."""
    give_up = time.monotonic() + within
    while not await condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"still false after {within} s: {condition}")
        await asyncio.sleep(0.01)
