"""nanogpt_images side by side with the alternatives, in one run, printing one table.

    python benchmarks/compare.py            # full run (about a minute); updates docs/performance.md
    python benchmarks/compare.py --quick    # fewer repeats and a smaller herd
    python benchmarks/compare.py --no-write # print only

Needs the ``bench`` extra (``pip install -e '.[bench]'``: pydantic, async-lru,
aiocache).  Every request goes to a ``FakeNanoGPT`` on 127.0.0.1.

What is measured (medians of interleaved rounds; ratios first):

- parse of the bundled ~230-model sample, bytes in: ``parse_catalog`` vs
  ``json.loads`` and pydantic v2 (``json.loads`` + ``model_validate`` of
  equivalent models with ``extra='allow'``);
- warm ``await session.get_model(id)`` vs the floor (an ``async def`` that
  returns ``dict[id]``) and the same catalog cached by ``async-lru``,
  ``aiocache`` and a hand-rolled ``cachetools.TTLCache``;
- a cold herd of concurrent readers: requests made by each cache;
- a refresh answered 304: ``parse_catalog`` calls and time, vs a 200;
- read latency (p50/p99) while a refresh that takes 2 s at the server is in
  flight, with a fresh copy (background refresh) and a stale one
  (stale-while-revalidate);
- memory held by the parsed catalog vs the ``json.loads`` tree.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import cachetools

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DOCS,
    deep_sizeof,
    fmt_bytes,
    fmt_time,
    machine,
    markdown_table,
    median_per_call,
    percentile,
    replace_section,
)

import nanogpt_images._source as source_module
from nanogpt_images import ImageModel, ImageModelsSession, parse_catalog
from nanogpt_images.testing import FakeNanoGPT, sample_catalog_bytes

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

TARGETS = {
    "parse": 2.5,  # x json.loads
    "memory": 1.0,  # x json.loads tree
    "warm": 1.6,  # x floor
    "herd": 1,  # requests
    "slow_p99": 3.0,  # x warm p99
}

#: aiocache's herd is capped: every reader fetches and parses its own copy.
AIOCACHE_HERD = 1_000

Row = tuple[str, str, str, str]  # what, ratio, absolute, target


def main(argv: list[str] | None = None) -> int:
    """Run every comparison, print the table, write it into docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, herd of 1,000")
    parser.add_argument("--herd", type=int, default=None, help="cold readers (default 10,000)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--output", type=Path, default=DOCS / "performance.md")
    args = parser.parse_args(argv)
    herd = args.herd or (1_000 if args.quick else 10_000)
    started = time.perf_counter()

    body = sample_catalog_bytes()
    results: list[Row] = []
    verdicts: list[tuple[str, bool, str]] = []
    results += parse_rows(body, quick=args.quick, verdicts=verdicts)
    results += memory_rows(body, verdicts=verdicts)
    results += asyncio.run(session_rows(quick=args.quick, herd=herd, verdicts=verdicts))

    elapsed = time.perf_counter() - started
    report = render(results, verdicts, herd=herd, quick=args.quick, elapsed=elapsed)
    print(report)
    if not args.no_write:
        replace_section(args.output, "compare", report, title="Performance")
        print(f"\nwritten to {args.output}")
    return 0


# -- parse ------------------------------------------------------------------------


def pydantic_models() -> Any:
    """Pydantic v2 models equivalent to the attrs ones: same fields, ``extra='allow'``."""
    from pydantic import BaseModel, ConfigDict

    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Architecture(Loose):
        modality: str | None = None
        input_modalities: list[str] | None = None
        output_modalities: list[str] | None = None

    class Pricing(Loose):
        currency: str | None = None
        per_image: dict[str, float] | float | None = None
        by_rendering_speed: dict[str, dict[str, float]] | None = None
        lora: Pricing | None = None

    class Capabilities(Loose):
        image_generation: bool | None = None
        image_to_image: bool | None = None
        inpainting: bool | None = None
        nsfw: bool | None = None

    class InputImageLimits(Loose):
        min_width: int | None = None
        min_height: int | None = None
        max_width: int | None = None
        max_height: int | None = None
        max_bytes: int | None = None
        formats: list[str] | None = None
        source: str | None = None
        note: str | None = None

    class InputImageConstraints(Loose):
        max_items: int | None = None
        route: InputImageLimits | None = None
        provider: InputImageLimits | None = None

    class SupportedParameters(Loose):
        resolutions: list[str] | None = None
        max_images: int | None = None
        max_output_images: int | None = None
        max_input_images: int | None = None
        fixed_image_count: int | None = None
        rendering_speed: list[str] | None = None
        input_image_constraints: InputImageConstraints | None = None

    class Model(Loose):
        id: str
        object: str | None = None
        created: int | None = None
        owned_by: str | None = None
        name: str | None = None
        description: str | None = None
        architecture: Architecture | None = None
        pricing: Pricing | None = None
        capabilities: Capabilities | None = None
        supported_parameters: SupportedParameters | None = None
        icon_url: str | None = None
        tags: list[str] | None = None
        category: str | None = None

    class Meta(Loose):
        count: int | None = None
        generated_at: str | None = None

    class CatalogModel(Loose):
        object: str | None = None
        data: list[Model]
        meta: Meta | None = None

    return CatalogModel


