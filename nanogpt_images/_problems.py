"""What is wrong with a request, and the close matches offered to put it right.

A leaf: the request checks (``_validation``), prices (``_pricing``) and the
catalog (``_models``) all build on it, and it imports none of them.
"""

from __future__ import annotations

import bisect
import difflib
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["IdSuggester", "ValidationProblem", "suggest"]


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


class IdSuggester:
    """Close matches among a catalog's ids, in a few milliseconds however many there are.

    :func:`suggest` scores every candidate with ``difflib``: 10 to 85 ms for
    10,000 ids, paid by every request for an id that is not there, which
    would make a mistyped (or hostile) id a way to stall a service.  Past
    :data:`EXACT_UP_TO` ids, only those near the word in three orders are
    scored: sorted as written (a typo late in the id), without their first
    character (one at the start), and backwards (one in the middle of a long
    common prefix); a close match is nearly always among them.  Scoring one
    id costs up to the square of its length, so only the first
    :data:`COMPARED` characters of ids (and of the word) are compared: the
    real ids are 40 at most, a hostile catalog's could be thousands.  Up to
    ``EXACT_UP_TO`` ids of up to ``COMPARED`` characters, the answer is
    exactly :func:`suggest`'s.
    """

    #: Ids scored from each side of the word, in each order.
    NEAR = 32
    #: Up to this many ids, every one is scored.
    EXACT_UP_TO = 500
    #: Characters of an id (and of the word) compared.
    COMPARED = 64

    def __init__(self, ids: Iterable[str]) -> None:
        # What is compared (case-folded, cut to COMPARED) -> the id; the first id wins a tie.
        self._folded: dict[str, str] = {}
        for model_id in ids:
            self._folded.setdefault(model_id.casefold()[: self.COMPARED], model_id)
        # For each order: the keys so written, sorted, and the keys they were made from.
        self._orders: tuple[tuple[tuple[str, ...], ...], ...] = ()
        if len(self._folded) > self.EXACT_UP_TO:
            keys = list(self._folded)
            self._orders = tuple(_sorted_by(keys, order) for order in _ORDERS)

    def __call__(self, word: str, limit: int = 3) -> tuple[str, ...]:
        """Up to ``limit`` close matches of ``word`` (case-insensitive), closest first."""
        folded_word = word.casefold()[: self.COMPARED]
        candidates: Iterable[str] = self._folded
        if self._orders:
            near: set[str] = set()
            for order, (written, keys) in zip(_ORDERS, self._orders, strict=True):
                at = bisect.bisect_left(written, order(folded_word))
                near.update(keys[max(0, at - self.NEAR) : at + self.NEAR])
            candidates = sorted(near)
        matches = difflib.get_close_matches(folded_word, candidates, n=limit, cutoff=0.6)
        return tuple(self._folded[match] for match in matches)


def _sorted_by(keys: list[str], order: Callable[[str], str]) -> tuple[tuple[str, ...], ...]:
    # Tuples of strings, which the collector stops walking after its first look (not lists).
    written = [order(key) for key in keys]
    positions = sorted(range(len(keys)), key=written.__getitem__)
    return tuple(written[at] for at in positions), tuple(keys[at] for at in positions)


def _as_written(key: str) -> str:
    return key


def _without_first(key: str) -> str:
    return key[1:]


def _backwards(key: str) -> str:
    return key[::-1]


_ORDERS = (_as_written, _without_first, _backwards)
