"""Prices from the pricing shapes NanoGPT sends (placeholder until issue 5 lands)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import ImageModel


def price(model: ImageModel, resolution: str | None, n: int) -> Decimal | None:
    raise NotImplementedError
