"""What is wrong with a request, and the close matches offered to put it right.

A leaf: the request checks (``_validation``), prices (``_pricing``) and the
catalog (``_models``) all build on it, and it imports none of them.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ValidationProblem", "suggest"]


@attrs.frozen
class ValidationProblem:
    """One thing wrong with a generation request.

    ``message`` is fit to show an end user; ``allowed`` lists the values the
    model accepts, ``minimum``/``maximum`` bound a number, and ``suggestion``
    is the closest allowed value, when one is close.
    """

    parameter: str
    value: Any
    message: str
    allowed: tuple[Any, ...] | None = None
    suggestion: Any = None
    minimum: Any = None
    maximum: Any = None


def suggest(word: str, candidates: Iterable[str], limit: int = 3) -> tuple[str, ...]:
    """Up to ``limit`` close matches of ``word`` among ``candidates``, ignoring case."""
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(candidate.casefold(), candidate)
    matches = difflib.get_close_matches(word.casefold(), folded, n=limit, cutoff=0.6)
    return tuple(folded[match] for match in matches)
