"""Time model picking and request checks: ``Catalog.filter`` over 10,000 models, ``validate()``.

Targets (issue 5): ``find()`` with three filters over a 10,000-model catalog
under 5 ms; ``validate()`` under 20 µs a call.  ``session.find()`` is
``Catalog.filter`` on the cached catalog, so the filter figures stand for it.

    .venv/bin/python benchmarks/queries.py [--repeat 15]

Prints the median of ``--repeat`` rounds for each case.  A filter query is
timed twice: first asked of a catalog (the scan), and asked again (the
catalog remembers its answers, so a bot asking the same question on every
request pays for the scan once per catalog).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import TYPE_CHECKING, Any

from _common import fmt_time, machine, markdown_table, median_per_call

from nanogpt_images import Catalog, ParameterValidationError, parse_catalog
from nanogpt_images.testing import sample_catalog

if TYPE_CHECKING:
    from collections.abc import Callable

SIZE = 10_000
FIND_TARGET = 5e-3
VALIDATE_TARGET = 20e-6


def main() -> None:
    """Run every case and print a table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds per case (median)")
    args = parser.parse_args()

    catalog = big_catalog(SIZE)
    model = catalog["gpt-image-2"]
    finds: dict[str, Callable[[Catalog], Any]] = {
        "filter(capability, resolution, max_price)": lambda c: c.filter(
            capability="image_to_image", resolution="1024x1024", max_price="0.05"
        ),
        "filter(input_modality, output_modality, max_price)": lambda c: c.filter(
            input_modality="image", output_modality="image", max_price=0.05
        ),
        "filter(owned_by, tag, text)": lambda c: c.filter(
            owned_by="openai", tag="text-to-image", text="gpt"
        ),
        "filter(resolution) sorted by price": lambda c: c.filter(
            resolution="1024*1024", sort="price"
        ),
        "cheapest(capability, resolution)": lambda c: c.cheapest(
            capability="image_to_image", resolution="1024x1024"
        ),
    }
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
    timed = {
        f"{name}, first ask": first_ask(find, catalog, args.repeat) for name, find in finds.items()
    }
    timed |= median_per_call(
        {f"{name}, asked again": lambda f=find: f(catalog) for name, find in finds.items()},
        number=5,
        repeat=args.repeat,
    )
    timed |= median_per_call(checks, number=2000, repeat=args.repeat)

    rows = []
    for name, seconds in timed.items():
        find = finds.get(name.rsplit(",", 1)[0])
        result = find(catalog) if find is not None else None
        matches = len(result) if isinstance(result, tuple) else ""
        target = FIND_TARGET if find is not None else VALIDATE_TARGET
        if name.startswith(("price", "cheapest", "validate(3")) or "sorted" in name:
            verdict = "no target"
        else:
            verdict = "ok" if seconds < target else "SLOW"
        rows.append((name, fmt_time(seconds), matches, verdict))
    print(machine())
    print(f"{len(catalog)} models; median of {args.repeat} rounds\n")
    print(markdown_table(("case", "median per call", "matches", "vs target"), rows))


def first_ask(find: Callable[[Catalog], Any], catalog: Catalog, repeat: int) -> float:
    """Median seconds of a query asked of a catalog for the first time.

    As :mod:`timeit` does, the garbage collector is off while a call is timed,
    so a full collection of the 10,000-model heap, set off by this loop's own
    allocations, does not land in one query's figure.
    """
    samples = []
    for _ in range(repeat):
        fresh = Catalog(models=catalog.models, meta=catalog.meta, object=catalog.object)
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            find(fresh)
            samples.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(samples)


def big_catalog(size: int) -> Catalog:
    """The bundled sample, replicated with new ids until it holds ``size`` models."""
    body = sample_catalog()
    originals = body["data"]
    data = list(originals)
    copy = 1
    while len(data) < size:
        data += [{**entry, "id": f"{entry['id']}~{copy}"} for entry in originals]
        copy += 1
    body["data"] = data[:size]
    body["meta"] = {**body.get("meta", {}), "count": size}
    return parse_catalog(body)


def _rejected(model: Any) -> None:
    try:
        model.validate(resolution="7x7", n=9, images=["a"] * 6)
    except ParameterValidationError:
        return
    raise AssertionError("expected a ParameterValidationError")


if __name__ == "__main__":
    main()
