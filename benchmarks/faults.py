"""The fault matrix as a report: what a caller gets from each way the catalog endpoint can fail.

    python benchmarks/faults.py             # run it; updates docs/reliability.md
    python benchmarks/faults.py --no-write  # print only

The rows and the runner live in ``tests/fault_matrix.py`` (the tests run the
same matrix); this script runs every row cold and warm and renders the table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_matrix import SESSION_OPTIONS, Outcome, run_matrix  # the tests' own matrix


def render(results: list[tuple[Outcome, Outcome]], elapsed: float) -> str:
    """The matrix as a Markdown table with a verdict line."""
    from _common import machine, markdown_table

    rows = []
    for cold, warm in results:
        waited = ", ".join(f"{s:.2f}" for s in warm.waited) or "—"
        rows.append(
            (
                cold.fault.name,
                f"`{cold.got}`",
                cold.requests,
                f"`{warm.got}`",
                "yes" if warm.kept else "**no**",
                warm.requests,
                waited,
                _short(cold.detail or warm.detail),
                "ok" if cold.as_expected and warm.as_expected else "**UNEXPECTED**",
            )
        )
    bad = [c.fault.name for c, w in results if not (c.as_expected and w.as_expected)]
    header = (
        "fault",
        "cold: caller got",
        "requests",
        "warm: `refresh()` got",
        "good copy kept",
        "requests",
        "retry waits, warm (s, instant clock)",
        "message (cold, else warm)",
        "vs. expected",
    )
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; "
        f"`python benchmarks/faults.py` took {elapsed:.1f} s of real time.",
        "",
        "Session options: "
        + ", ".join(f"`{k}={v!r}`" for k, v in SESSION_OPTIONS.items())
        + "; cold = the first read is `get_model()`, warm = a good copy is held and "
        "`refresh()` meets the fault. After every warm row a read still returns the good "
        "copy. Requests are those that reached the servers (catalog origin plus the other "
        "origin of the redirect row, which received none).",
        "",
        markdown_table(header, rows),
        "",
        "Notes: *closed port* reaches no server, so it counts 0 requests (the SDK made 3 "
        "connection attempts). *304* cold is a stray 304 to a request that sent no "
        "validators: with nothing cached there is nothing to renew, so it is a "
        "`DecodeError` (empty body). With an HTTP-date `Retry-After` the second wait is 0: "
        "the date has passed by then.",
        "",
        f"{len(results)} faults, {len(results) * 2} runs: "
        + (f"**unexpected: {', '.join(bad)}**" if bad else "all as expected."),
    ]
    return "\n".join(lines)


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    """Run the matrix, print it, write it into docs/reliability.md; exit 1 on a surprise."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import DOCS, replace_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--output", type=Path, default=DOCS / "reliability.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = asyncio.run(run_matrix())
    report = render(results, time.perf_counter() - start)
    print(report)
    if not args.no_write:
        replace_section(args.output, "faults", report, title="Reliability")
        print(f"\nwritten to {args.output}")
    return 0 if all(c.as_expected and w.as_expected for c, w in results) else 1


if __name__ == "__main__":
    sys.exit(main())
