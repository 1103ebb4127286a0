"""Per-model endpoint details: ``GET /api/v1/images/models/{id}/endpoints``.

Frozen attrs classes with ``extras``, read and written by the catalog's
converter, so :func:`dump_endpoints` gives back exactly the body
:func:`parse_endpoints` read.  A price line the library cannot use (no cost,
another currency or unit, a currency or unit it cannot read) is kept as sent
and never breaks the read; it just gives no price.  A number written as a
string (``"0.05"``) is read as the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from . import _converter
from ._errors import DecodeError
from ._models import Capabilities, InputImageConstraints, Pricing, SupportedParameters
from ._read_only import ReadOnlyDict

__all__ = ["Endpoint", "ModelEndpoints", "PriceLine", "dump_endpoints", "parse_endpoints"]

Extras = dict[str, Any]


@attrs.frozen(hash=False)
class PriceLine:
    """One line of an endpoint's price list: what is billed, per what, for how much.

    The real route bills ``output_image`` per ``image`` at one ``resolution``
    (``1024x1024``, ``1k``, ``auto``...); ``cost_usd`` is in US dollars.
    """

    billable: str | None = None
    unit: str | None = None
    cost_usd: float | None = None
    currency: str | None = None
    resolution: str | None = None
    extras: Extras = attrs.Factory(dict)

    @property
    def per_image_usd(self) -> float | None:
        """The USD price of one image at ``resolution``; ``None`` when the line says otherwise."""
        cost = self.cost_usd
        if cost is None or not 0 <= cost < float("inf"):
            return None
        for name in ("billable", "unit", "currency"):  # sent, but not as anything readable
            if getattr(self, name) is None and name in self.extras:
                return None
        if self.unit not in (None, "image") or self.billable not in (None, "output_image"):
            return None
        currency = self.currency
        if currency is not None and currency.strip().upper() not in ("USD", ""):
            return None
        return cost


@attrs.frozen(hash=False)
class Endpoint:
    """One provider serving a model: its parameters, prices and input-image limits."""

    provider_name: str | None = None
    provider_slug: str | None = None
    provider_tag: str | None = None
    supported_parameters: SupportedParameters | None = None
    allowed_passthrough_parameters: tuple[str, ...] | None = None
    supports_streaming: bool | None = None
    pricing: tuple[PriceLine, ...] | None = None
    public_pricing: Pricing | None = None
    input_reference_constraints: InputImageConstraints | None = None
    capabilities: Capabilities | None = None
    extras: Extras = attrs.Factory(dict)

    def as_pricing(self) -> Pricing | None:
        """The price lines as a catalog :class:`Pricing` (USD per image by resolution).

        Lines that price something else (another unit, another currency, no
        cost) are left out; with none left, ``public_pricing``; else ``None``.
        """
        per_image: dict[str, float] = {}
        for line in self.pricing or ():
            unit = line.per_image_usd
            if unit is not None and line.resolution is not None:
                per_image.setdefault(line.resolution, unit)
        if per_image:
            return Pricing(currency="USD", per_image=ReadOnlyDict.of(per_image))
        return self.public_pricing

    @property
    def input_constraints(self) -> InputImageConstraints | None:
        """``input_reference_constraints``, else the ones in ``supported_parameters``."""
        if self.input_reference_constraints is not None:
            return self.input_reference_constraints
        params = self.supported_parameters
        return params.input_image_constraints if params is not None else None


@attrs.frozen(hash=False)
class ModelEndpoints:
    """The endpoint details of one model: ``id`` and one :class:`Endpoint` per provider.

    NanoGPT currently lists one public endpoint per model; the first is the
    one requests go to.
    """

    id: str
    endpoints: tuple[Endpoint, ...]
    extras: Extras = attrs.Factory(dict)

    @property
    def primary(self) -> Endpoint | None:
        """The first endpoint, the one NanoGPT routes requests to; ``None`` when none is listed."""
        return self.endpoints[0] if self.endpoints else None


def parse_endpoints(data: bytes | str | Mapping[str, Any]) -> ModelEndpoints:
    """Read a ``GET /api/v1/images/models/{id}/endpoints`` body into :class:`ModelEndpoints`.

    Tolerant like :func:`~nanogpt_images.parse_catalog`: a value that does not
    fit its field is kept in ``extras``.  Raises :class:`DecodeError` when the
    body is not JSON, not an object, has no string ``id`` or no
    ``endpoints`` list.  A ``Mapping`` is copied, never kept.
    """
    if not isinstance(data, bytes | bytearray | memoryview | str | Mapping):
        raise TypeError(
            f"parse_endpoints() takes bytes, str or a Mapping, not {type(data).__name__}"
        )
    if isinstance(data, Mapping):
        try:
            tree = _converter.copy_json(data)
        except RecursionError as exc:  # far deeper than MAX_DEPTH
            raise _converter.too_deep() from exc
    else:
        tree = _converter.loads(data, "body of endpoint details")
    if not isinstance(tree, dict):
        kind = _converter.kind(tree)
        raise DecodeError(
            f"expected a JSON object with 'id' and an 'endpoints' list, got {kind}",
            [f"$: expected an object, found {kind}"],
        )
    model_id, endpoints = tree.get("id"), tree.get("endpoints")
    if type(model_id) is not str or not model_id:
        found = "no 'id'" if model_id is None else f"'id' {model_id!r}"
        raise DecodeError(
            f"expected the model's 'id' as a non-empty string; the body has {found}",
            ["$.id: expected a non-empty string"],
        )
    if type(endpoints) is not list:
        found = "no 'endpoints' key" if "endpoints" not in tree else _converter.kind(endpoints)
        raise DecodeError(
            f"expected 'endpoints' to be a list of endpoints, got {found}",
            ["$.endpoints: expected a list"],
        )
    details: ModelEndpoints = _converter.CONVERTER.structure(tree, ModelEndpoints)
    return details


def dump_endpoints(details: ModelEndpoints) -> dict[str, Any]:
    """A plain, JSON-ready ``dict`` of ``details``, equal to the body it was parsed from."""
    return _converter.CONVERTER.unstructure(details)  # type: ignore[no-any-return]
