"""What a model accepts, and ImageModel.validate() against real and documented records."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from conftest import load_fixture
from hypothesis import given, settings
from hypothesis import strategies as st

from nanogpt_images import ImageModel, ParameterValidationError, parse_catalog
from nanogpt_images.testing import sample_catalog


def _models() -> dict[str, ImageModel]:
    docs = load_fixture("doc_examples.json")
    records = load_fixture("real_images_models_records.json")["data"]
    entries = [entry for example in docs.values() for entry in example["data"]] + records
    entries += [
        {
            "id": "openai/gpt-image-2.5/flare/edit",
            "supported_parameters": {
                "resolution": {"type": "enum", "values": ["1k", "2k", "4k"], "default": "1k"},
                "n": {"type": "range", "min": 1, "max": 4, "default": 1},
                "quality": {"type": "enum", "values": ["low", "medium", "high"]},
                "input_references": {"type": "range", "min": 0, "max": 4},
                "seed": {"type": "boolean"},
                "guidance": {"type": "range", "min": 1, "max": 20},
                "style": {"type": "mystery", "values": ["a"]},
            },
        },
        {
            "id": "ideogram-v3",
            "supported_parameters": {
                "resolutions": ["1024x1024", "1536x1024"],
                "rendering_speed": ["TURBO", "DEFAULT", "QUALITY"],
                "max_images": 4,
            },
        },
        {
            "id": "midjourney/text-to-image",
            "supported_parameters": {"resolutions": ["1:1", "16:9"], "fixed_image_count": 4},
        },
        {
            "id": "flux-pro/v1/vto",
            "supported_parameters": {"input_references": {"type": "range", "min": 2, "max": 2}},
        },
        {
            "id": "sdxl-text-only",
            "capabilities": {"image_to_image": True},
            "supported_parameters": {"max_input_images": 0},
        },
        {
            "id": "nano-banana-pro-ultra",
            "architecture": {"modality": "text->image", "input_modalities": ["text"]},
            "capabilities": {"image_to_image": False},
            "supported_parameters": {"max_input_images": 10},
        },
        {
            "id": "hidream-e1-1",
            "architecture": {"modality": "text+image->image"},
            "capabilities": {"image_to_image": False},
        },
        {"id": "flux-lora/inpainting", "capabilities": {"inpainting": True}},
        {
            "id": "two-limits",
            "supported_parameters": {
                "max_input_images": 3,
                "input_image_constraints": {"max_items": 2},
            },
        },
        {"id": "constraints-only", "supported_parameters": {"input_image_constraints": {}}},
        {
            "id": "sized",
            "supported_parameters": {
                "size": {"type": "enum", "values": ["256x256", "512x512"]},
                "max_images": 8,
                "max_output_images": 6,
            },
        },
        {
            "id": "enum-resolutions",
            "supported_parameters": {"resolutions": {"type": "enum", "values": ["1k", "2k"]}},
        },
        {"id": "bare"},
    ]
    return {model.id: model for model in parse_catalog({"object": "list", "data": entries})}


MODELS = _models()
TYPED = "openai/gpt-image-2.5/flare/edit"
P_IMAGE = "pruna-ai/p-image/text-to-image"


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("flux-pro", ("1024x1024", "1024x768", "768x1024")),
        ("birefnet/v2", ("auto",)),
        (
            "bytedance/seedream-v5.0-pro",
            ("1:1", "16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "1k", "2k"),
        ),
        (TYPED, ("1k", "2k", "4k")),
        ("sized", ("256x256", "512x512")),
        ("enum-resolutions", ("1k", "2k")),
        ("model-id", None),
        ("bare", None),
    ],
)
def test_resolutions_come_from_the_list_or_an_enum_descriptor(
    model_id: str, expected: tuple[str, ...] | None
) -> None:
    """`resolutions` reads the flat list, else a `resolution`/`size` enum descriptor."""
    assert MODELS[model_id].resolutions == expected


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("flux-pro", 1),  # fixed_image_count 1 beats max_images 4
        ("midjourney/text-to-image", 4),
        (P_IMAGE, 4),
        ("gpt-image-2", 4),
        ("birefnet/v2", 1),
        (TYPED, 4),  # the `n` range descriptor
        ("sized", 6),  # the smaller of max_images and max_output_images
        ("bare", None),
    ],
)
def test_max_n_reconciles_counts(model_id: str, expected: int | None) -> None:
    """`max_n` is fixed_image_count, else the smallest of every stated maximum."""
    assert MODELS[model_id].max_n == expected


@pytest.mark.parametrize(
    ("model_id", "accepts", "limit"),
    [
        ("nano-banana-pro-ultra", True, 10),  # the number wins over image_to_image: false
        ("sdxl-text-only", False, 0),  # the number wins over image_to_image: true
        ("hidream-e1-1", True, None),  # the modality says image, the flag says no
        ("flux-lora/inpainting", True, None),  # inpainting needs an image
        ("birefnet/v2", True, None),
        ("gpt-image-2", True, 4),
        ("bytedance/seedream-v5.0-pro", True, 10),
        (TYPED, True, 4),  # the `input_references` range descriptor
        ("two-limits", True, 2),  # the stricter of two numbers
        ("constraints-only", True, None),
        ("flux-pro", False, None),
        ("bare", False, None),
    ],
)
def test_image_input_reconciles_conflicting_flags(
    model_id: str, accepts: bool, limit: int | None
) -> None:
    """Numbers beat flags; without numbers any source saying yes wins."""
    model = MODELS[model_id]
    assert (model.accepts_image_input, model.max_input_images) == (accepts, limit)


@pytest.mark.parametrize(
    ("model_id", "params", "expected"),
    [
        ("flux-pro", {"resolution": "1024*1024"}, {"resolution": "1024x1024"}),
        ("flux-pro", {"resolution": " 1024X768 "}, {"resolution": "1024x768"}),
        ("flux-pro", {"resolution": "768 \u00d7 1024", "n": 1}, {"resolution": "768x1024", "n": 1}),
        ("gpt-image-2", {"size": "1024*1536"}, {"size": "1024x1536"}),
        ("bytedance/seedream-v5.0-pro", {"resolution": "1K"}, {"resolution": "1k"}),
        ("birefnet/v2", {"resolution": "AUTO"}, {"resolution": "auto"}),
        (P_IMAGE, {"n": "2"}, {"n": 2}),
        (P_IMAGE, {"n": 3.0}, {"n": 3}),
        ("midjourney/text-to-image", {"n": 4}, {"n": 4}),
        ("ideogram-v3", {"rendering_speed": "turbo"}, {"rendering_speed": "TURBO"}),
        (TYPED, {"quality": "HIGH", "seed": "true"}, {"quality": "high", "seed": True}),
        (TYPED, {"guidance": "7.5", "n": 4}, {"guidance": 7.5, "n": 4}),
        (TYPED, {"input_references": ["a", "b"]}, {"input_references": ["a", "b"]}),
        (TYPED, {"style": "anything"}, {"style": "anything"}),  # unknown descriptor type
        (
            "gpt-image-2",
            {"prompt": "a cat", "quality": "ultra"},
            {"prompt": "a cat", "quality": "ultra"},
        ),
        (
            "bare",
            {"resolution": "7x7", "images": [1, 2, 3]},
            {"resolution": "7x7", "images": [1, 2, 3]},
        ),
        (
            "flux-pro",
            {"imageDataUrl": "data:,"},
            {"imageDataUrl": "data:,"},
        ),  # flags never enforced
    ],
)
def test_validate_returns_normalised_params(
    model_id: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Accepted values come back in the model's own spelling; the rest pass through."""
    assert MODELS[model_id].validate(**params) == expected


