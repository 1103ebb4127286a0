"""A short soak (about 3 s of real time, by design): flaky server, live changes, busy readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


def test_short_soak_serves_every_read_misses_no_change_and_leaks_nothing() -> None:
    """1,000 readers against 30 % faults and live changes: no failed read, no missed change."""
    result = subprocess.run(  # noqa: S603  # our own script, run as a user runs it
        [sys.executable, "-W", "error", str(SOAK), "--seconds", "3", "--seed", "7", "--no-write"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reads failed      0\n" in result.stdout
    assert "missed            final == server: True; replayed events == final: True" in (
        result.stdout
    )
    assert "result            OK: every invariant held" in result.stdout
