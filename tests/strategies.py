"""Hypothesis strategies for JSON bodies shaped like (and unlike) catalogs, shared by tests."""

from __future__ import annotations

from hypothesis import strategies as st

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)  # JSON numbers have no limit; a double does
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KNOWN_KEYS = st.sampled_from(
    [
        "id", "object", "created", "owned_by", "name", "description", "architecture", "pricing",
        "capabilities", "supported_parameters", "icon_url", "tags", "category", "per_image",
        "currency", "by_rendering_speed", "lora", "resolutions", "max_images", "fixed_image_count",
        "input_image_constraints", "route", "provider", "formats", "modality", "nsfw", "type",
        "input_modalities", "output_modalities", "max_input_images", "max_output_images",
        "rendering_speed", "image_to_image", "inpainting", "max_items", "size", "values",
        "default", "1024x1024", "1024*1024", "endpoints", "supports_streaming",
    ]
)  # fmt: skip
SHAPED = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KNOWN_KEYS | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=30,
)
ENTRIES_MAPS = st.dictionaries(KNOWN_KEYS, SHAPED, max_size=8)
ENTRIES = ENTRIES_MAPS | SHAPED
BODIES = st.fixed_dictionaries(
    {"data": st.lists(ENTRIES, max_size=6)},
    optional={"object": SHAPED, "meta": SHAPED, "extra": SHAPED},
)

# -- endpoint details (GET /api/v1/images/models/{id}/endpoints) ----------------

LINE_KEYS = st.sampled_from(["billable", "unit", "cost_usd", "currency", "resolution"])
PRICE_LINES = st.lists(
    st.dictionaries(LINE_KEYS | st.text(max_size=4), SHAPED, max_size=6) | SHAPED, max_size=4
)
ENDPOINT_KEYS = st.sampled_from(
    [
        "provider_name", "provider_slug", "provider_tag", "supported_parameters",
        "allowed_passthrough_parameters", "supports_streaming", "public_pricing",
        "input_reference_constraints", "capabilities", "route", "max_items", "per_image",
    ]
)  # fmt: skip
ENDPOINT_ENTRIES = (
    st.fixed_dictionaries(
        {}, optional={"pricing": PRICE_LINES | SHAPED, "supported_parameters": SHAPED}
    ).flatmap(
        lambda known: st.dictionaries(ENDPOINT_KEYS | st.text(max_size=6), SHAPED, max_size=5).map(
            lambda rest: {**rest, **known}
        )
    )
    | SHAPED
)
ENDPOINT_BODIES = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=12), "endpoints": st.lists(ENDPOINT_ENTRIES, max_size=3)},
    optional={"extra": SHAPED, "object": SHAPED},
)
