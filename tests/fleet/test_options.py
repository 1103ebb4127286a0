"""Fleet mode without a server: what is checked at construction, and life without redis-py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from nanogpt_images import Coordinator, ImageModelsSession
from nanogpt_images.redis import RedisCoordinator

if TYPE_CHECKING:
    from nanogpt_images.testing import FakeNanoGPT


def test_the_core_imports_and_works_without_redis_installed() -> None:
    """With redis-py hidden, the package imports and runs; only .redis says what is missing."""
    script = textwrap.dedent(
        """
        import asyncio, sys

        class HideRedis:
            def find_spec(self, name, path=None, target=None):
                if name == "redis" or name.startswith("redis."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, HideRedis())
        import nanogpt_images
        from nanogpt_images.testing import FakeNanoGPT

        async def main():
            async with FakeNanoGPT() as fake:
                async with nanogpt_images.ImageModelsSession(base_url=fake.url) as session:
                    print(len(await session.catalog()), session.stats().role)

        asyncio.run(main())
        assert "redis" not in sys.modules
        try:
            import nanogpt_images.redis
        except ImportError as exc:
            print(exc)
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0].endswith(" None")
    assert "pip install 'nanogpt-images[redis]'" in lines[1]


def test_a_redis_coordinator_is_a_coordinator() -> None:
    """RedisCoordinator satisfies the exported Coordinator protocol."""
    assert isinstance(RedisCoordinator("redis://127.0.0.1:1/0"), Coordinator)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"client_or_url": "http://127.0.0.1:6379"}, ValueError, "redis://, rediss:// or unix://"),
        ({"client_or_url": 6379}, TypeError, "not int"),
        ({"namespace": ""}, ValueError, "non-empty string without braces"),
        ({"namespace": "a{b}"}, ValueError, "without braces"),
        ({"namespace": 3}, TypeError, "namespace must be a string"),
        ({"op_timeout": 0}, ValueError, "op_timeout must be a positive"),
        ({"check_interval": "1"}, TypeError, "check_interval must be a number"),
        ({"probe_interval": -1}, ValueError, "probe_interval must be a positive"),
        ({"max_body_bytes": 0}, ValueError, "max_body_bytes must be 1 or more"),
        ({"max_body_bytes": 1.5}, TypeError, "max_body_bytes must be a whole number"),
    ],
)
def test_bad_options_say_what_would_be_right(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Each bad RedisCoordinator option is a typed error naming the option and what it takes."""
    options.setdefault("client_or_url", "redis://127.0.0.1:1/0")
    with pytest.raises(error, match=message.replace("(", r"\(")):
        RedisCoordinator(**options)  # type: ignore[arg-type]


def test_the_repr_never_shows_a_password() -> None:
    """A URL's user and password stay out of the coordinator's repr."""
    coordinator = RedisCoordinator("redis://user:hunter2@127.0.0.1:6390/2")
    assert "hunter2" not in repr(coordinator)
    assert repr(coordinator) == (
        "RedisCoordinator(redis://127.0.0.1:6390/2, namespace='nanogpt_images')"
    )


async def test_a_borrowed_client_is_not_closed() -> None:
    """A coordinator built on the caller's client leaves that client open at close()."""
    client = aioredis.Redis(host="127.0.0.1", port=1)
    coordinator = RedisCoordinator(client, namespace="mine")
    assert "borrowed" in repr(coordinator)
    async with ImageModelsSession(base_url="http://127.0.0.1:1", coordinator=coordinator):
        pass
    assert client.connection_pool is not None  # still usable: aclose() was not called on it
    await client.aclose()


def test_a_coordinator_serves_one_session_only() -> None:
    """Sharing one coordinator between sessions of different catalogs is refused at once."""
    coordinator = RedisCoordinator("redis://127.0.0.1:1/0")
    ImageModelsSession(base_url="http://127.0.0.1:1", coordinator=coordinator)
    with pytest.raises(ValueError, match="give each session its own RedisCoordinator"):
        ImageModelsSession(base_url="http://127.0.0.1:2", coordinator=coordinator)


def test_the_coordinator_option_is_checked() -> None:
    """Something that is not a Coordinator is a TypeError naming what would be right."""
    with pytest.raises(TypeError, match="coordinator must be a Coordinator"):
        ImageModelsSession(coordinator="redis://localhost")  # type: ignore[arg-type]


def test_keys_differ_by_route_detailed_and_base_url() -> None:
    """Copies of different origins or shapes never share keys."""
    keys = set()
    for base, detailed in [("http://a", True), ("http://a", False), ("http://b", True)]:
        coordinator = RedisCoordinator("redis://127.0.0.1:1/0")
        ImageModelsSession(base_url=base, detailed=detailed, coordinator=coordinator)
        keys.add(coordinator.keys)
    assert len(keys) == 3


async def test_a_replica_starts_and_serves_with_redis_unreachable(server: FakeNanoGPT) -> None:
    """No Redis at all (a closed port): the first read still works, the replica is solo."""
    coordinator = RedisCoordinator("redis://127.0.0.1:1/0", op_timeout=0.2)
    async with ImageModelsSession(
        base_url=server.url, refresh_interval=None, max_retries=0, coordinator=coordinator
    ) as session:
        assert len(await session.catalog()) == 6
        stats = session.stats()
    assert stats.role == "solo"
    assert stats.source == "network"
    assert stats.coordinator_errors >= 1
