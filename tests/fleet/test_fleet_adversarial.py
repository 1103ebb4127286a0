"""Adversarial fleet tests: real redis-server processes, attacked; each test is a defect found."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from .test_fleet import eventually, has_name

if TYPE_CHECKING:
    from nanogpt_images.testing import FakeNanoGPT

    from ._redis import RedisServer
    from .conftest import MakeReplica

INTERVAL = 0.3


async def _requests_during(server: FakeNanoGPT, seconds: float) -> int:
    before = server.request_count
    await asyncio.sleep(seconds)
    return server.request_count - before


@pytest.mark.parametrize("emptied_by", ["restart", "flushall"])
async def test_an_emptied_redis_is_refilled_and_the_fleet_keeps_one_request_per_interval(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer, emptied_by: str
) -> None:
    """A Redis emptied under a quiet fleet is refilled from a replica, not refetched by all."""
    replicas = [make_replica(refresh_interval=INTERVAL) for _ in range(3)]
    for replica in replicas:
        await replica.catalog()
    copy_key = replicas[0]._fleet.coordinator.keys[0]  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    if emptied_by == "restart":
        redis_server.restart()  # back at once: the replicas reconnect without going solo
    else:
        async with aioredis.from_url(redis_server.url) as admin:
            await admin.flushall()
    await asyncio.sleep(1.0)  # time to notice and refill
    sent = await _requests_during(server, 2.0)
    async with aioredis.from_url(redis_server.url) as admin:
        refilled = await admin.exists(copy_key)
    # One request per 0.3 s interval for the fleet is about 7 in 2 s; solo, three replicas send 20.
    assert sent <= 2.0 / INTERVAL + 2, (
        f"{sent} upstream requests in 2 s from a 3-replica fleet (copy refilled: {bool(refilled)})"
    )
    assert refilled, "the emptied Redis was never refilled with the replicas' copy"


async def test_a_wrong_type_key_in_the_namespace_does_not_make_the_fleet_solo_for_good(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """A stray string at the copy key is treated as a bad shared copy, not as Redis being down."""
    first = make_replica(refresh_interval=INTERVAL)
    copy_key = first._fleet.coordinator.keys[0]  # type: ignore[union-attr]
    async with aioredis.from_url(redis_server.url) as admin:
        await admin.set(copy_key, b"left here by something else")
    await first.catalog()
    second = make_replica(refresh_interval=INTERVAL)
    await second.catalog()
    await asyncio.sleep(1.0)
    sent = await _requests_during(server, 2.0)
    roles = [first.stats().role, second.stats().role]
    assert "solo" not in roles, f"roles {roles} with Redis answering every call"
    assert sent <= 2.0 / INTERVAL + 2, f"{sent} upstream requests in 2 s from a 2-replica fleet"


async def test_a_lease_that_never_expires_does_not_stop_the_fleet_refreshing(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """A lease key with no expiry (or of the wrong type) must not freeze the catalog forever."""
    replica = make_replica(refresh_interval=INTERVAL)
    await replica.catalog()
    lease_key = replica._fleet.coordinator.keys[1]  # type: ignore[union-attr]
    async with aioredis.from_url(redis_server.url) as admin:
        await admin.set(lease_key, "left by an old deployment")  # no PX
    server.update_model("model-0", name="changed upstream")
    await eventually(lambda: has_name(replica, "changed upstream"), within=5.0)


async def test_a_cold_read_does_not_wait_minutes_for_a_crashed_lease_holder(
    make_replica: MakeReplica, server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """A cold replica whose sibling died holding the lease (215 s by default) gets a catalog."""
    replica = make_replica()
    lease_key = replica._fleet.coordinator.keys[1]  # type: ignore[union-attr]
    async with aioredis.from_url(redis_server.url) as admin:
        # What a replica with the default lease leaves behind when it is SIGKILLed mid-fetch.
        await admin.set(lease_key, "token-of-a-dead-replica", px=215_000)
    started = time.monotonic()
    try:
        async with asyncio.timeout(5.0):
            catalog = await replica.catalog()
    except TimeoutError:
        pytest.fail(
            f"the cold read was still waiting after {time.monotonic() - started:.1f} s "
            f"({server.request_count} upstream requests): it waits for the dead holder's lease"
        )
    assert len(catalog) == 6
