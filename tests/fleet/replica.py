"""One fleet replica in its own process, for the tests: ``python replica.py REDIS BASE INTERVAL``.

Prints ``ready N`` once it has a catalog of N models, ``change NAME`` for each
change of ``model-0`` its subscribers hear, and ``stats {...}`` when its stdin
closes, then exits.
"""

from __future__ import annotations

import asyncio
import json
import sys

from nanogpt_images import CatalogChange, ImageModelsSession
from nanogpt_images.redis import RedisCoordinator


def tell(change: CatalogChange) -> None:
    for changed in change.changed:
        print("change", changed.after.name, flush=True)


async def main(redis_url: str, base_url: str, interval: float) -> None:
    coordinator = RedisCoordinator(
        redis_url, op_timeout=0.25, check_interval=0.1, probe_interval=0.2
    )
    async with ImageModelsSession(
        base_url=base_url,
        refresh_interval=interval,
        max_retries=0,
        timeout=2.0,
        coordinator=coordinator,
    ) as session:
        catalog = await session.catalog()
        session.subscribe(tell)
        print("ready", len(catalog), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stats = session.stats()
        report = {"role": stats.role, "shared_installs": stats.shared_installs}
        print("stats", json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
