"""How long a refresh blocks the event loop: a loop-lag probe during cold fetches and refreshes.

A probe task sleeps 1 ms again and again and records how late it wakes; the
largest delay is the longest the loop was blocked.  The catalog comes from a
server in a child process (its JSON encoding must not count as our lag, nor
its objects in our collector's walks), and every refresh brings a change,
one model or all of them, so reading, table building and the diff for a
subscriber all run.  The last row is a full garbage collection with the
catalog held, which any code may set off.  Target (issue 11): at most 30 ms
for 10,000 models.

    .venv/bin/python benchmarks/refresh_lag.py [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import big_body, fmt_time, machine, markdown_table, percentile, replace_section
from aiohttp import web

from nanogpt_images import ImageModelsSession

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

DOCS = Path(__file__).resolve().parent.parent / "docs"
TARGET = 0.030  # seconds, for 10,000 models
REFRESHES = ("cold fetch", "refresh with a change", "refresh, every model changed")
SIZES = (232, 10_000)


class ServerProcess:
    """A catalog server on 127.0.0.1 in a child process, so its objects are not in our heap.

    Its body (10,000 entries of JSON objects) would otherwise add to every
    garbage collection measured here; its encoding would add to the lag.
    ``bump()`` changes one model, ``bump_all()`` every model, between fetches.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.size)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(10)

    def bump(self) -> None:
        self._post("/bump")

    def bump_all(self) -> None:
        self._post("/bump-all")

    def _post(self, path: str) -> None:
        with urllib.request.urlopen(urllib.request.Request(self.url + path, method="POST")):
            pass


def serve(size: int) -> None:
    """The child process: serve ``big_body(size)`` and change it when told; print the URL."""
    body = big_body(size)
    state: dict[str, Any] = {"version": 0, "encoded": json.dumps(body).encode()}

    async def catalog(request: web.Request) -> web.Response:
        return web.Response(body=state["encoded"], content_type="application/json")

    async def bump(request: web.Request) -> web.Response:
        """Rename one model, so the next fetch brings one change."""
        state["version"] += 1
        version = state["version"]
        body["data"][version % len(body["data"])]["name"] = f"v{version}"
        state["encoded"] = json.dumps(body).encode()
        return web.Response()

    async def bump_all(request: web.Request) -> web.Response:
        """A new field in every model, so no model of the last read can be reused."""
        state["version"] += 1
        for entry in body["data"]:
            entry["revision"] = state["version"]
        state["encoded"] = json.dumps(body).encode()
        return web.Response()

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/api/v1/image-models", catalog)
        app.router.add_post("/bump", bump)
        app.router.add_post("/bump-all", bump_all)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


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


async def measure(size: int, rounds: int) -> tuple[dict[str, list[Probe]], int]:
    """Worst loop stall of each cold start and kind of refresh, for ``size`` models.

    Also returns how many objects the garbage collector tracked with the
    catalog held (the most of any round): what each full collection walks.
    """
    probes: dict[str, list[Probe]] = {what: [] for what in OPERATIONS}
    tracked = 0
    with ServerProcess(size) as server:
        for _ in range(rounds):
            session = ImageModelsSession(base_url=server.url, refresh_interval=None)
            async with session:
                probes["cold fetch"].append(await probe_lag(session.catalog))
                server.bump()
                probes["refresh with a change"].append(
                    await probe_lag(functools.partial(refresh_and_hear, session))
                )
                server.bump_all()
                probes["refresh, every model changed"].append(
                    await probe_lag(functools.partial(refresh_and_hear, session))
                )
                probes["full collection, catalog held"].append(await probe_lag(full_collection))
                tracked = max(tracked, len(gc.get_objects()))
            del session
            gc.collect()  # a closed session is cyclic garbage: not the next round's to collect
    return probes, tracked


OPERATIONS = (
    "cold fetch",
    "refresh with a change",
    "refresh, every model changed",
    "full collection, catalog held",
)


async def full_collection() -> None:
    """What CPython's full collection costs with the catalog alive (any code may set one off)."""
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    """Run the probe for each size, print the table, write it into docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    rows = []
    verdicts = []
    counts = []
    for size in SIZES:
        measured, tracked = asyncio.run(measure(size, args.rounds))
        counts.append(f"{tracked:,} with {size:,} models")
        for what, probes in measured.items():
            stalls = [stall for stall, _ in probes]
            rows.append(
                (
                    f"{size:,} models: {what}",
                    fmt_time(max(stalls)),
                    fmt_time(percentile(stalls, 50)),
                    fmt_time(max(pause for _, pause in probes)),
                    "≤ 30 ms" if size == 10_000 and what in REFRESHES else "",
                )
            )
        if size == 10_000:
            worst = max(stall for what in REFRESHES for stall, _ in measured[what])
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
            f"- objects the collector tracks in this process, catalog held: {'; '.join(counts)}",
        ]
    )
    print(report)
    if not args.no_write:
        replace_section(DOCS / "performance.md", "refresh_lag", report, title="Performance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
