"""examples/fastapi_fleet.py run for real: uvicorn with two workers sharing one Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from ._redis import _free_port

if TYPE_CHECKING:
    from nanogpt_images.testing import FakeNanoGPT

    from ._redis import RedisServer

EXAMPLES = Path(__file__).parents[2] / "examples"


async def test_two_workers_share_one_catalog(
    server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """Both workers serve the models; NanoGPT is asked once for the two of them."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = _free_port()
    env = {
        **os.environ,
        "NANOGPT_BASE_URL": server.url,
        "NANOGPT_REDIS_URL": redis_server.url,
    }
    env.pop("NANOGPT_API_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn",
        "--app-dir", str(EXAMPLES), "--factory", "fastapi_fleet:create_app",
        "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    seen: dict[int, dict[str, Any]] = {}
    try:
        async with aiohttp.ClientSession() as http:
            give_up = time.monotonic() + 40
            while len(seen) < 2:
                assert time.monotonic() < give_up, f"workers seen: {seen}"
                try:
                    async with http.get(f"{url}/models") as response:
                        assert response.status == 200
                        assert len(await response.json()) == 6
                    async with http.get(f"{url}/fleet", headers={"Connection": "close"}) as r:
                        status = await r.json()
                        seen[status["pid"]] = status
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)  # polling for the workers to listen
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 20)
    assert server.request_count == 1
    assert sorted(status["role"] for status in seen.values()) == ["follower", "leader"]
    assert {status["source"] for status in seen.values()} == {"network", "shared"}
