"""Soak: a busy session against a flaky, changing server; check that nothing breaks or leaks.

    python benchmarks/soak.py                 # 60 s; updates docs/reliability.md
    python benchmarks/soak.py --seconds 10 --no-write

A session with a short refresh interval (``refresh_interval=0.2``,
``ttl=0.3``, real clock) reads from a ``FakeNanoGPT`` that answers 30 % of
requests with a fault (5xx, 429 with ``Retry-After``, a delay past the
timeout, a dropped connection, a malformed body) while its catalog changes
at random (models added, removed, renamed, repriced).  1,000 readers loop on
``get_model`` / ``catalog`` / ``find`` the whole time.

Invariants (exit status 1 when one fails):

- no read fails once a first catalog is held;
- no change is missed: the final catalog equals the server's, and replaying
  every ``CatalogChange`` the subscriber got onto the first catalog gives
  the final one (changes made between two refreshes coalesce into one);
- no growth: live asyncio tasks and open file descriptors at the end are
  within a small margin of the start; after ``close()`` they are back to
  where they were before the session.  RSS is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nanogpt_images import (
    CatalogChange,
    ImageModel,
    ImageModelsSession,
    dump_catalog,
)
from nanogpt_images.testing import FakeNanoGPT, model_payload

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOCS, fmt_bytes, machine, open_fds, replace_section, rss_bytes

FAULT_KINDS = (
    "500", "502", "503", "504", "429", "timeout",
    "drop_connection", "malformed_json", "truncated_json", "html_200", "json_array",
)  # fmt: skip
SESSION_OPTIONS: dict[str, Any] = {
    "refresh_interval": 0.2,
    "ttl": 0.3,
    "timeout": 0.5,
    "max_retries": 2,
    "max_retry_after": 1.0,
}
#: Margins for "no growth": a fetch in flight, a server handler, a pooled connection.
TASK_MARGIN = 8
FD_MARGIN = 8


class FlakyNanoGPT(FakeNanoGPT):
    """FakeNanoGPT that answers a random ``fault_rate`` share of requests with a random fault."""

    def __init__(self, *, fault_rate: float, rng: random.Random, timeout_delay: float) -> None:
        super().__init__()
        self.fault_rate = fault_rate
        self.chaos = False
        self.injected: collections.Counter[str] = collections.Counter()
        self._rng = rng
        self._timeout_delay = timeout_delay

    async def _handle(self, request: Any) -> Any:
        if self.chaos and self._rng.random() < self.fault_rate:
            kind = self._rng.choice(FAULT_KINDS)
            self.injected[kind] += 1
            if kind == "429":
                self.fail_next(1, 429, retry_after=self._rng.choice((0, 0.1, 0.3)))
            elif kind == "timeout":
                await asyncio.sleep(self._timeout_delay)  # the client has given up by now
            elif kind.isdigit():
                self.fail_next(1, int(kind))
            else:
                self.fault_next(kind)  # type: ignore[arg-type]
        return await super()._handle(request)


@dataclass
class SoakReport:
    """What a soak run saw; ``failures`` lists the invariants that did not hold."""

    seconds: float
    readers: int
    reads_served: int = 0
    reads_failed: int = 0
    read_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: int = 0
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    mutations: collections.Counter[str] = field(default_factory=collections.Counter)
    change_events: int = 0
    changes_seen: collections.Counter[str] = field(default_factory=collections.Counter)
    final_matches_server: bool = False
    replay_matches_final: bool = False
    stats: Any = None
    rss: tuple[int | None, int | None] = (None, None)
    fds: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None)
    tasks: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    log_records: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)

    def render(self) -> str:
        """A short plain-text report."""
        made = sum(self.mutations.values())
        seen = sum(self.changes_seen.values())
        s = self.stats
        lines = [
            f"soak: {self.seconds:g} s, {self.readers:,} readers, session {SESSION_OPTIONS}",
            f"reads served      {self.reads_served:,} ({self.reads_served / self.seconds:,.0f}/s)",
            f"reads failed      {self.reads_failed}"
            + (f" {dict(self.read_errors)}" if self.read_errors else ""),
            f"requests          {self.requests:,}; faults injected "
            f"{sum(self.faults_injected.values())} ({dict(sorted(self.faults_injected.items()))})",
            f"session stats     fetches={s.fetches} not_modified={s.not_modified} "
            f"errors={s.errors} refused={s.refused_refreshes}; "
            f"log records {dict(sorted(self.log_records.items()))}",
            f"changes made      {made} ({dict(sorted(self.mutations.items()))})",
            f"changes seen      {seen} model changes in {self.change_events} events "
            f"({dict(sorted(self.changes_seen.items()))}); coalesced {made - seen}",
            f"missed            final == server: {self.final_matches_server}; "
            f"replayed events == final: {self.replay_matches_final}",
            f"RSS               {_size(self.rss[0])} -> {_size(self.rss[1])}",
            "open fds          before session {} / start {} / end {} / after close {}".format(
                *self.fds
            ),
            "asyncio tasks     before session {} / start {} / max {} / end {} / "
            "after close {}".format(*self.tasks),
            "result            "
            + ("OK: every invariant held" if not self.failures else "FAILED: "
               + "; ".join(self.failures)),
        ]  # fmt: skip
        return "\n".join(lines)


def _size(value: int | None) -> str:
    return "n/a" if value is None else fmt_bytes(value)


async def soak(
    seconds: float = 60.0,
    *,
    readers: int = 1_000,
    fault_rate: float = 0.3,
    change_every: float = 0.25,
    seed: int = 1,
) -> SoakReport:
    """Run the soak for ``seconds`` and check the invariants."""
    rng = random.Random(seed)
    report = SoakReport(seconds=seconds, readers=readers)
    counter = _LogCounter()
    logger = logging.getLogger("nanogpt_images")
    logger.addHandler(counter)
    propagate, logger.propagate = logger.propagate, False
    try:
        return await _soak(report, rng, fault_rate=fault_rate, change_every=change_every)
    finally:
        logger.removeHandler(counter)
        logger.propagate = propagate
        report.log_records = counter.counts


class _LogCounter(logging.Handler):
    """Counts the library's log records by level instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1