def parse_rows(body: bytes, *, quick: bool, verdicts: list[tuple[str, bool, str]]) -> list[Row]:
    """parse_catalog vs json.loads vs pydantic, bytes in."""
    catalog_model = pydantic_models()
    assert len(catalog_model.model_validate(json.loads(body)).data) == len(parse_catalog(body))
    candidates = {
        "json.loads": lambda: json.loads(body),
        "parse_catalog": lambda: parse_catalog(body),
        "pydantic": lambda: catalog_model.model_validate(json.loads(body)),
    }
    times = median_per_call(candidates, number=10 if quick else 20, repeat=7 if quick else 25)
    base = times["json.loads"]
    ratio = times["parse_catalog"] / base
    verdicts.append(("parse ≤ 2.5x json.loads", ratio <= TARGETS["parse"], f"{ratio:.2f}x"))
    models = len(parse_catalog(body))
    return [
        (
            f"parse {models} models ({fmt_bytes(len(body))}): json.loads",
            "1.00x",
            fmt_time(base),
            "",
        ),
        (
            "parse: **parse_catalog**",
            f"**{ratio:.2f}x**",
            fmt_time(times["parse_catalog"]),
            "≤ 2.5x",
        ),
        (
            "parse: pydantic v2 (json.loads + model_validate)",
            f"{times['pydantic'] / base:.2f}x",
            fmt_time(times["pydantic"]),
            "",
        ),
    ]


# -- memory -----------------------------------------------------------------------


def memory_rows(body: bytes, *, verdicts: list[tuple[str, bool, str]]) -> list[Row]:
    """Bytes the parsed catalog keeps alive vs the json.loads tree (tracemalloc and deep sizeof)."""
    catalog_model = pydantic_models()
    makers: dict[str, Callable[[], Any]] = {
        "json.loads": lambda: json.loads(body),
        "parse_catalog": lambda: parse_catalog(body),
        "pydantic": lambda: catalog_model.model_validate(json.loads(body)),
    }
    traced: dict[str, int] = {}
    deep: dict[str, int] = {}
    for name, make in makers.items():
        make()  # build lazily created hooks and caches before measuring
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        obj = make()
        gc.collect()
        traced[name] = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        deep[name] = deep_sizeof(obj)
        del obj
    ratio = traced["parse_catalog"] / traced["json.loads"]
    deep_ratio = deep["parse_catalog"] / deep["json.loads"]
    verdicts.append(
        (
            "parsed memory ≤ json tree",
            ratio <= TARGETS["memory"],
            f"{ratio:.2f}x (tracemalloc), {deep_ratio:.2f}x (deep sizeof)",
        )
    )
    rows: list[Row] = []
    for name in makers:
        label = f"**{name}**" if name == "parse_catalog" else name
        rows.append(
            (
                f"memory held: {label}",
                f"{traced[name] / traced['json.loads']:.2f}x",
                f"{fmt_bytes(traced[name])} traced, {fmt_bytes(deep[name])} deep sizeof",
                "≤ 1x" if name == "parse_catalog" else "",
            )
        )
    return rows


# -- session ----------------------------------------------------------------------


