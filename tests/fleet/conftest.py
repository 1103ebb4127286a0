"""Real redis-server processes for the fleet tests, one per test, on free loopback ports.

Tests kill (SIGKILL), freeze (SIGSTOP) and restart them, so they are never
shared.  Without a ``redis-server`` binary the tests are skipped locally;
under CI (``CI=true``) they fail, so a runner that lost Redis is noticed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from nanogpt_images import ImageModelsSession
from nanogpt_images.redis import RedisCoordinator

from ._redis import RedisServer

if TYPE_CHECKING:
    from nanogpt_images.testing import FakeNanoGPT

MakeReplica = Callable[..., ImageModelsSession]


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = (
            "redis-server is not installed (Debian: apt-get install redis-server); "
            "the fleet tests need a real one"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty redis-server on a free loopback port, stopped at teardown."""
    server = RedisServer(_redis_binary())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def make_replica(
    redis_server: RedisServer, server: FakeNanoGPT
) -> AsyncIterator[MakeReplica]:
    """Build sessions sharing ``redis_server`` and ``server``: replicas of one fleet.

    Real time (Redis keeps real time), no retries, short coordinator timings;
    every replica made is closed at teardown.
    """
    made: list[ImageModelsSession] = []

    def make(coordinator: dict[str, Any] | None = None, **options: Any) -> ImageModelsSession:
        settings = {"op_timeout": 0.25, "check_interval": 0.1, "probe_interval": 0.2}
        settings.update(coordinator or {})
        options.setdefault("base_url", server.url)
        options.setdefault("max_retries", 0)
        options.setdefault("refresh_interval", None)
        options.setdefault("timeout", 2.0)
        session = ImageModelsSession(
            coordinator=RedisCoordinator(redis_server.url, **settings), **options
        )
        made.append(session)
        return session

    yield make
    for session in made:
        await session.close()