async def _soak(
    report: SoakReport, rng: random.Random, *, fault_rate: float, change_every: float
) -> SoakReport:
    seconds, readers = report.seconds, report.readers
    timeout_delay = SESSION_OPTIONS["timeout"] + 0.3
    async with FlakyNanoGPT(fault_rate=fault_rate, rng=rng, timeout_delay=timeout_delay) as server:
        tasks_before = len(asyncio.all_tasks())
        fds_before = open_fds()
        events: list[CatalogChange] = []
        session = ImageModelsSession(base_url=server.url, **SESSION_OPTIONS)
        session.subscribe(events.append)
        async with session:
            first = await session.catalog()
            protected = [model.id for model in first][:50]  # never removed: the readers' ids
            stop = asyncio.Event()
            server.chaos = True
            reader_tasks = [
                asyncio.create_task(_reader(session, protected, i, stop, report))
                for i in range(readers)
            ]
            mutator = asyncio.create_task(
                _mutate(server, set(protected), rng, change_every, stop, report)
            )
            await asyncio.sleep(min(1.0, seconds / 4))  # warm-up: pools and tasks settle
            rss_start, fds_start = rss_bytes(), open_fds()
            tasks_start = tasks_max = len(asyncio.all_tasks())
            deadline = time.monotonic() + seconds - min(1.0, seconds / 4)
            while time.monotonic() < deadline:
                await asyncio.sleep(min(0.25, max(deadline - time.monotonic(), 0)))
                tasks_max = max(tasks_max, len(asyncio.all_tasks()))
            tasks_end, fds_end, rss_end = len(asyncio.all_tasks()), open_fds(), rss_bytes()
            stop.set()
            server.chaos = False
            await asyncio.gather(mutator, *reader_tasks)
            final = await _settle(session)
            report.stats = session.stats()
            report.requests = server.request_count
            report.final_matches_server = dump_catalog(final) == server.catalog
            report.replay_matches_final = _replay(first, events) == _by_id(final)
        await asyncio.sleep(0)  # let finished connection callbacks run
        tasks_after, fds_after = len(asyncio.all_tasks()), open_fds()
    report.faults_injected = server.injected
    report.change_events = len(events)
    for event in events:
        report.changes_seen["added"] += len(event.added)
        report.changes_seen["removed"] += len(event.removed)
        report.changes_seen["changed"] += len(event.changed)
    report.rss = (rss_start, rss_end)
    report.fds = (fds_before, fds_start, fds_end, fds_after)
    report.tasks = (tasks_before, tasks_start, tasks_max, tasks_end, tasks_after)
    report.failures = _check(report)
    return report


