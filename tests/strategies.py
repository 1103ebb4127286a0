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
        "default", "1024x1024", "1024*1024",
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
ENTRIES = st.dictionaries(KNOWN_KEYS, SHAPED, max_size=8).map(lambda d: d) | SHAPED
BODIES = st.fixed_dictionaries(
    {"data": st.lists(ENTRIES, max_size=6)},
    optional={"object": SHAPED, "meta": SHAPED, "extra": SHAPED},
)
