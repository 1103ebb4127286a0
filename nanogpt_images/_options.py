"""Checks of constructor arguments, each failing with what was wrong and what would be right.

Wrong types are a :class:`TypeError`, wrong values a :class:`ValueError`,
raised at construction so a misconfigured service fails at start-up, not on
its first request.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_bool", "check_count", "check_seconds", "check_str"]


def check_seconds(
    name: str, value: Any, *, positive: bool = True, none: bool = False, infinite: bool = False
) -> None:
    """``value`` is a number of seconds: > 0 (>= 0 when not ``positive``), finite unless allowed."""
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        also = " or None" if none else ""
        raise TypeError(f"{name} must be a number of seconds{also}, not {type(value).__name__}")
    least = "a positive" if positive else "a non-negative"
    finite = "" if infinite else " finite"
    bad = math.isnan(value) or (math.isinf(value) and not infinite)
    if bad or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {least}{finite} number of seconds, not {value!r}")


def check_count(name: str, value: Any, *, positive: bool = False) -> None:
    """``value`` is a whole number (at least 1 when ``positive``, else at least 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
    least = 1 if positive else 0
    if value < least:
        raise ValueError(f"{name} must be {least} or more, not {value!r}")


def check_bool(name: str, value: Any) -> None:
    """``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def check_str(name: str, value: Any, *, none: bool = False) -> None:
    """``value`` is a string (or ``None`` when allowed)."""
    if value is None and none:
        return
    if not isinstance(value, str):
        also = " or None" if none else ""
        raise TypeError(f"{name} must be a string{also}, not {type(value).__name__}")
