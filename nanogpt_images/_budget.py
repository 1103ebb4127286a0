"""``Budget``: a USD limit that concurrent generations share and never overspend together.

Each generation reserves its estimate before it sends anything and settles
with the real cost when the answer comes (or releases the reservation when
nothing was sent), so two calls racing for the last dollar cannot both win.
Reserving is one synchronous step under a lock: safe between asyncio tasks
and between threads.
"""

from __future__ import annotations

import threading
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from ._errors import BudgetExceededError

__all__ = ["Budget", "Reservation", "as_usd"]


class Budget:
    """A spending limit in USD, shared by the ``generate()`` calls that pass it.

    ``Budget(Decimal("5"))`` lets generations go ahead while their estimates
    fit in what is left; a call that would not fit raises
    :class:`~nanogpt_images.BudgetExceededError` before any request.  The
    real cost of each generation is counted when its answer arrives (it may
    differ from the estimate, so ``spent`` can end a little over ``limit``);
    a generation whose outcome is unknown (it may have been billed) counts
    its estimate.  Give the limit as a ``Decimal``, an ``int``, a string
    or a float (read as it prints: ``0.1`` is a tenth).
    """

    def __init__(self, limit: Decimal | float | str) -> None:
        self._limit = as_usd("limit", limit)
        self._spent = Decimal(0)
        self._reserved = Decimal(0)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Budget(limit={self._limit}, spent={self._spent}, reserved={self._reserved})"

    @property
    def limit(self) -> Decimal:
        """The limit in USD."""
        return self._limit

    @property
    def spent(self) -> Decimal:
        """USD counted as spent: real costs, and the estimates of possibly billed requests."""
        return self._spent

    @property
    def reserved(self) -> Decimal:
        """USD held by generations in flight."""
        return self._reserved

    @property
    def remaining(self) -> Decimal:
        """What a new generation may still reserve: limit, less spent and reserved (may be < 0)."""
        return self._limit - self._spent - self._reserved

    def reset(self) -> None:
        """Forget what was spent (a new day, say); reservations in flight stay held."""
        with self._lock:
            self._spent = Decimal(0)

    def reserve(self, estimate: Decimal | None, *, what: str) -> Reservation:
        """Hold ``estimate`` USD for the request ``what`` names, or refuse it.

        Raises :class:`~nanogpt_images.BudgetExceededError` when the estimate
        is unknown or does not fit in :attr:`remaining`.
        """
        with self._lock:
            left = self.remaining
            if estimate is None:
                raise BudgetExceededError(
                    f"the price of {what} is unknown, so it cannot be checked against the "
                    f"budget (${left} left of ${self._limit}); generate without budget= to "
                    "go ahead anyway",
                    estimate=None,
                    limit=left,
                )
            if estimate > left:
                raise BudgetExceededError(
                    f"{what} is estimated at ${estimate}, more than the ${left} left of the "
                    f"${self._limit} budget (${self._spent} spent, ${self._reserved} held "
                    "by generations in flight)",
                    estimate=estimate,
                    limit=left,
                )
            self._reserved += estimate
            return Reservation(self, estimate)

    def _close(self, reservation: Reservation, cost: Decimal | None) -> None:
        with self._lock:
            if reservation.closed:
                return
            reservation.closed = True
            self._reserved -= reservation.estimate
            if cost is not None:
                self._spent += cost


@attrs.define(eq=False)
class Reservation:
    """An estimate held in a :class:`Budget` for one generation until it is settled."""

    budget: Budget
    estimate: Decimal
    closed: bool = False

    def settle(self, cost: Decimal) -> None:
        """Count ``cost`` as spent instead of the estimate held. Idempotent."""
        self.budget._close(self, cost)

    def release(self) -> None:
        """Give the estimate back: nothing was sent, nothing was spent. Idempotent."""
        self.budget._close(self, None)


def as_usd(name: str, value: Any) -> Decimal:
    """``value`` as a finite, non-negative USD ``Decimal``; a float is read as it prints."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise TypeError(
            f"{name} must be an amount in USD (a Decimal, a number or a string such as "
            f"'0.10'), not {type(value).__name__}"
        )
    if isinstance(value, float):
        value = repr(value)  # 0.1 means a tenth, not 0.1000000000000000055511151231257827
    try:
        amount = Decimal(value.strip().removeprefix("$") if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{name} must be an amount in USD such as '0.10', not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} must be a finite amount of USD, 0 or more, not {value!r}")
    return amount
