"""Time parse_catalog against json.loads on the bundled ~230-model sample, bytes in.

Run: ``python benchmarks/parse.py [--repeat N]``.  Prints the medians and the
ratio (target: at most 2.5x ``json.loads``), and the memory the parsed catalog
keeps alive against the ``json.loads`` tree (target: at most 1x).
``benchmarks/compare.py`` puts the same figures next to pydantic's.
"""

from __future__ import annotations

import argparse
import json

from _common import deep_sizeof, fmt_bytes, fmt_time, machine, median_per_call

from nanogpt_images import parse_catalog
from nanogpt_images.testing import sample_catalog_bytes


def main(argv: list[str] | None = None) -> int:
    """Print parse times, their ratio and the memory ratio; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=31, help="rounds (default 31)")
    parser.add_argument("--number", type=int, default=10, help="calls per round (default 10)")
    args = parser.parse_args(argv)
    body = sample_catalog_bytes()
    parse_catalog(body)  # build the converter's generated hooks before timing
    times = median_per_call(
        {"json.loads": lambda: json.loads(body), "parse_catalog": lambda: parse_catalog(body)},
        number=args.number,
        repeat=args.repeat,
    )
    ratio = times["parse_catalog"] / times["json.loads"]
    memory = deep_sizeof(parse_catalog(body)) / deep_sizeof(json.loads(body))
    print(machine())
    print(f"body: {fmt_bytes(len(body))}, {len(parse_catalog(body))} models")
    print(f"json.loads     {fmt_time(times['json.loads']):>10}")
    print(f"parse_catalog  {fmt_time(times['parse_catalog']):>10}  {ratio:.2f}x  (target <= 2.5x)")
    print(f"memory held    {memory:.2f}x the json.loads tree (deep sizeof, target <= 1x)")
    return 0 if ratio <= 2.5 and memory <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