@pytest.mark.parametrize(
    ("model_id", "params", "message"),
    [
        (
            "flux-pro",
            {"resolution": "7x7"},
            "`7x7` is not a resolution of `flux-pro`; allowed: 1024x1024, 1024x768, 768x1024",
        ),
        (
            "flux-pro",
            {"resolution": "1024x1025"},
            "`1024x1025` is not a resolution of `flux-pro`; "
            "allowed: 1024x1024, 1024x768, 768x1024; did you mean 1024x1024?",
        ),
        (
            TYPED,
            {"resolution": "8k"},
            f"`8k` is not a resolution of `{TYPED}`; allowed: 1k, 2k, 4k",
        ),
        (
            P_IMAGE,
            {"n": 5},
            f"`n` = 5 is too many for `{P_IMAGE}`; at most 4 images a request",
        ),
        (TYPED, {"n": 9}, f"`n` = 9 is too many for `{TYPED}`; at most 4 images a request"),
        (P_IMAGE, {"n": 0}, "`n` must be at least 1; got 0"),
        (P_IMAGE, {"n": "two"}, "`n` must be a whole number of images; got `two`"),
        (P_IMAGE, {"n": True}, "`n` must be a whole number of images; got `True`"),
        (
            "midjourney/text-to-image",
            {"n": 1},
            "`midjourney/text-to-image` always makes 4 images; "
            "leave `n` out or set it to 4 (got 1)",
        ),
        (
            "ideogram-v3",
            {"rendering_speed": "warp"},
            "`warp` is not a valid `rendering_speed` for `ideogram-v3`; "
            "allowed: TURBO, DEFAULT, QUALITY",
        ),
        (
            "ideogram-v3",
            {"rendering_speed": "TURBOO"},
            "`TURBOO` is not a valid `rendering_speed` for `ideogram-v3`; "
            "allowed: TURBO, DEFAULT, QUALITY; did you mean TURBO?",
        ),
        (
            TYPED,
            {"quality": "ultra"},
            f"`ultra` is not a valid `quality` for `{TYPED}`; allowed: low, medium, high",
        ),
        (TYPED, {"guidance": 25}, f"`guidance` must be between 1 and 20 for `{TYPED}`; got `25`"),
        (
            TYPED,
            {"guidance": "lots"},
            f"`guidance` must be a number between 1 and 20 for `{TYPED}`; got `lots`",
        ),
        (TYPED, {"seed": "maybe"}, f"`seed` must be true or false for `{TYPED}`; got `maybe`"),
        (
            "gpt-image-2",
            {"imageDataUrls": ["a"] * 5},
            "`gpt-image-2` takes at most 4 input images; got 5",
        ),
        ("sdxl-text-only", {"image": "data:,"}, "`sdxl-text-only` takes no input images; got 1"),
        (
            "flux-pro/v1/vto",
            {"input_references": ["a"]},
            "`flux-pro/v1/vto` needs at least 2 input images; got 1",
        ),
        (
            "bare",
            {"input_references": ["a"], "imageDataUrls": ["b"]},
            "give input images in one parameter, "
            "not in both `input_references` and `imageDataUrls`",
        ),
    ],
)
def test_each_problem_has_an_end_user_message(
    model_id: str, params: dict[str, Any], message: str
) -> None:
    """One problem: `str(error)` is exactly its message, fit to show a bot's user."""
    with pytest.raises(ParameterValidationError) as caught:
        MODELS[model_id].validate(**params)
    assert str(caught.value) == message
    assert [problem.message for problem in caught.value.problems] == [message]


