"""Exponential backoff that never overflows, for request retries and background refreshes."""

from __future__ import annotations

__all__ = ["exponential"]

#: 2.0**1024 overflows; by 2**1023 any usable start is at its cap (or inf, which min() drops).
_MAX_DOUBLINGS = 1023


def exponential(start: float, cap: float, doublings: int) -> float:
    """``start * 2**doublings``, at most ``cap``, for any number of doublings."""
    return min(cap, start * 2.0 ** min(max(doublings, 0), _MAX_DOUBLINGS))
