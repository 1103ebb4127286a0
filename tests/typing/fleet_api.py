"""Type-checked only (mypy --strict): fleet mode reads as users will write it."""

from __future__ import annotations

import redis.asyncio

from nanogpt_images import CacheStats, Coordinator, ImageModelsSession
from nanogpt_images.redis import RedisCoordinator


async def fleet() -> None:
    coordinator: Coordinator = RedisCoordinator("redis://localhost:6379/0", op_timeout=0.25)
    async with ImageModelsSession(coordinator=coordinator) as session:
        stats: CacheStats = session.stats()
        role: str | None = stats.role
        installs: int = stats.shared_installs + stats.coordinator_errors
        assert role or installs >= 0
    client = redis.asyncio.Redis()
    borrowed = RedisCoordinator(client, namespace="my-bot")
    async with ImageModelsSession(coordinator=borrowed):
        pass
    await client.aclose()
