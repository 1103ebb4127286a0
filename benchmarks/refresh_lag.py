"""How long a refresh blocks the event loop: a loop-lag probe during cold fetches and refreshes.

A probe task sleeps 1 ms again and again and records how late it wakes; the
largest delay is the longest the loop was blocked.  The catalog comes from a
server in another thread (its JSON encoding must not count as our lag), and
every refresh brings a change, so parsing, table building and the diff for a
subscriber all run.  Target (issue 11): at most 30 ms for 10,000 models.

    .venv/bin/python benchmarks/refresh_lag.py [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import big_body, fmt_time, machine, markdown_table, percentile, replace_section
from aiohttp import web

from nanogpt_images import ImageModelsSession

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

DOCS = Path(__file__).resolve().parent.parent / "docs"
TARGET = 0.030  # seconds, for 10,000 models
SIZES = (232, 10_000)


class ThreadedServer:
    """A catalog server on 127.0.0.1 in its own thread and loop; ``bump()`` changes the body."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.version = 0
        self._encoded = json.dumps(body).encode()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def bump(self) -> None:
        """Rename one model, so the next fetch brings a change (encoded here, not in our loop)."""
        self.version += 1
        self.body["data"][self.version % len(self.body["data"])]["name"] = f"v{self.version}"
        self._encoded = json.dumps(self.body).encode()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/api/v1/image-models", self._serve)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(body=self._encoded, content_type="application/json")


@contextlib.contextmanager
def gc_pauses() -> Iterator[list[float]]:
    """The length of each garbage collection while the block runs (any thread's)."""
    pauses: list[float] = []
    started = 0.0

    def callback(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started)

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)


async def probe_lag(work: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """The worst lateness of a 1 ms sleeper while ``work`` ran, and the longest GC pause."""
    delays: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            delays.append(time.perf_counter() - start - 0.001)

    task = asyncio.ensure_future(probe())
    await asyncio.sleep(0.01)
    with gc_pauses() as pauses:
        try:
            await work()
            await asyncio.sleep(0.01)  # what finishes after work() counts too
        finally:
            done.set()
            await task
    return max(delays), max(pauses, default=0.0)


Probe = tuple[float, float]  # worst loop stall, longest GC pause


async def refresh_and_hear(session: ImageModelsSession) -> None:
    """Refresh, and wait until a subscriber heard the change (the diff runs after refresh())."""
    heard = asyncio.Event()
    unsubscribe = session.subscribe(lambda _change: heard.set())
    try:
        await session.refresh()
        await heard.wait()
    finally:
        unsubscribe()


async def measure(size: int, rounds: int) -> tuple[list[Probe], list[Probe]]:
    """Worst loop stall of each cold start and each refresh, for a catalog of ``size`` models."""
    cold: list[Probe] = []
    warm: list[Probe] = []
    with ThreadedServer(big_body(size)) as server:
        for _ in range(rounds):
            session = ImageModelsSession(base_url=server.url, refresh_interval=None)
            async with session:
                cold.append(await probe_lag(session.catalog))
                server.bump()
                warm.append(await probe_lag(functools.partial(refresh_and_hear, session)))
    return cold, warm


def main(argv: list[str] | None = None) -> int:
    """Run the probe for each size, print the table, write it into docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args(argv)
    rows = []
    verdicts = []
    for size in SIZES:
        cold, warm = asyncio.run(measure(size, args.rounds))
        for what, probes in (("cold fetch", cold), ("refresh with a change", warm)):
            stalls = [stall for stall, _ in probes]
            rows.append(
                (
                    f"{size:,} models: {what}",
                    fmt_time(max(stalls)),
                    fmt_time(percentile(stalls, 50)),
                    fmt_time(max(pause for _, pause in probes)),
                    "≤ 30 ms" if size == 10_000 else "",
                )
            )
        if size == 10_000:
            worst = max(stall for stall, _ in cold + warm)
            verdicts.append(
                f"longest stall at 10,000 models: {fmt_time(worst)} "
                f"({'met' if worst <= TARGET else 'missed'}, target 30 ms)"
            )
    report = "\n".join(
        [
            f"Measured on {machine()}.",
            f"`python benchmarks/refresh_lag.py --rounds {args.rounds}`: the longest the event "
            "loop was blocked (a 1 ms sleeper's worst lateness) during each operation.",
            "",
            markdown_table(
                (
                    "operation",
                    "worst stall, all rounds",
                    "median round",
                    "longest GC pause",
                    "target",
                ),
                rows,
            ),
            "",
            *(f"- {line}" for line in verdicts),
        ]
    )
    print(report)
    if not args.no_write:
        replace_section(DOCS / "performance.md", "refresh_lag", report, title="Performance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
