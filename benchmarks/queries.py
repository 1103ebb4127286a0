"""Time model picking and request checks: ``find()`` over 10,000 models, ``validate()``.

Targets (issue 5): ``find()`` with three filters over a 10,000-model catalog
under 5 ms; ``validate()`` under 20 µs a call.

    .venv/bin/python benchmarks/queries.py [--repeat 15]

Prints the median of ``--repeat`` rounds for each case.  A query is timed
three ways:

* ``session.find()``, first ask: a session on a ``FakeNanoGPT`` (127.0.0.1)
  serving 10,000 models; every round the server changes the catalog, the
  session refreshes, and each query is asked once of the new catalog.  This
  is what a service sees: the session built the lookup tables when it
  installed the catalog, in the refresh, not in the request;
* ``Catalog.filter()`` on a bare parsed catalog, first ask: the query also
  builds the tables it needs (no target; ``Catalog.prepare()`` avoids it);
* asked again: the catalog remembers its answers.

It also times ``Catalog.prepare()`` itself, on 10,000 models and on the
bundled sample, the cost a refresh pays for the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import time
from typing import TYPE_CHECKING, Any

from _common import big_body, fmt_time, machine, markdown_table, median_per_call

from nanogpt_images import Catalog, ImageModelsSession, ParameterValidationError, parse_catalog
from nanogpt_images.testing import FakeNanoGPT, sample_catalog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SIZE = 10_000
FIND_TARGET = 5e-3
VALIDATE_TARGET = 20e-6

#: name -> keyword arguments of find() / filter(); the first two carry the target.
QUERIES: dict[str, dict[str, Any]] = {
    "capability, resolution, max_price": {
        "capability": "image_to_image",
        "resolution": "1024x1024",
        "max_price": "0.05",
    },
    "input_modality, output_modality, max_price": {
        "input_modality": "image",
        "output_modality": "image",
        "max_price": 0.05,
    },
    "owned_by, tag, text": {"owned_by": "openai", "tag": "text-to-image", "text": "gpt"},
    "capability, exclude_capability, resolution": {
        "capability": "inpainting",
        "exclude_capability": "nsfw",
        "resolution": "1024x1024",
    },
    "resolution, sort=price": {"resolution": "1024*1024", "sort": "price"},
}


def main() -> None:
    """Run every case and print a table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds per case (median)")
    args = parser.parse_args()

    body = big_body(SIZE)
    catalog = parse_catalog(body)
    model = catalog["gpt-image-2"]
    rows: list[tuple[str, str, Any, str]] = []

    def verdict(seconds: float, target: float | None) -> str:
        return "no target" if target is None else ("ok" if seconds < target else "SLOW")

    session_firsts = asyncio.run(session_first_asks(body, args.repeat))
    for name, query in QUERIES.items():
        target = FIND_TARGET if "sort" not in query else None
        matches = len(catalog.filter(**query))
        rows.append(
            (
                f"session.find({name}), first ask",
                fmt_time(session_firsts[name]),
                matches,
                verdict(session_firsts[name], target),
            )
        )
    for name, query in QUERIES.items():
        seconds = first_ask(lambda c, q=query: c.filter(**q), catalog, args.repeat)
        rows.append((f"bare Catalog.filter({name}), first ask", fmt_time(seconds), "", "no target"))
    again = median_per_call(
        {name: lambda q=query: catalog.filter(**q) for name, query in QUERIES.items()},
        number=5,
        repeat=args.repeat,
    )
    for name, seconds in again.items():
        rows.append(
            (f"filter({name}), asked again", fmt_time(seconds), "", verdict(seconds, FIND_TARGET))
        )
    sample = parse_catalog(sample_catalog())
    for label, models in ((f"{SIZE} models", catalog), (f"{len(sample)}-model sample", sample)):
        seconds = first_ask(lambda c: c.prepare(), models, args.repeat)
        rows.append((f"Catalog.prepare(), {label}", fmt_time(seconds), "", "no target"))

    checks: dict[str, Callable[[], Any]] = {
        "validate(prompt, resolution, n)": lambda: model.validate(
            prompt="a red fox", resolution="1024x1024", n=2
        ),
        "validate(other spellings: 1024*1536, n='2')": lambda: model.validate(
            prompt="a red fox", resolution="1024*1536", n="2"
        ),
        "validate(3 problems) raising": lambda: _rejected(model),
        "price(resolution, n)": lambda: model.price("1024x1024", 2),
    }
    for name, seconds in median_per_call(checks, number=2000, repeat=args.repeat).items():
        target = VALIDATE_TARGET if name.startswith("validate(p") or "spellings" in name else None
        rows.append((name, fmt_time(seconds), "", verdict(seconds, target)))

    print(machine())
    print(f"{len(catalog)} models; median of {args.repeat} rounds\n")
    print(markdown_table(("case", "median per call", "matches", "vs target"), rows))


async def session_first_asks(body: dict[str, Any], repeat: int) -> dict[str, float]:
    """Median seconds of each query asked once of each of ``repeat`` new catalogs."""
    samples: dict[str, list[float]] = {name: [] for name in QUERIES}
    async with (
        FakeNanoGPT(catalog=body) as server,
        ImageModelsSession(base_url=server.url, refresh_interval=None) as session,
    ):
        for round_ in range(repeat):
            server.set_catalog({**body, "meta": {**body["meta"], "generated_at": str(round_)}})
            await session.refresh()  # parses, prepares and installs a new catalog
            for name, query in QUERIES.items():
                with collector_off():
                    start = time.perf_counter()
                    await session.find(**query)
                    samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def first_ask(ask: Callable[[Catalog], Any], catalog: Catalog, repeat: int) -> float:
    """Median seconds of ``ask`` on a copy of ``catalog`` that has answered nothing yet."""
    samples = []
    for _ in range(repeat):
        fresh = Catalog(models=catalog.models, meta=catalog.meta, object=catalog.object)
        with collector_off():
            start = time.perf_counter()
            ask(fresh)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """Collect, then keep the garbage collector off while a call is timed, as timeit does.

    A full collection of the 10,000-model heap, set off by this loop's own
    allocations, would otherwise land in one query's figure.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _rejected(model: Any) -> None:
    try:
        model.validate(resolution="7x7", n=9, images=["a"] * 6)
    except ParameterValidationError:
        return
    raise AssertionError("expected a ParameterValidationError")


if __name__ == "__main__":
    main()
