"""The Image API's bodies, derived from a ``GET /api/v1/image-models`` catalog.

:class:`~nanogpt_images.testing.FakeNanoGPT` serves one catalog on both list
routes and the endpoint details of each of its models; these functions make
the other bodies from the catalog the way NanoGPT's own differ (section 2 of
the API fact sheet): the Image API list has no ``object``, ``pricing``,
``icon_url``, ``tags`` or ``architecture.modality``, and adds ``endpoints``
and ``supports_streaming``; the details list one endpoint with a price line
per priced resolution.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ENDPOINTS_PREFIX",
    "ENDPOINTS_SUFFIX",
    "IMAGES_PATH",
    "endpoints_body",
    "images_catalog",
    "images_record",
]

IMAGES_PATH = "/api/v1/images/models"
ENDPOINTS_PREFIX = IMAGES_PATH + "/"
ENDPOINTS_SUFFIX = "/endpoints"
_LEGACY_ONLY = ("object", "pricing", "icon_url", "tags")


def images_catalog(catalog: Mapping[str, Any]) -> dict[str, Any]:
    """The ``GET /api/v1/images/models`` body for the same models as ``catalog``."""
    data = catalog.get("data")
    if not isinstance(data, list):
        return dict(catalog)
    items = [images_record(model) if isinstance(model, dict) else model for model in data]
    return {**catalog, "data": items}


def images_record(model: Mapping[str, Any]) -> dict[str, Any]:
    """One model as the Image API list shows it."""
    record = {key: copy.deepcopy(value) for key, value in model.items() if key not in _LEGACY_ONLY}
    architecture = record.get("architecture")
    if isinstance(architecture, dict):
        architecture.pop("modality", None)
    record.setdefault("supports_streaming", False)
    if isinstance(model.get("id"), str):
        record.setdefault("endpoints", ENDPOINTS_PREFIX + model["id"] + ENDPOINTS_SUFFIX)
    return record


def endpoints_body(model: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/endpoints`` body of one catalog model: one endpoint, its price lines, its limits."""
    params = model.get("supported_parameters")
    params = copy.deepcopy(params) if isinstance(params, dict) else {}
    pricing = model.get("pricing")
    owner = model.get("owned_by")
    owner = owner if isinstance(owner, str) and owner else "nanogpt"
    endpoint: dict[str, Any] = {
        "provider_name": owner.title(),
        "provider_slug": owner,
        "provider_tag": None,
        "supported_parameters": params,
        "allowed_passthrough_parameters": [],
        "supports_streaming": False,
        "pricing": price_lines(pricing, params.get("resolutions")),
    }
    if isinstance(pricing, dict):
        endpoint["public_pricing"] = copy.deepcopy(pricing)
    if isinstance(params.get("input_image_constraints"), dict):
        endpoint["input_reference_constraints"] = copy.deepcopy(params["input_image_constraints"])
    if isinstance(model.get("capabilities"), dict):
        endpoint["capabilities"] = copy.deepcopy(model["capabilities"])
    return {"id": model.get("id"), "endpoints": [endpoint]}


def price_lines(pricing: Any, resolutions: Any) -> list[dict[str, Any]]:
    """One ``{billable, unit, cost_usd, currency, resolution}`` line per priced resolution."""
    if not isinstance(pricing, dict):
        return []
    currency = pricing.get("currency", "USD")
    per_image = pricing.get("per_image")
    if isinstance(per_image, int | float) and not isinstance(per_image, bool):
        names = resolutions if isinstance(resolutions, list) and resolutions else ["auto"]
        per_image = dict.fromkeys((name for name in names if isinstance(name, str)), per_image)
    if not isinstance(per_image, dict):
        return []
    return [
        {
            "billable": "output_image",
            "unit": "image",
            "cost_usd": cost,
            "currency": currency,
            "resolution": resolution,
        }
        for resolution, cost in per_image.items()
        if isinstance(cost, int | float) and not isinstance(cost, bool)
    ]
