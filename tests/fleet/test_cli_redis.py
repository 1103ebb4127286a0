"""``nanogpt-images watch --redis URL``: watchers that share one catalog through Redis."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import TYPE_CHECKING

from nanogpt_images._cli import main

if TYPE_CHECKING:
    import pytest

    from nanogpt_images.testing import FakeNanoGPT

    from ._redis import RedisServer


async def watcher(base_url: str, redis_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nanogpt_images",
        "--base-url", base_url,
        "watch", "--interval", "0.3", "--redis", redis_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Ctrl-C must reach it even when this test runs in a background job, which ignores it.
        preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_watchers_sharing_redis_print_each_change_once(
    server: FakeNanoGPT, redis_server: RedisServer
) -> None:
    """Two ``watch --redis`` processes both print a change, which NanoGPT was asked for once."""
    processes = [await watcher(server.url, redis_server.url) for _ in range(2)]
    try:
        for process in processes:
            assert process.stdout is not None
            banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
            assert banner.startswith("watching 6 models at ")
            assert f"sharing through RedisCoordinator({redis_server.url}" in banner
        server.update_model("model-1", name="Renamed")
        for process in processes:
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
            assert line.endswith("~ model-1: name\n")
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            await asyncio.wait_for(process.communicate(), 20)
    assert all(process.returncode == 0 for process in processes)


async def test_a_bad_redis_url_is_a_usage_error(
    server: FakeNanoGPT, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--redis`` with a URL that is not redis:// exits 2 saying what would be right."""
    code = await asyncio.to_thread(
        main, ["--base-url", server.url, "watch", "--redis", "http://localhost:6379"]
    )
    assert code == 2
    assert "redis://, rediss:// or unix://" in capsys.readouterr().err


async def test_watch_says_when_redis_does_not_answer_at_start(server: FakeNanoGPT) -> None:
    """``watch --redis`` at a Redis that is not there says it watches alone, not "sharing"."""
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = await watcher(server.url, f"redis://127.0.0.1:{port}/0")
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "alone for now" in banner
        assert "does not answer (it is retried)" in banner
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), 20)
