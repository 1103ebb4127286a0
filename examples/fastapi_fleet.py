"""A FastAPI app run as several workers that share one catalog through Redis.

Needs ``pip install 'nanogpt-images[redis]' fastapi uvicorn`` and a Redis::

    NANOGPT_REDIS_URL=redis://localhost:6379/0 \\
        uvicorn --workers 4 --factory examples.fastapi_fleet:create_app

Each worker process opens its own ``ImageModelsSession`` with its own
``RedisCoordinator`` in the app's lifespan.  The workers then ask NanoGPT
about once per refresh interval between them (not once each), a worker
started during a NanoGPT outage serves its siblings' copy at once, and a
change reaches every worker within a fraction of a second.  If Redis goes
away, each worker carries on alone and rejoins when it is back.

``GET /models`` lists the models; ``GET /fleet`` shows this worker's role.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from nanogpt_images import CacheStats, ImageModelsSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI


def fleet_status(stats: CacheStats) -> dict[str, Any]:
    """What ``GET /fleet`` answers: this worker's pid, role and where its copy came from."""
    return {
        "pid": os.getpid(),
        "role": stats.role,
        "source": stats.source,
        "shared_installs": stats.shared_installs,
        "coordinator_errors": stats.coordinator_errors,
    }


def create_app(**session_options: Any) -> FastAPI:
    """The app; Redis from ``$NANOGPT_REDIS_URL``, ``session_options`` to the session."""
    from fastapi import FastAPI

    from nanogpt_images.redis import RedisCoordinator

    redis_url = os.environ.get("NANOGPT_REDIS_URL", "redis://localhost:6379/0")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One coordinator per session, made in the worker process (never shared by a fork).
        coordinator = RedisCoordinator(redis_url)
        async with ImageModelsSession(coordinator=coordinator, **session_options) as session:
            app.state.nanogpt = session
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/models")
    async def models() -> list[dict[str, Any]]:
        session: ImageModelsSession = app.state.nanogpt
        return [{"id": model.id, "name": model.name} for model in await session.catalog()]

    @app.get("/fleet")
    async def fleet() -> dict[str, Any]:
        session: ImageModelsSession = app.state.nanogpt
        return fleet_status(session.stats())

    return app