def test_every_problem_is_reported_at_once() -> None:
    """Several problems: one error lists them all, in parameter order."""
    with pytest.raises(ParameterValidationError) as caught:
        MODELS["gpt-image-2"].validate(resolution="7x7", n=9, images=["a"] * 6, prompt="x")
    error = caught.value
    assert [problem.parameter for problem in error.problems] == ["resolution", "n", "images"]
    assert str(error).splitlines() == [
        "invalid request for gpt-image-2:",
        "- `7x7` is not a resolution of `gpt-image-2`; allowed: 1024x1024, 1024x768, "
        "1024x1536, 1536x1024, 1152x2048, 2048x1152, 2560x1440",
        "- `n` = 9 is too many for `gpt-image-2`; at most 4 images a request",
        "- `gpt-image-2` takes at most 4 input images; got 6",
    ]
    assert isinstance(error, ValueError)


def test_problems_name_the_allowed_values_and_the_close_match() -> None:
    """A problem carries the value given, the allowed values or range, and the suggestion."""
    with pytest.raises(ParameterValidationError) as caught:
        MODELS["flux-pro"].validate(resolution="1024x1025")
    (problem,) = caught.value.problems
    assert (problem.parameter, problem.value) == ("resolution", "1024x1025")
    assert problem.allowed == ("1024x1024", "1024x768", "768x1024")
    assert problem.suggestion == "1024x1024"
    with pytest.raises(ParameterValidationError) as caught:
        MODELS[TYPED].validate(guidance=0)
    (problem,) = caught.value.problems
    assert (problem.minimum, problem.maximum) == (1, 20)


