"""Payload factories: small NanoGPT bodies to build test data from.

Each factory returns a fresh dict of plain JSON values shaped like
``GET /api/v1/image-models``; keyword overrides replace or add top-level
keys, ``None`` stays a JSON ``null`` and ``omit=`` drops keys, so a test
says only what it cares about::

    catalog_payload([
        model_payload("flux-pro"),
        model_payload("cheap", pricing={"per_image": 0.01, "currency": "USD"}),
        model_payload("no-id", omit=["id"]),   # an entry the parser must reject
    ])
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "ErrorStyle",
    "basic_model_payload",
    "catalog_payload",
    "error_body",
    "model_payload",
]


GENERATED_AT: Final = "2026-09-14T00:00:00.000Z"

ErrorStyle = Literal["openai", "image_api", "string", "status", "code_message", "type_message"]


def model_payload(
    model_id: str, /, *, omit: Iterable[str] = (), **overrides: Any
) -> dict[str, Any]:
    """A complete detailed model entry (every documented field), like a plain FLUX-style model.

    ``omit`` names top-level keys to leave out (applied after the overrides).
    Resolutions ``1024x1024``, ``1024x768``, ``768x1024`` priced 0.04/0.03/0.03
    USD, up to 4 images, text to image only.
    """
    payload: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": 1767225600,  # 2026-01-01
        "owned_by": "example",
        "name": _display_name(model_id),
        "description": f"Test model {model_id}.",
        "architecture": {
            "modality": "text->image",
            "input_modalities": ["text"],
            "output_modalities": ["image"],
        },
        "pricing": {
            "per_image": {"1024x1024": 0.04, "1024x768": 0.03, "768x1024": 0.03},
            "currency": "USD",
        },
        "capabilities": {
            "image_generation": True,
            "image_to_image": False,
            "inpainting": False,
            "nsfw": False,
        },
        "supported_parameters": {
            "resolutions": ["1024x1024", "1024x768", "768x1024"],
            "max_images": 4,
        },
        "icon_url": "/icons/Example.svg",
        "tags": ["text-to-image", "example"],
        "category": "image",
    }
    return _apply(payload, overrides, omit)


def basic_model_payload(
    model_id: str, /, *, omit: Iterable[str] = (), **overrides: Any
) -> dict[str, Any]:
    """An entry as ``detailed=false`` sends it: ``id``, ``object``, ``created``, ``owned_by``."""
    payload: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": 1767225600,
        "owned_by": "example",
    }
    return _apply(payload, overrides, omit)


def catalog_payload(
    models: Iterable[Any] | None = None,
    *,
    meta: bool | Mapping[str, Any] = True,
) -> dict[str, Any]:
    """A ``{"object": "list", "data": [...], "meta": {...}}`` body around ``models``.

    ``models`` defaults to three :func:`model_payload` entries; entries are
    copied as given (even ones that are not dicts).  ``meta=True`` writes the
    right ``count``; a mapping is merged over that (``meta={"count": 99}``
    for a count that disagrees); ``meta=False`` leaves ``meta`` out.
    """
    if models is None:
        data = [model_payload(model_id) for model_id in ("flux-pro", "hidream", "gpt-image-2")]
    else:
        data = copy.deepcopy(list(models))
    body: dict[str, Any] = {"object": "list", "data": data}
    if meta is not False:
        body["meta"] = {"count": len(data), "generated_at": GENERATED_AT}
        if meta is not True:
            body["meta"].update(copy.deepcopy(dict(meta)))
    return body


def error_body(
    style: ErrorStyle = "openai",
    code: str | None = "invalid_request",
    message: str = "Something went wrong",
    *,
    status: int = 400,
    error_type: str = "invalid_request_error",
    parameter: str | None = None,
) -> dict[str, Any]:
    """An error body in one of the envelopes NanoGPT uses (``code=None`` leaves the code out).

    ``openai``: ``{"error": {"message", "type", "code", "param"?}}``;
    ``image_api``: the same with ``parameter`` plus a top-level ``code``;
    ``string``: ``{"error": message, "code"}`` (seen on image routes);
    ``status``: ``{"error": message, "status"}`` (legacy);
    ``code_message``: ``{"code", "message"}``; ``type_message``: ``{"type", "message"}``.
    """
    codes = {} if code is None else {"code": code}
    if style == "openai":
        error: dict[str, Any] = {"message": message, "type": error_type, **codes}
        if parameter is not None:
            error["param"] = parameter
        return {"error": error}
    if style == "image_api":
        error = {"message": message, "type": error_type, **codes}
        if parameter is not None:
            error["parameter"] = parameter
        return {"error": error, **codes}
    if style == "string":
        return {"error": message, **codes}
    if style == "status":
        return {"error": message, "status": status}
    if style == "code_message":
        return {**codes, "message": message}
    if style == "type_message":
        return {"type": error_type, "message": message}
    raise ValueError(f"unknown error style {style!r}")


def _apply(
    payload: dict[str, Any], overrides: Mapping[str, Any], omit: Iterable[str]
) -> dict[str, Any]:
    payload.update(copy.deepcopy(dict(overrides)))
    for key in omit:
        payload.pop(key, None)
    return payload


def _display_name(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1].replace("-", " ").title()
