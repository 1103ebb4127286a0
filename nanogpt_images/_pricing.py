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

An entry that is NaN, infinite or negative is not a price: it is read as if
it were absent (the raw value stays in the data), so it neither hides a
valid "from" price nor depends on where it sits in the map.  ``lora``
prices a LoRA add-on, which a plain request does not buy, so it is never
read.  Every other shape gives ``None``: no price beats a wrong one.
Prices are USD: a ``currency`` other than ``USD`` gives ``None`` too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from . import _validation
from ._errors import ParameterValidationError
from ._read_only import ReadOnlyDict

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._models import ImageModel, Pricing

__all__ = [
    "image_count",
    "price",
    "spelling_prices",
    "unit_price",
    "valid_price",
]

_INF = float("inf")


def price(model: ImageModel, resolution: str | None, n: int) -> Decimal | None:
    """USD cost of a request for ``n`` images at ``resolution``, or ``None``.

    With no resolution it is the lowest per-image price.  ``price`` and
    :meth:`ImageModel.validate` read ``n`` by one rule: an ``n`` that
    ``validate`` refuses (not a whole number, over ``max_n``, other than a
    ``fixed_image_count``) raises the same :class:`ParameterValidationError`
    (a ``ValueError``).  The default ``n = 1`` stands for a request that
    leaves ``n`` out, so a model with ``fixed_image_count = k`` costs the
    unit price times k.
    """
    if resolution is not None and not isinstance(resolution, str):
        raise TypeError(
            f"resolution must be a string such as '1024x1024', not {type(resolution).__name__}"
        )
    count = image_count(model, n)
    unit = unit_price(model, resolution)
    return None if unit is None else Decimal(str(unit)) * count


def unit_price(model: ImageModel, resolution: str | None) -> float | None:
    """The price of one image as the data gives it (a float), or ``None``."""
    pricing = model.pricing
    if pricing is None or not pricing.in_usd:
        return None
    table = _usual_map(pricing)
    if table is not None:
        unit = _from_table(table, resolution)
    else:
        unit = _unit_price(model, pricing, resolution)
    return unit if valid_price(unit) else None


def spelling_prices(model: ImageModel) -> dict[str, float] | None:
    """What the model's price map gives for each normalised spelling of its keys, at once.

    As :func:`_from_table` reads the map: a key already in the normalised
    form wins over other spellings of it.  Only the keys the map names: the
    ``default`` price of a resolution it does not name is for
    :func:`unit_price` to apply.  ``None`` when the model is not priced by a
    map.
    """
    pricing = model.pricing
    table = None if pricing is None or not pricing.in_usd else _usual_map(pricing)
    if table is None:
        return None
    prices = _prices(table)
    spellings = _validation.resolution_index(tuple(prices))
    return {key: prices.get(key, prices[raw]) for key, raw in spellings.items()}


def _usual_map(pricing: Pricing) -> Mapping[str, float] | None:
    """``per_image`` when it has the usual shape, a non-empty price map; else ``None``."""
    table = pricing.per_image
    return table if type(table) is ReadOnlyDict and table else None


def valid_price(unit: float | None) -> bool:
    """Whether ``unit`` is a price at all: a number, not negative, infinite or NaN."""
    return unit is not None and 0 <= unit < _INF


def image_count(model: ImageModel, n: int) -> int:
    """How many images a request for ``n`` is billed for, by the rule of ``validate``.

    An ``n`` that ``validate(n=n)`` refuses raises its :class:`ParameterValidationError`.
    ``n = 1``, the default of :func:`price`, stands for a request that leaves
    ``n`` out, which is always valid: it is billed for ``fixed_image_count``
    images when the model has one, else for one.
    """
    if (n == 1 and type(n) is int) or _validation.as_int(n) == 1:
        params = model.supported_parameters
        fixed = params.fixed_image_count if params is not None else None
        return fixed if fixed is not None and fixed >= 1 else 1
    count, problem = _validation.check_n(model, n)
    if problem is not None:
        raise ParameterValidationError(model.id, [problem])
    return count  # type: ignore[no-any-return]


def _unit_price(model: ImageModel, pricing: Pricing, resolution: str | None) -> float | None:
    per_image = pricing.per_image
    if isinstance(per_image, float | int):
        if resolution is None or _is_allowed(model, resolution):
            return per_image
        return None
    if per_image:
        return _from_table(per_image, resolution)
    speeds = pricing.by_rendering_speed
    if speeds:
        prices = [_from_table(table, resolution) for table in speeds.values() if table]
        known = [value for value in prices if value is not None]
        return min(known) if known else None
    return None


def _from_table(table: Mapping[str, float], resolution: str | None) -> float | None:
    """The price of ``resolution`` in one map; its lowest price when no resolution.

    An entry that is not a price (:func:`valid_price`) is read as if absent.
    """
    if resolution is None:
        return min(filter(valid_price, table.values()), default=None)
    value = table.get(resolution)
    if value is not None and 0 <= value < _INF:  # valid_price(), inlined: the usual path
        return value
    wanted = _validation.normalise_resolution(resolution)
    value = table.get(wanted)
    if value is not None and 0 <= value < _INF:
        return value
    prices = _prices(table)
    key = _validation.resolution_index(tuple(prices)).get(wanted)
    return prices[key] if key is not None else prices.get("default")


def _prices(table: Mapping[str, float]) -> Mapping[str, float]:
    """``table`` without the entries that are not prices (NaN, infinite, negative)."""
    if all(map(valid_price, table.values())):
        return table
    return {key: value for key, value in table.items() if valid_price(value)}


def _is_allowed(model: ImageModel, resolution: str) -> bool:
    """Whether ``resolution`` names one of the model's resolutions (true when it lists none)."""
    allowed = _validation.allowed_resolutions(model)
    if allowed is None or resolution in allowed:
        return True
    return _validation.normalise_resolution(resolution) in _validation.resolution_index(allowed)