def test_every_sample_model_accepts_its_first_resolution() -> None:
    """Across the bundled sample catalog, a model's own values always validate."""
    for model in parse_catalog(sample_catalog()):
        params: dict[str, Any] = {"n": model.max_n or 1}
        if model.resolutions:
            params["resolution"] = model.resolutions[0]
        assert model.validate(**params) == params, model.id


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(-5, 30, allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["1024x1024", "1024*768", "1K", "auto", "16:9", "HIGH", "turbo", "true", "4"]),
    st.lists(st.text(max_size=3), max_size=6),
)
_NAMES = st.sampled_from(
    [
        "resolution",
        "size",
        "n",
        "quality",
        "seed",
        "guidance",
        "style",
        "rendering_speed",
        "images",
        "input_references",
        "imageDataUrls",
        "prompt",
    ]
)


@settings(max_examples=300, deadline=None)
@given(model_id=st.sampled_from(sorted(MODELS)), params=st.dictionaries(_NAMES, _VALUES))
def test_validated_params_validate_again_unchanged(model_id: str, params: dict[str, Any]) -> None:
    """`validate` either raises ParameterValidationError or returns a fixed point."""
    model = MODELS[model_id]
    try:
        normalised = model.validate(**params)
    except ParameterValidationError as error:
        problems = error.problems
    else:
        assert model.validate(**normalised) == normalised
        return
    assert problems


def test_the_result_says_which_params_were_checked_and_which_passed_through() -> None:
    """validate() names the params it held against the model and those it only passed on."""
    model = MODELS["openai/gpt-image-2.5/flare/edit"]
    params = model.validate(
        prompt="a fox", quality="HIGH", style="a", n="2", seed="true", resolution="2K"
    )
    assert params == {
        "prompt": "a fox", "quality": "high", "style": "a", "n": 2, "seed": True, "resolution": "2k"
    }  # fmt: skip
    assert params.checked == ("quality", "n", "seed", "resolution")
    assert params.unchecked == ("prompt", "style")  # "mystery" descriptors say nothing


def test_a_model_that_describes_nothing_checks_only_n() -> None:
    """Without supported_parameters, only n (a count of images) is checked."""
    model = parse_catalog({"data": [{"id": "bare"}]})["bare"]
    params = model.validate(resolution="7x7", quality="ultra", n=2)
    assert (params.checked, params.unchecked) == (("n",), ("resolution", "quality"))


def test_the_result_is_a_dict_that_copies_pickles_and_validates_again() -> None:
    """The result behaves as the plain dict it is, and keeps what it says through copies."""
    model = MODELS["ideogram-v3"]
    params = model.validate(rendering_speed="turbo", prompt="x", images=["a.png"])
    assert isinstance(params, dict)
    copies = (copy.copy(params), copy.deepcopy(params), pickle.loads(pickle.dumps(params)))  # noqa: S301 - our own bytes
    for twin in copies:
        assert twin == params
        assert (twin.checked, twin.unchecked) == (("rendering_speed", "images"), ("prompt",))
    assert model.validate(**params) == params