async def session_rows(
    *, quick: bool, herd: int, verdicts: list[tuple[str, bool, str]]
) -> list[Row]:
    """Everything that needs a server: warm reads, herd, 304, latency under a slow refresh."""
    rows: list[Row] = []
    async with FakeNanoGPT() as server:
        async with ImageModelsSession(base_url=server.url, refresh_interval=None) as session:
            catalog = await session.catalog()
            ids = [model.id for model in catalog]
            warm = await warm_rows(session, ids, quick=quick, verdicts=verdicts)
            rows += warm
            rows += await not_modified_rows(session, server, quick=quick)
        rows += await herd_rows(server, ids, herd=herd, verdicts=verdicts)
        rows += await slow_refresh_rows(server, ids, quick=quick, verdicts=verdicts)
    return rows


async def warm_rows(
    session: ImageModelsSession,
    ids: list[str],
    *,
    quick: bool,
    verdicts: list[tuple[str, bool, str]],
) -> list[Row]:
    """Warm get_model against the dict floor and the peer caches, same catalog, same ids."""
    from aiocache import cached
    from async_lru import alru_cache

    catalog = await session.catalog()
    models = {model.id: model for model in catalog}

    async def load() -> dict[str, ImageModel]:
        return models

    async def floor(model_id: str) -> ImageModel:
        return models[model_id]

    ttl_cache: cachetools.TTLCache[str, dict[str, ImageModel]] = cachetools.TTLCache(1, 300)

    async def ttlcache_get_model(model_id: str) -> ImageModel:
        found = ttl_cache.get("catalog")
        if found is None:
            found = ttl_cache["catalog"] = await load()
        return found[model_id]

    alru_load = alru_cache(ttl=300)(load)

    async def alru_get_model(model_id: str) -> ImageModel:
        return (await alru_load())[model_id]

    aiocache_load = cached(ttl=300)(load)

    async def aiocache_get_model(model_id: str) -> ImageModel:
        return (await aiocache_load())[model_id]  # type: ignore[no-any-return]

    candidates: dict[str, Callable[[str], Awaitable[ImageModel]]] = {
        "floor": floor,
        "session": session.get_model,
        "ttlcache": ttlcache_get_model,
        "alru": alru_get_model,
        "aiocache": aiocache_get_model,
    }
    for get in candidates.values():  # warm every cache, check they agree
        for model_id in ids:
            assert await get(model_id) is models[model_id]
    number = 20_000 if quick else 50_000
    rounds = 5 if quick else 15
    order = [ids[i % len(ids)] for i in range(number)]
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for name, get in candidates.items():
        if name == "aiocache":  # about 100x slower: fewer calls, same per-call figure
            samples[name] = [await _time_reads(get, order[: number // 20]) for _ in range(rounds)]
    for _ in range(rounds):
        for name, get in candidates.items():
            if name != "aiocache":
                samples[name].append(await _time_reads(get, order))
    per_call = {name: statistics.median(values) for name, values in samples.items()}
    base = per_call["floor"]
    ratio = per_call["session"] / base
    verdicts.append(("warm get_model ≤ 1.6x floor", ratio <= TARGETS["warm"], f"{ratio:.2f}x"))
    labels = {
        "floor": "warm get_model: floor (`async def` returning `dict[id]`)",
        "session": "warm get_model: **ImageModelsSession.get_model**",
        "ttlcache": "warm get_model: hand-rolled `cachetools.TTLCache`",
        "alru": "warm get_model: `async-lru` `@alru_cache(ttl=300)`",
        "aiocache": "warm get_model: `aiocache` `@cached(ttl=300)`",
    }
    rows: list[Row] = []
    for name, label in labels.items():
        value = f"{per_call[name] / base:.2f}x"
        rows.append(
            (
                label,
                f"**{value}**" if name == "session" else value,
                fmt_time(per_call[name]),
                "≤ 2x" if name == "session" else "",
            )
        )
    return rows


async def _time_reads(get: Callable[[str], Awaitable[Any]], order: list[str]) -> float:
    perf = time.perf_counter
    start = perf()
    for model_id in order:
        await get(model_id)
    return (perf() - start) / len(order)


async def herd_rows(
    server: FakeNanoGPT, ids: list[str], *, herd: int, verdicts: list[tuple[str, bool, str]]
) -> list[Row]:
    """``herd`` concurrent readers of a cold cache: requests made by ours and the peers."""
    from aiocache import cached
    from async_lru import alru_cache

    url = server.url + "/api/v1/image-models?detailed=true"
    readers = [ids[i % len(ids)] for i in range(herd)]
    rows: list[Row] = []
    counts: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:

        async def load() -> dict[str, ImageModel]:
            async with http.get(url) as response:
                body = await response.read()
            return {model.id: model for model in parse_catalog(body)}

        alru_load = alru_cache(ttl=300)(load)
        aiocache_load = cached(ttl=300)(load)

        async def alru_get_model(model_id: str) -> ImageModel:
            return (await alru_load())[model_id]

        async def aiocache_get_model(model_id: str) -> ImageModel:
            return (await aiocache_load())[model_id]  # type: ignore[no-any-return]

        async with ImageModelsSession(base_url=server.url, refresh_interval=None) as session:
            peers: dict[str, Callable[[str], Awaitable[ImageModel]]] = {
                "session": session.get_model,
                "alru": alru_get_model,
                "aiocache": aiocache_get_model,
            }
            for name, get in peers.items():
                # aiocache makes one request and one parse per reader (~25 ms each here):
                # its herd is capped so the run stays short; the count scales with it.
                group = readers[:AIOCACHE_HERD] if name == "aiocache" else readers
                server.clear_requests()
                start = time.perf_counter()
                got = await asyncio.gather(*(get(model_id) for model_id in group))
                elapsed = time.perf_counter() - start
                assert [model.id for model in got] == group
                counts[name] = server.request_count
                labels = {
                    "session": "**ImageModelsSession**",
                    "alru": "`async-lru`",
                    "aiocache": "`aiocache`",
                }
                requests = f"{counts[name]:,} request" + ("s" if counts[name] != 1 else "")
                rows.append(
                    (
                        f"cold herd of {len(group):,} readers: {labels[name]}",
                        f"**{requests}**" if name == "session" else requests,
                        f"{fmt_time(elapsed)} until all served",
                        "1 request" if name == "session" else "",
                    )
                )
    verdicts.append(
        (
            f"herd of {herd:,} → 1 request",
            counts["session"] == TARGETS["herd"],
            f"{counts['session']} request(s)",
        )
    )
    return rows


async def not_modified_rows(
    session: ImageModelsSession, server: FakeNanoGPT, *, quick: bool
) -> list[Row]:
    """A refresh answered 304 does no parse work; compare with a refresh answered 200.

    Counts the session's reads of a body (``CatalogSource._read``, whichever
    reader it then uses).
    """
    real_read = source_module.CatalogSource._read
    calls = 0

    def counting_read(source: Any, body: bytes) -> Any:
        nonlocal calls
        calls += 1
        return real_read(source, body)

    n = 20 if quick else 60
    figures: dict[str, tuple[float, int, int]] = {}
    source_module.CatalogSource._read = counting_read  # type: ignore[method-assign]
    try:
        for label, etag in (("304", True), ("200", False)):
            server.etag = etag
            await session.refresh()  # settle validators for this mode
            server.clear_requests()
            calls = 0
            before = session.stats().not_modified
            times = []
            for _ in range(n):
                start = time.perf_counter()
                await session.refresh()
                times.append(time.perf_counter() - start)
            assert server.request_count == n
            renewed = session.stats().not_modified - before
            figures[label] = (statistics.median(times), calls, renewed)
    finally:
        source_module.CatalogSource._read = real_read  # type: ignore[method-assign]
        server.etag = True
    t304, parses304, renewed304 = figures["304"]
    t200, parses200, _ = figures["200"]
    return [
        (
            f"refresh answered 304 ({n} refreshes)",
            f"**{parses304} body reads**",
            f"{fmt_time(t304)} per refresh ({renewed304} renewed by 304)",
            "no parse",
        ),
        (
            f"refresh answered 200 ({n} refreshes), for comparison",
            f"{parses200} body reads",
            f"{fmt_time(t200)} per refresh ({t200 / t304:.1f}x the 304)",
            "",
        ),
    ]


async def slow_refresh_rows(
    server: FakeNanoGPT, ids: list[str], *, quick: bool, verdicts: list[tuple[str, bool, str]]
) -> list[Row]:
    """Read latency while a refresh that takes 2 s at the server is in flight.

    Two cases: a fresh copy while the background refresh runs (what the
    default ``refresh_interval`` < ``ttl`` gives), and a copy past its ``ttl``
    whose first stale read started the refresh (stale-while-revalidate).
    The baseline is the same loop on a fresh copy with nothing in flight.
    """
    delay = 1.0 if quick else 2.0
    rows: list[Row] = []
    ttl = 0.5
    async with (
        ImageModelsSession(base_url=server.url, refresh_interval=None, ttl=300) as fresh_session,
        ImageModelsSession(base_url=server.url, refresh_interval=None, ttl=ttl) as stale_session,
    ):
        await fresh_session.catalog()
        await stale_session.catalog()
        baseline = await _read_latencies(fresh_session, ids, until=None, count=200_000)
        server.delay(delay)
        try:
            # Fresh copy, refresh in flight (the background refresher's case).
            refresh = asyncio.ensure_future(fresh_session.refresh())
            await asyncio.sleep(0.05)  # the request is at the server, waiting
            fresh = await _read_latencies(fresh_session, ids, until=refresh, count=None)
            await refresh
            # Stale copy: the first read past ttl starts the refresh; readers never wait.
            await asyncio.sleep(max(0.0, ttl + 0.05 - delay))
            fetches = stale_session.stats().fetches
            stale = await _read_latencies(
                stale_session, ids, until=None, count=None, fetches=fetches
            )
        finally:
            server.delay(0)
    p99_base = percentile(baseline, 99)
    for label, values in (
        ("fresh copy, background refresh in flight", fresh),
        ("stale copy, refresh started by the read", stale),
    ):
        p50, p99, worst = percentile(values, 50), percentile(values, 99), max(values)
        rows.append(
            (
                f"reads during a {delay:g} s refresh: {label} ({len(values):,} reads)",
                f"**p99 {p99 / p99_base:.2f}x**",
                f"p50 {fmt_time(p50)}, p99 {fmt_time(p99)}, max {fmt_time(worst)}",
                "p99 ≤ 3x warm",
            )
        )
        verdicts.append(
            (
                f"p99 during slow refresh ≤ 3x warm ({label.split(',')[0]})",
                p99 / p99_base <= TARGETS["slow_p99"],
                f"{p99 / p99_base:.2f}x (p99 {fmt_time(p99)} vs warm p99 {fmt_time(p99_base)}; "
                f"slowest read {fmt_time(worst)})",
            )
        )
    rows.insert(
        0,
        (
            f"reads, warm baseline ({len(baseline):,} reads, one timer each)",
            "1.00x",
            f"p50 {fmt_time(percentile(baseline, 50))}, p99 {fmt_time(p99_base)}",
            "",
        ),
    )
    return rows


async def _read_latencies(
    session: ImageModelsSession,
    ids: list[str],
    *,
    until: asyncio.Future[Any] | None,
    count: int | None,
    fetches: int | None = None,
) -> list[float]:
    """Time single get_model calls, yielding to the loop every 100 reads.

    Stops after ``count`` reads, when ``until`` is done, or (with ``fetches``)
    when the refresh started by the first stale read has finished.
    """
    perf = time.perf_counter
    latencies: list[float] = []
    n = len(ids)
    i = 0
    while True:
        for _ in range(100):
            model_id = ids[i % n]
            i += 1
            start = perf()
            await session.get_model(model_id)
            latencies.append(perf() - start)
        await asyncio.sleep(0)
        if count is not None and len(latencies) >= count:
            return latencies
        if until is not None and until.done():
            return latencies
        if fetches is not None and session.stats().fetches > fetches and _idle(session):
            return latencies


def _idle(session: ImageModelsSession) -> bool:
    return session.stats().source != "stale"


# -- report -----------------------------------------------------------------------


def render(
    rows: list[Row],
    verdicts: list[tuple[str, bool, str]],
    *,
    herd: int,
    quick: bool,
    elapsed: float,
) -> str:
    """The table, the targets, and the machine they were measured on."""
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.",
        f"`python benchmarks/compare.py{' --quick' if quick else ''}` "
        f"(took {elapsed:.0f} s). Ratios are to the first row of each group; "
        "times are medians of interleaved rounds.",
        "",
        markdown_table(("what", "ratio / result", "absolute", "target"), rows),
        "",
        "Targets:",
        "",
    ]
    lines += [
        f"- {'met' if ok else '**missed**'}: {name} — {detail}" for name, ok, detail in verdicts
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
