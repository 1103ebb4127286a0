"""Fleet mode under load: N replica processes sharing one Redis, through changes and a restart.

    python benchmarks/fleet.py                       # N = 1, 4, 16; 60 s each
    python benchmarks/fleet.py --replicas 4 --seconds 20

Needs ``redis-server`` on PATH (its own process on a free port) and redis-py.
Each replica is this script run with ``--replica``: an ``ImageModelsSession``
with a ``RedisCoordinator`` refreshing every ``--interval`` seconds (2 s),
reading ``get_model`` in a loop and reporting its role changes, each catalog
change it is told of, its read failures and the oldest copy it served.  The
parent serves the catalog from a ``FakeNanoGPT``, renames a model every 5 s,
kills Redis at 1/3 of the run and restarts it (empty) at 1/2.

Reported per N: upstream requests per refresh interval (while Redis is up,
and while it is down: solo, that is N), time from the first replica having a
change (the leader, right after its commit) to the last (p50/p99/max; changes
made while Redis is down or rejoining are left out, since each replica then
fetches on its own schedule), time
to go solo after the kill and to rejoin after the restart, the largest age
of a served copy, failed reads; and the warm-read cost of ``get_model`` with
and without a coordinator, in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from nanogpt_images import ImageModelsSession
from nanogpt_images.redis import RedisCoordinator
from nanogpt_images.testing import FakeNanoGPT, catalog_payload, model_payload

CHANGE_EVERY = 5.0


# -- one replica (a child process) ------------------------------------------------


async def replica(redis_url: str, base_url: str, interval: float) -> None:
    """Run one replica until stdin closes, printing JSON events on stdout."""

    def say(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)

    coordinator = RedisCoordinator(redis_url)
    async with ImageModelsSession(
        base_url=base_url, refresh_interval=interval, max_retries=0, coordinator=coordinator
    ) as session:
        await session.catalog()

        def told(change: Any) -> None:
            for changed in change.changed:
                say("change", name=changed.after.name)

        session.subscribe(told)
        say("ready", pid=os.getpid())
        stdin_closed = asyncio.ensure_future(
            asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        )
        role, oldest, failures, reads = None, 0.0, 0, 0
        while not stdin_closed.done():
            for _ in range(100):
                try:
                    await session.get_model("model-0")
                    reads += 1
                except Exception:
                    failures += 1
            stats = session.stats()
            if stats.role != role:
                role = stats.role
                say("role", role=role)
            oldest = max(oldest, stats.age or 0.0)
            await asyncio.sleep(0.01)
        say("final", oldest=oldest, failures=failures, reads=reads)


# -- the parent -------------------------------------------------------------------


class Redis:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not on PATH (Debian: apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.01)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


async def run_fleet(n: int, seconds: float, interval: float) -> dict[str, Any]:
    redis = Redis()
    redis.start()
    catalog = catalog_payload([model_payload(f"model-{i}") for i in range(20)])
    async with FakeNanoGPT(catalog) as fake:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--replica",
                redis.url,
                fake.url,
                str(interval),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(n)
        ]
        events: list[list[dict[str, Any]]] = [[] for _ in children]
        ready = [asyncio.Event() for _ in children]

        async def read(index: int, child: asyncio.subprocess.Process) -> None:
            assert child.stdout is not None
            async for line in child.stdout:
                event = json.loads(line)
                events[index].append(event)
                if event["event"] == "ready":
                    ready[index].set()

        readers = [asyncio.create_task(read(i, c)) for i, c in enumerate(children)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 120)

        started = time.time()
        kill_at, restart_at = started + seconds / 3, started + seconds / 2
        changed_at: dict[str, float] = {}
        requests: list[tuple[float, int]] = []
        killed = restarted = False
        next_change = started + CHANGE_EVERY
        while (now := time.time()) < started + seconds:
            requests.append((now, fake.request_count))
            if now >= next_change:
                name = f"v{len(changed_at) + 1}"
                fake.update_model("model-0", name=name)
                changed_at[name] = now
                next_change += CHANGE_EVERY
            if not killed and now >= kill_at:
                redis.kill()
                killed = True
            if not restarted and now >= restart_at:
                redis.start()
                restarted = True
            await asyncio.sleep(0.02)
        requests.append((time.time(), fake.request_count))
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        await asyncio.wait_for(asyncio.gather(*readers), 60)
        for child in children:
            await child.wait()
    redis.kill()
    return summarise(n, interval, events, changed_at, requests, kill_at, restart_at, started)


def summarise(
    n: int,
    interval: float,
    events: list[list[dict[str, Any]]],
    changed_at: dict[str, float],
    requests: list[tuple[float, int]],
    kill_at: float,
    restart_at: float,
    started: float,
) -> dict[str, Any]:
    spreads, lags = [], []
    for name, at in changed_at.items():
        seen = [next((e["t"] for e in evs if e.get("name") == name), None) for evs in events]
        if all(t is not None for t in seen):
            lags.append(max(seen) - at)  # type: ignore[type-var,operator]
            # While Redis is down each replica fetches on its own schedule: no fan-out then.
            if not kill_at <= at <= restart_at + 5:
                spreads.append(max(seen) - min(seen))  # type: ignore[type-var,operator]
    missed = sum(
        1 for name in changed_at for evs in events if not any(e.get("name") == name for e in evs)
    )

    def rate(start: float, end: float) -> float:
        inside = [(t, c) for t, c in requests if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return (c1 - c0) / ((t1 - t0) / interval)

    def worst(start: float, end: float) -> int:
        """The most requests in any one refresh interval between ``start`` and ``end``."""
        most = 0
        for t, c in requests:
            if start <= t <= end - interval:
                later = next(count for when, count in requests if when >= t + interval)
                most = max(most, later - c)
        return most

    end = requests[-1][0]
    up_rate = (rate(started, kill_at) + rate(restart_at + 5, end)) / 2
    up_worst = max(worst(started, kill_at), worst(restart_at + 5, end))
    down_rate = rate(kill_at + 1, restart_at)

    def first(evs: list[dict[str, Any]], after: float, role: Any) -> float | None:
        return next(
            (e["t"] - after for e in evs if e["event"] == "role" and e["t"] >= after and role(e)),
            None,
        )

    to_solo = [first(evs, kill_at, lambda e: e["role"] == "solo") for evs in events]
    to_rejoin = [first(evs, restart_at, lambda e: e["role"] != "solo") for evs in events]
    finals = [next(e for e in evs if e["event"] == "final") for evs in events]
    return {
        "replicas": n,
        "requests_per_interval_up": up_rate,
        "requests_worst_interval_up": up_worst,
        "requests_per_interval_solo": down_rate,
        "changes": len(changed_at),
        "missed": missed,
        "fanout_p50_ms": _pct(spreads, 50) * 1000,
        "fanout_p99_ms": _pct(spreads, 99) * 1000,
        "fanout_max_ms": max(spreads, default=float("nan")) * 1000,
        "change_to_last_replica_max_s": max(lags, default=float("nan")),
        "to_solo_max_s": max((t for t in to_solo if t is not None), default=float("nan")),
        "to_rejoin_max_s": max((t for t in to_rejoin if t is not None), default=float("nan")),
        "oldest_copy_s": max(f["oldest"] for f in finals),
        "failed_reads": sum(f["failures"] for f in finals),
        "reads": sum(f["reads"] for f in finals),
    }


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def warm_reads(redis_url: str, base_url: str) -> tuple[float, float]:
    """ns per warm ``get_model`` without and with a coordinator: the best of 7 interleaved runs."""
    async with contextlib.AsyncExitStack() as stack:
        sessions = []
        for coordinator in (None, RedisCoordinator(redis_url)):
            session = ImageModelsSession(
                base_url=base_url, refresh_interval=None, coordinator=coordinator
            )
            await stack.enter_async_context(session)
            await session.get_model("model-0")
            sessions.append(session)
        best = [float("inf"), float("inf")]
        for _ in range(7):
            for which, session in enumerate(sessions):
                begin = time.perf_counter_ns()
                for _ in range(100_000):
                    await session.get_model("model-0")
                best[which] = min(best[which], (time.perf_counter_ns() - begin) / 100_000)
                await asyncio.sleep(0.05)  # let the fleet's listener run between runs
    return best[0], best[1]


async def main(args: argparse.Namespace) -> None:
    redis = Redis()
    redis.start()
    try:
        async with FakeNanoGPT(catalog_payload([model_payload("model-0")])) as fake:
            plain, fleet = await warm_reads(redis.url, fake.url)
    finally:
        redis.kill()
    print(f"warm get_model: {plain:.0f} ns without a coordinator, {fleet:.0f} ns with one")
    rows = []
    for n in args.replicas:
        result = await run_fleet(n, args.seconds, args.interval)
        print(json.dumps(result), flush=True)
        rows.append(result)
    print()
    print(
        "| replicas | requests / interval (Redis up: mean, worst interval) "
        "| requests / interval (solo) "
        "| commit → last replica p50 / p99 / max | change → last replica, max "
        "| to solo | to rejoin | oldest copy served | failed reads |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['replicas']} | {r['requests_per_interval_up']:.2f}, "
            f"{r['requests_worst_interval_up']} "
            f"| {r['requests_per_interval_solo']:.2f} "
            f"| {r['fanout_p50_ms']:.0f} / {r['fanout_p99_ms']:.0f} / {r['fanout_max_ms']:.0f} ms "
            f"| {r['change_to_last_replica_max_s']:.2f} s "
            f"| {r['to_solo_max_s']:.2f} s | {r['to_rejoin_max_s']:.2f} s "
            f"| {r['oldest_copy_s']:.1f} s | {r['failed_reads']} of {r['reads']:,} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--replica":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        asyncio.run(replica(sys.argv[2], sys.argv[3], float(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    asyncio.run(main(parser.parse_args()))
