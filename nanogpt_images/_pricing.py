"""Prices from the pricing shapes NanoGPT sends.

Shapes read, in this order:

* ``per_image`` as a map from an opaque resolution key (``1024x1024``,
  ``1024*1024``, ``1k``, ``16:9``, ``auto``, ``square_hd``...) to a price;
  keys match a resolution after :func:`~._validation.normalise_resolution`,
  and a ``default`` key prices resolutions the map does not name.  The
  endpoint route's list of ``{resolution, cost_usd}`` lines arrives here
  already turned into this map by the converter;
* ``per_image`` as one number for every resolution the model lists;
* ``by_rendering_speed``, one such map per speed tier: with no speed to ask
  for, the price is the cheapest tier's, the "from" price of a picker.

``lora`` prices a LoRA add-on, which a plain request does not buy, so it is
never read.  Every other shape gives ``None``: no price beats a wrong one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from . import _models, _validation
from ._errors import ParameterValidationError

if TYPE_CHECKING:
    from ._models import ImageModel

__all__ = ["price"]


def price(model: ImageModel, resolution: str | None, n: int) -> Decimal | None:
    """USD cost of a request for ``n`` images at ``resolution``, or ``None``.

    With no resolution it is the lowest per-image price.  A model with
    ``fixed_image_count = k`` always makes k images, so its cost is the unit
    price times k whatever ``n`` is.  An ``n`` that is not a whole number of
    at least 1 raises :class:`ParameterValidationError` (a ``ValueError``),
    the same problem :meth:`ImageModel.validate` reports.
    """
    if type(n) is not int or n < 1:
        message = f"`n` must be a whole number of images, at least 1; got `{n}`"
        problem = _models.ValidationProblem("n", n, message, minimum=1)
        raise ParameterValidationError(model.id, [problem])
    pricing = model.pricing
    if pricing is None:
        return None
    unit = _unit_price(model, pricing, resolution)
    if unit is None or not math.isfinite(unit) or unit < 0:
        return None
    params = model.supported_parameters
    fixed = params.fixed_image_count if params is not None else None
    count = fixed if fixed is not None and fixed >= 1 else n
    return Decimal(str(unit)) * count


def _unit_price(
    model: ImageModel, pricing: _models.Pricing, resolution: str | None
) -> float | None:
    per_image = pricing.per_image
    if isinstance(per_image, Mapping):
        if per_image:
            return _from_table(per_image, resolution)
    elif per_image is not None:
        if resolution is None or _is_allowed(model, resolution):
            return per_image
        return None
    speeds = pricing.by_rendering_speed
    if speeds:
        prices = [_from_table(table, resolution) for table in speeds.values() if table]
        known = [value for value in prices if value is not None]
        return min(known) if known else None
    return None


def _from_table(table: Mapping[str, float], resolution: str | None) -> float | None:
    """The price of ``resolution`` in one map; its lowest price when no resolution."""
    if resolution is None:
        return min(table.values())
    value = table.get(resolution)
    if value is None:
        value = table.get(resolution.replace("x", "*"))
    if value is not None:
        return value
    wanted = _validation.normalise_resolution(resolution)
    for key, value in table.items():
        if _validation.normalise_resolution(key) == wanted:
            return value
    return table.get("default")


def _is_allowed(model: ImageModel, resolution: str) -> bool:
    """Whether ``resolution`` names one of the model's resolutions (true when it lists none)."""
    allowed = _validation.allowed_resolutions(model)
    if allowed is None or resolution in allowed:
        return True
    return _validation.normalise_resolution(resolution) in _validation.resolution_index(allowed)
