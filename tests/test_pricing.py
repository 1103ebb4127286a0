"""ImageModel.price() over every pricing shape NanoGPT sends."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from conftest import load_fixture

from nanogpt_images import ImageModel, ParameterValidationError, dump_catalog, parse_catalog
from nanogpt_images.testing import sample_catalog


def _real_models() -> dict[str, ImageModel]:
    """The real records, priced by the real endpoint route's list of price lines."""
    records = load_fixture("real_images_models_records.json")["data"]
    for record in records:
        route = load_fixture(f"real_endpoints/{record['id'].replace('/', '-')}.json")
        record["pricing"] = route["endpoints"][0]["pricing"]
    docs = load_fixture("doc_examples.json")
    records += [entry for example in docs.values() for entry in example["data"]]
    return {model.id: model for model in parse_catalog({"data": records})}


def _model(pricing: Any, **supported: Any) -> ImageModel:
    entry = {"id": "m", "pricing": pricing, "supported_parameters": supported}
    return parse_catalog({"data": [entry]})["m"]


REAL = _real_models()
SPEEDS = {
    "by_rendering_speed": {
        "TURBO": {"1024x1024": 0.03, "1536x1024": 0.04},
        "DEFAULT": {"1024x1024": 0.06, "1536x1024": 0.08, "2048x2048": 0.1},
    },
    "currency": "USD",
}

LORA = {"lora": {"per_image": {"1024x1024": 0.01}}}
LINES = [
    {"billable": "output_image", "unit": "image", "cost_usd": 0.04, "resolution": "1k"},
    {"billable": "output_image", "unit": "image", "cost_usd": 0.08, "resolution": "2k"},
]


