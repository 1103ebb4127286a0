"""The data the testing kit ships: the bundled sample catalog and the payload factories.

The shape checks pin the variety the sample must keep, so a regenerated
sample cannot silently lose a case the SDK has to handle.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from nanogpt_images import dump_catalog, parse_catalog
from nanogpt_images.testing import (
    basic_model_payload,
    catalog_payload,
    error_body,
    model_payload,
    sample_catalog,
    sample_catalog_bytes,
)

SENTINEL_CREATED = 1704067200


@pytest.fixture(scope="module")
def models() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = sample_catalog()["data"]
    return data


def _per_image_maps(models: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (m, m["pricing"]["per_image"])
        for m in models
        if isinstance(m["pricing"].get("per_image"), dict)
    ]


def _count(models: list[dict[str, Any]], predicate: Any) -> int:
    return sum(1 for m in models if predicate(m))


def test_envelope_has_about_230_unique_string_ids() -> None:
    """The sample is catalog-sized, ids are unique strings and meta.count matches."""
    body = sample_catalog()
    assert set(body) == {"object", "data", "meta"}
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert 220 <= len(ids) <= 250
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == len(ids)
    assert body["meta"] == {"count": len(ids), "generated_at": "2026-09-14T00:00:00.000Z"}


def test_size_is_like_the_live_catalog() -> None:
    """The body weighs about what the live ~230-model list does (200-260 KB)."""
    assert 200_000 <= len(sample_catalog_bytes()) <= 260_000


def test_each_call_returns_a_fresh_copy() -> None:
    """Mutating one sample never leaks into the next call."""
    first = sample_catalog()
    first["data"].clear()
    assert len(sample_catalog()["data"]) == sample_catalog()["meta"]["count"]
    assert json.loads(sample_catalog_bytes()) == sample_catalog()


def test_sample_parses_without_rejections_and_round_trips() -> None:
    """The SDK reads every sample entry and dumps the body back unchanged."""
    catalog = parse_catalog(sample_catalog_bytes())
    assert len(catalog) == sample_catalog()["meta"]["count"]
    assert catalog.rejected == ()
    assert dump_catalog(catalog) == sample_catalog()


def test_contains_real_and_awkward_ids(models: list[dict[str, Any]]) -> None:
    """Real ids with slashes, AIR colons/@ and mixed case are all present."""
    ids = {m["id"] for m in models}
    for expected in [
        "hidream",
        "flux-pro",
        "flux-kontext",
        "flux-pro/v1.1",
        "gpt-image-1",
        "gpt-image-2",
        "openai/gpt-image-2.5/flare/text-to-image",
        "nano-banana-2-lite",
        "bytedance/seedream-v5.0-pro",
        "birefnet/v2",
        "midjourney/text-to-image",
        "higgsfield-soul",
        "pruna-ai/p-image/text-to-image",
        "prunaai:1@1",
        "runware:107@1",
        "Upscaler",
    ]:
        assert expected in ids, expected
    assert sum("/" in i for i in ids) >= 40


def test_real_records_keep_their_observed_parameters_and_prices(
    models: list[dict[str, Any]],
) -> None:
    """gpt-image-2, seedream-v5.0-pro and birefnet/v2 carry the values seen live."""
    by_id = {m["id"]: m for m in models}
    gpt = by_id["gpt-image-2"]
    assert gpt["supported_parameters"]["resolutions"][-1] == "2560x1440"
    assert gpt["pricing"] == {
        "per_image": {
            "1024x1024": 0.06551,
            "1024x768": 0.05225,
            "1024x1536": 0.05351,
            "1536x1024": 0.05351,
            "1152x2048": 0.06551,
            "2048x1152": 0.07133,
            "2560x1440": 0.07289,
            "auto": 0.06551,
        },
        "currency": "USD",
    }
    seedream = by_id["bytedance/seedream-v5.0-pro"]
    assert seedream["pricing"]["per_image"]["1k"] == 0.045
    assert seedream["supported_parameters"]["input_image_constraints"]["provider"]["max_bytes"] == (
        10485760
    )
    assert by_id["birefnet/v2"]["pricing"] == {"per_image": {"auto": 0.01}, "currency": "USD"}


def test_price_keys_come_in_every_spelling(models: list[dict[str, Any]]) -> None:
    """Price keys come as 1024x1024, 1024*1024, 1k/2k/4k, 16:9, auto, square_hd, landscape_16_9."""
    keys = {k for _, per_image in _per_image_maps(models) for k in per_image}
    assert any(re.fullmatch(r"\d{3,4}x\d{3,4}", k) for k in keys)
    assert any(re.fullmatch(r"\d{3,4}\*\d{3,4}", k) for k in keys)
    assert {"1k", "2k", "4k", "16:9", "auto", "square_hd", "landscape_16_9"} <= keys
    star_models = [
        m for m, per_image in _per_image_maps(models) if any("*" in k for k in per_image)
    ]
    assert 5 <= len(star_models) <= 40  # some, not most
    assert all(
        all("*" not in r for r in m["supported_parameters"]["resolutions"]) for m in star_models
    )


def test_auto_is_priced_but_not_listed(models: list[dict[str, Any]]) -> None:
    """Several models price `auto` without listing it among their resolutions."""
    unlisted = [
        m["id"]
        for m, per_image in _per_image_maps(models)
        if "auto" in per_image and "auto" not in m["supported_parameters"].get("resolutions", [])
    ]
    assert "gpt-image-2" in unlisted
    assert len(unlisted) >= 5
    assert any("auto" in m["supported_parameters"].get("resolutions", []) for m in models)


def test_pricing_shapes_vary(models: list[dict[str, Any]]) -> None:
    """Prices by rendering speed, LoRA add-ons, bare numbers and currency-only pricing all occur."""
    pricings = [m["pricing"] for m in models]
    speed = [m for m in models if "by_rendering_speed" in m["pricing"]]
    assert len(speed) == 2
    assert all("rendering_speed" in m["supported_parameters"] for m in speed)
    assert any(isinstance(p.get("lora", {}).get("per_image"), dict) for p in pricings)
    assert any(isinstance(p.get("lora", {}).get("per_image"), float) for p in pricings)
    assert 2 <= sum(isinstance(p.get("per_image"), (int, float)) for p in pricings) <= 8
    assert 2 <= sum(p == {"currency": "USD"} for p in pricings) <= 8


def test_fixed_image_count_matches_the_live_census(models: list[dict[str, Any]]) -> None:
    """14 models fix their image count: 4 for midjourney and higgsfield-soul, else 1."""
    fixed = {
        m["id"]: m["supported_parameters"]["fixed_image_count"]
        for m in models
        if "fixed_image_count" in m["supported_parameters"]
    }
    assert len(fixed) == 14
    assert {i for i, n in fixed.items() if n != 1} == {
        "midjourney/text-to-image",
        "higgsfield-soul",
    }
    assert fixed["midjourney/text-to-image"] == 4


def test_image_input_limits_are_common(models: list[dict[str, Any]]) -> None:
    """About 100 models state image-input limits, with route blocks and some provider blocks."""
    params = [m["supported_parameters"] for m in models]
    constraints = [p["input_image_constraints"] for p in params if "input_image_constraints" in p]
    assert 90 <= len(constraints) <= 120
    assert all({"max_items", "route"} <= set(c) for c in constraints)
    assert 10 <= sum("provider" in c for c in constraints) < len(constraints)
    assert sum("max_input_images" in p for p in params) >= 90
    assert sum("max_output_images" in p for p in params) >= 100


def test_created_sentinel_on_about_80_models(models: list[dict[str, Any]]) -> None:
    """The 2024-01-01 `created` sentinel appears on ~80 models, real dates on the rest."""
    assert 70 <= _count(models, lambda m: m["created"] == SENTINEL_CREATED) <= 90
    assert all(isinstance(m["created"], int) for m in models)


def test_presentation_fields(models: list[dict[str, Any]]) -> None:
    """icon_url is a relative path, tags are string lists, category is image; both optional."""
    icons = [m["icon_url"] for m in models if "icon_url" in m]
    assert icons
    assert all(i.startswith("/icons/") for i in icons)
    assert len(icons) < len(models)
    assert all(isinstance(t, str) for m in models for t in m.get("tags", []))
    assert _count(models, lambda m: "tags" not in m) >= 1
    assert {m["category"] for m in models} == {"image"}


def test_capability_conflicts_are_present(models: list[dict[str, Any]]) -> None:
    """Some models say image_to_image false yet accept several input images."""
    conflicted = [
        m["id"]
        for m in models
        if m["capabilities"]["image_to_image"] is False
        and m["supported_parameters"].get("max_input_images", 0) > 1
    ]
    assert "nano-banana-pro-ultra" in conflicted


def test_typed_descriptors_appear_in_supported_parameters(models: list[dict[str, Any]]) -> None:
    """A handful of models describe parameters as typed enum, range and boolean descriptors."""
    descriptors = [
        v
        for m in models
        for v in m["supported_parameters"].values()
        if isinstance(v, dict) and "type" in v
    ]
    assert {d["type"] for d in descriptors} == {"enum", "range", "boolean"}
    assert {"type": "enum", "values": ["1k", "2k", "4k"], "default": "1k"} in descriptors
    typed_only = [m for m in models if "resolutions" not in m["supported_parameters"]]
    assert typed_only  # a model that only speaks the typed shape


def test_unknown_keys_are_exercised(models: list[dict[str, Any]]) -> None:
    """Keys the data model does not name occur: label, supports_streaming, endpoints, new flags."""
    top_level = {k for m in models for k in m}
    assert {"label", "supports_streaming", "endpoints"} <= top_level
    flags = {k for m in models for k in m["capabilities"]}
    assert flags - {"image_generation", "image_to_image", "inpainting", "nsfw"}


def test_model_payload_overrides_and_omits_top_level_keys() -> None:
    """Overrides replace keys, None stays null, omit= drops keys, and nothing is shared."""
    shared = {"per_image": 0.01, "currency": "USD"}
    payload = model_payload("x", pricing=shared, description=None, omit=["tags"])
    assert payload["pricing"] == shared
    assert payload["pricing"] is not shared
    assert payload["description"] is None
    assert "tags" not in payload
    assert "id" not in model_payload("broken", omit=["id"])
    assert model_payload("x", id=42)["id"] == 42
    assert set(basic_model_payload("x")) == {"id", "object", "created", "owned_by"}


def test_catalog_payload_writes_meta() -> None:
    """meta.count follows the data unless a test overrides it or drops meta."""
    assert catalog_payload()["meta"]["count"] == 3
    body = catalog_payload([model_payload("a"), 7], meta={"count": 99})
    assert body["data"][1] == 7
    assert body["meta"]["count"] == 99
    assert "meta" not in catalog_payload([], meta=False)
    assert len(parse_catalog(catalog_payload())) == 3


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("openai", {"error": {"message": "m", "type": "invalid_request_error", "code": "c"}}),
        (
            "image_api",
            {"error": {"message": "m", "type": "invalid_request_error", "code": "c"}, "code": "c"},
        ),
        ("string", {"error": "m", "code": "c"}),
        ("status", {"error": "m", "status": 400}),
        ("code_message", {"code": "c", "message": "m"}),
        ("type_message", {"type": "invalid_request_error", "message": "m"}),
    ],
)
def test_error_body_envelopes(style: Any, expected: dict[str, Any]) -> None:
    """error_body builds each error envelope NanoGPT is known to send."""
    assert error_body(style, "c", "m") == expected


def test_error_body_options() -> None:
    """code=None drops the code, parameter names the field, and an unknown style is refused."""
    assert error_body("string", None, "m") == {"error": "m"}
    assert error_body("openai", "c", "m", parameter="size")["error"]["param"] == "size"
    image_api = error_body("image_api", "missing_model", "m", parameter="model")
    assert image_api["error"]["parameter"] == "model"
    assert error_body("status", None, "Insufficient balance", status=402)["status"] == 402
    with pytest.raises(ValueError, match="style"):
        error_body("xml", "c", "m")  # type: ignore[arg-type]