async def _reader(
    session: ImageModelsSession,
    ids: list[str],
    index: int,
    stop: asyncio.Event,
    report: SoakReport,
) -> None:
    """Loop on reads until told to stop; count what was served and what failed."""
    n = index
    while not stop.is_set():
        n += 1
        try:
            if n % 500 == 0:
                await session.find(capability="inpainting")
            elif n % 10 == 0:
                await session.catalog()
            else:
                await session.get_model(ids[n % len(ids)])
            report.reads_served += 1
        except Exception as exc:
            report.reads_failed += 1
            report.read_errors[type(exc).__name__] += 1
        await asyncio.sleep(0)


async def _mutate(
    server: FakeNanoGPT,
    protected: set[str],
    rng: random.Random,
    every: float,
    stop: asyncio.Event,
    report: SoakReport,
) -> None:
    """Change the server's catalog at random; the count stays well within the shrink guard."""
    serial = 0
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0, 2 * every))
        serial += 1
        ids = [model["id"] for model in server.catalog["data"]]
        removable = [model_id for model_id in ids if model_id not in protected]
        kind = rng.choice(("add", "remove", "rename", "reprice"))
        if kind == "add" or (kind == "remove" and len(ids) < 200):
            server.add_model(model_payload(f"soak/model-{serial}"))
            report.mutations["add"] += 1
        elif kind == "remove" and removable:
            server.remove_model(rng.choice(removable))
            report.mutations["remove"] += 1
        elif kind == "rename":
            server.update_model(rng.choice(ids), name=f"Renamed {serial}")
            report.mutations["rename"] += 1
        else:
            price = round(rng.uniform(0.001, 0.2), 4)
            server.update_model(
                rng.choice(ids), pricing={"per_image": {"1024x1024": price}, "currency": "USD"}
            )
            report.mutations["reprice"] += 1


async def _settle(session: ImageModelsSession) -> Any:
    """The catalog from a fetch that started after the last change was made.

    The first refresh may join a fetch already in flight, started before the
    mutator's last change, so only the second successful refresh counts; a
    fault may still be in flight when chaos stops, so failures are retried.
    """
    successes = 0
    for _ in range(20):
        try:
            catalog = await session.refresh()
        except Exception:
            await asyncio.sleep(0.05)
            continue
        successes += 1
        if successes == 2:
            return catalog
    return await session.refresh()


def _by_id(catalog: Any) -> dict[str, ImageModel]:
    return {model.id: model for model in catalog}


def _replay(first: Any, events: list[CatalogChange]) -> dict[str, ImageModel]:
    """The first catalog with every change event applied in order."""
    state = _by_id(first)
    for event in events:
        for model in event.removed:
            state.pop(model.id, None)
        for model in event.added:
            state[model.id] = model
        for change in event.changed:
            state[change.id] = change.after
    return state


def _check(report: SoakReport) -> list[str]:
    failures = []
    if report.reads_failed:
        failures.append(f"{report.reads_failed} reads failed after the first catalog")
    if report.reads_served == 0:
        failures.append("no reads were served")
    if not report.final_matches_server:
        failures.append("the final catalog differs from the server's")
    if not report.replay_matches_final:
        failures.append("replaying the change events does not give the final catalog")
    if report.stats.refused_refreshes:
        failures.append(f"{report.stats.refused_refreshes} refreshes refused by the shrink guard")
    before, start, _, end, after = report.tasks
    if end > start + TASK_MARGIN:
        failures.append(f"asyncio tasks grew from {start} to {end}")
    if after > before:
        failures.append(f"{after - before} asyncio tasks outlived close()")
    fds_before, fds_start, fds_end, fds_after = report.fds
    if fds_start is not None and fds_end is not None and fds_end > fds_start + FD_MARGIN:
        failures.append(f"open fds grew from {fds_start} to {fds_end}")
    if fds_before is not None and fds_after is not None and fds_after > fds_before:
        failures.append(f"{fds_after - fds_before} file descriptors outlived close()")
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print the report, write it into docs/reliability.md; 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=1_000)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--output", type=Path, default=DOCS / "reliability.md")
    args = parser.parse_args(argv)
    report = asyncio.run(
        soak(args.seconds, readers=args.readers, fault_rate=args.fault_rate, seed=args.seed)
    )
    text = report.render()
    print(text)
    if not args.no_write:
        command = f"python benchmarks/soak.py --seconds {args.seconds:g}"
        body = (
            f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: `{command}`\n\n"
            f"```text\n{text}\n```"
        )
        replace_section(args.output, "soak", body, title="Reliability")
        print(f"\nwritten to {args.output}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