@pytest.mark.parametrize(
    ("model_id", "resolution", "n", "expected"),
    [
        ("gpt-image-2", "1024x1024", 1, "0.06551"),
        ("gpt-image-2", "2560X1440", 2, "0.14578"),
        ("gpt-image-2", None, 1, "0.05225"),  # the "from" price
        ("gpt-image-2", "auto", 1, "0.06551"),  # priced though not in `resolutions`
        ("bytedance/seedream-v5.0-pro", "1k", 1, "0.045"),
        ("bytedance/seedream-v5.0-pro", "16:9", 3, "0.27"),
        ("birefnet/v2", "auto", 1, "0.01"),
        ("birefnet/v2", "1024x1024", 1, None),
        ("pruna-ai/p-image/text-to-image", "1024x1024", 2, "0.010"),  # `*` keys
        ("pruna-ai/p-image/text-to-image", "1376*768", 1, "0.005"),
        ("pruna-ai/p-image/text-to-image", "1184x896", 1, None),  # allowed, not priced
        ("flux-pro", "1024x768", 1, "0.04"),  # fixed_image_count 1
        ("flux-pro", None, 1, "0.04"),
        ("model-id", None, 1, None),  # pricing is just {"currency": "USD"}
    ],
)
def test_real_and_documented_prices(
    model_id: str, resolution: str | None, n: int, expected: str | None
) -> None:
    """Real route price lines and the documented maps price exactly, as Decimal."""
    price = REAL[model_id].price(resolution, n)
    assert price == (Decimal(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("pricing", "supported", "resolution", "n", "expected"),
    [
        ({"per_image": {"1k": 0.045, "2k": 0.09}}, {}, "1K", 1, "0.045"),
        ({"per_image": {"16:9": 0.02, "1:1": 0.01}}, {}, "16:9", 2, "0.04"),
        ({"per_image": {"square_hd": 0.03, "square": 0.02}}, {}, "square_hd", 1, "0.03"),
        ({"per_image": {"auto": 0.01}}, {}, None, 1, "0.01"),
        ({"per_image": {"default": 0.05, "4k": 0.2}}, {}, "2k", 1, "0.05"),
        ({"per_image": {"1024x1024": 0.1}}, {}, "0.1x0.1", 1, None),
        ({"per_image": 0.1}, {}, None, 3, "0.3"),  # Decimal, not 0.30000000000000004
        ({"per_image": 0.1}, {"resolutions": ["1024x1024"]}, "1024*1024", 1, "0.1"),
        ({"per_image": 0.1}, {"resolutions": ["1024x1024"]}, "7x7", 1, None),
        (0.07, {}, "anything", 1, "0.07"),  # pricing itself a bare number
        (SPEEDS, {}, "1024x1024", 1, "0.03"),  # the cheapest speed tier
        (SPEEDS, {}, "2048x2048", 1, "0.1"),  # only one tier prices it
        (SPEEDS, {}, None, 2, "0.06"),
        (SPEEDS, {}, "7x7", 1, None),
        ({"per_image": {}, **SPEEDS}, {}, None, 1, "0.03"),
        ({"per_image": {"1:1": 0.02}}, {"fixed_image_count": 4}, "1:1", 1, "0.08"),
        ({"per_image": {"1:1": 0.02}}, {"fixed_image_count": 4}, None, 4, "0.08"),
        ({"per_image": {"1024x1024": 0.02}, **LORA}, {}, "1024x1024", 1, "0.02"),
        (LORA, {}, None, 1, None),  # a LoRA add-on is not the plain price
        ({"per_megapixel": 0.01}, {}, None, 1, None),
        ({"currency": "USD"}, {}, None, 1, None),
        (LINES, {}, None, 1, "0.04"),
        (LINES, {}, "2K", 1, "0.08"),
        ({"per_image": {"1024x1024": -1}}, {}, None, 1, None),
        ({"currency": "usd", "per_image": {"1k": 0.01}}, {}, None, 1, "0.01"),
        ({"currency": "EUR", "per_image": {"1k": 0.01}}, {}, None, 1, None),  # USD only
        ({"currency": "EUR", "per_image": 0.01}, {}, None, 1, None),
    ],
)
def test_every_pricing_shape(
    pricing: Any, supported: dict[str, Any], resolution: str | None, n: int, expected: str | None
) -> None:
    """Maps under any key spelling, bare numbers, speed tiers, lines; None when unknown."""
    price = _model(pricing, **supported).price(resolution, n)
    assert price == (Decimal(expected) if expected is not None else None)


def test_a_model_without_pricing_has_no_price() -> None:
    """No `pricing` key at all gives None, not zero."""
    model = parse_catalog({"data": [{"id": "m"}]})["m"]
    assert model.price() is None
    assert model.price("1024x1024", 2) is None


@pytest.mark.parametrize("n", [0, -1, True, 1.5, "two", None])
def test_a_bad_n_is_a_validation_error(n: Any) -> None:
    """`n` that is not a whole number of at least 1 raises the same error validate() would."""
    model = REAL["gpt-image-2"]
    with pytest.raises(ParameterValidationError) as caught:
        model.price("1024x1024", n)
    with pytest.raises(ParameterValidationError) as expected:
        model.validate(n=n)
    assert str(caught.value) == str(expected.value)
    assert caught.value.problems == expected.value.problems
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("supported", "n"),
    [
        ({"fixed_image_count": 1}, 2),
        ({"max_images": 1}, 2),
        ({"fixed_image_count": 4}, 2),
        ({"max_images": 4, "max_output_images": 2}, 3),
        ({"n": {"type": "range", "min": 2, "max": 4}}, 5),
    ],
)
def test_price_refuses_the_n_that_validate_refuses(supported: dict[str, Any], n: int) -> None:
    """One rule for n: price() raises validate()'s own error instead of pricing another count."""
    model = _model({"per_image": {"1k": 0.02}}, **supported)
    with pytest.raises(ParameterValidationError) as expected:
        model.validate(n=n)
    with pytest.raises(ParameterValidationError) as caught:
        model.price("1k", n)
    assert caught.value.problems == expected.value.problems


@pytest.mark.parametrize(
    ("supported", "n", "cost"),
    [
        ({"fixed_image_count": 4}, 1, "0.08"),  # the default: a request that leaves n out
        ({"fixed_image_count": 4}, "4", "0.08"),
        ({"max_images": 4}, 3, "0.06"),
        ({"n": {"type": "range", "min": 2, "max": 4}}, 1, "0.02"),
    ],
)
def test_price_answers_for_every_n_validate_accepts(
    supported: dict[str, Any], n: Any, cost: str
) -> None:
    """An n validate() takes (and the default n=1, "n left out") is priced, never refused."""
    model = _model({"per_image": {"1k": 0.02}}, **supported)
    if n != 1:
        model.validate(n=n)
    assert model.price("1k", n) == Decimal(cost)


def test_every_sample_model_prices_its_own_resolutions() -> None:
    """In the bundled sample, a priced model's "from" price is its lowest resolution price."""
    for model in parse_catalog(sample_catalog()):
        lowest = model.price()
        if lowest is None or not model.resolutions:
            continue
        prices = [model.price(resolution) for resolution in model.resolutions]
        known = [price for price in prices if price is not None]
        assert all(price >= lowest for price in known), model.id


@pytest.mark.parametrize("n", [2, 2.0, "2"])
def test_n_is_read_as_validate_reads_it(n: Any) -> None:
    """price() takes `n` in every spelling validate() accepts, so the two never disagree."""
    model = parse_catalog({"data": [{"id": "m", "pricing": {"per_image": {"1k": 0.01}}}]})["m"]
    assert model.validate(n=n) == {"n": 2}
    assert model.price("1k", n) == Decimal("0.02")


@pytest.mark.parametrize("resolution", [123, ["1k"]])
def test_a_resolution_that_is_not_a_string_is_a_type_error(resolution: Any) -> None:
    """price() names the type it got and the kind of value it wants."""
    model = parse_catalog({"data": [{"id": "m", "pricing": {"per_image": {"1k": 0.01}}}]})["m"]
    with pytest.raises(TypeError, match="resolution must be a string such as '1024x1024'"):
        model.price(resolution)


NOT_PRICES = [float("nan"), float("inf"), -1, -0.01]


@pytest.mark.parametrize("bad", NOT_PRICES)
@pytest.mark.parametrize("bad_first", [True, False])
def test_a_value_that_is_not_a_price_is_read_as_absent(bad: float, bad_first: bool) -> None:
    """NaN, infinite and negative entries neither hide the "from" price nor depend on key order."""
    entries = [("1024x1024", bad), ("1k", 0.02)]
    table = dict(entries if bad_first else entries[::-1])
    model = _model({"per_image": table})
    assert model.price() == Decimal("0.02")
    assert model.price("1k") == Decimal("0.02")
    assert model.price("1024x1024") is None
    catalog = parse_catalog({"data": [{"id": "m", "pricing": {"per_image": table}}]})
    assert catalog.filter(max_price="0.02") == (catalog["m"],)
    assert catalog.filter(max_price="0.01") == ()
    assert catalog.cheapest() == catalog["m"]


@pytest.mark.parametrize("bad", NOT_PRICES)
def test_a_spelling_that_is_not_a_price_leaves_the_next_one(bad: float) -> None:
    """A bad 1024*1024 does not hide a good 1024X1024, nor a bad key the map's default."""
    model = _model({"per_image": {"1024*1024": bad, "1024X1024": 0.03, "default": 0.5}})
    assert model.price("1024x1024") == Decimal("0.03")
    assert _model({"per_image": {"1024x1024": bad, "default": 0.5}}).price("1024x1024") == Decimal(
        "0.5"
    )
    assert _model({"per_image": {"1k": 0.1, "default": bad}}).price("2k") is None


@pytest.mark.parametrize("bad", NOT_PRICES)
def test_a_speed_tier_that_is_not_a_price_is_skipped(bad: float) -> None:
    """A rendering-speed tier with a bad price leaves the cheapest valid tier."""
    pricing = {"by_rendering_speed": {"TURBO": {"1024x1024": bad}, "QUALITY": {"1024x1024": 0.09}}}
    assert _model(pricing).price() == Decimal("0.09")
    assert _model(pricing).price("1024x1024") == Decimal("0.09")


@pytest.mark.parametrize("bad", NOT_PRICES)
def test_the_raw_value_that_is_not_a_price_stays_in_the_data(bad: float) -> None:
    """The bad entry is only ignored for pricing: dump_catalog gives it back."""
    body = {"data": [{"id": "m", "pricing": {"per_image": {"1024x1024": bad, "1k": 0.02}}}]}
    dumped = dump_catalog(parse_catalog(body))
    assert json.dumps(dumped) == json.dumps(body)
