"""parse_endpoints / dump_endpoints: real bodies, odd price lines, a lossless round trip."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from conftest import FIXTURES, load_fixture
from hypothesis import given
from strategies import ENDPOINT_BODIES, JSON_VALUES

from nanogpt_images import (
    DecodeError,
    Endpoint,
    ImageModel,
    ModelEndpoints,
    PriceLine,
    Pricing,
    dump_endpoints,
    parse_catalog,
    parse_endpoints,
)
from nanogpt_images.testing._image_api import endpoints_body, images_catalog

if TYPE_CHECKING:
    from pathlib import Path

REAL = FIXTURES / "real_endpoints"
REAL_BODIES = sorted(REAL.glob("*.json"))


def load(path: Path) -> Any:
    return load_fixture(str(path.relative_to(FIXTURES)))


@pytest.mark.parametrize("path", REAL_BODIES, ids=lambda path: path.stem)
def test_real_bodies_round_trip(path: Path) -> None:
    """Each real /endpoints body reads and dumps back exactly, with nothing left in extras."""
    body = load(path)
    details = parse_endpoints(path.read_bytes())
    assert dump_endpoints(details) == body
    assert details.extras == {}
    endpoint = details.endpoints[0]
    assert endpoint.extras == {"provider_tag": None}  # a null is kept as sent
    assert all(line.extras == {} for line in endpoint.pricing or ())


def test_real_gpt_image_2_reads_into_typed_fields() -> None:
    """Provider, every price line (auto included) and the input limits come typed."""
    details = parse_endpoints(load(REAL / "gpt-image-2.json"))
    assert details.id == "gpt-image-2"
    endpoint = details.primary
    assert endpoint is not None
    assert (endpoint.provider_name, endpoint.provider_slug) == ("OpenAI", "openai")
    assert endpoint.supports_streaming is False
    assert endpoint.allowed_passthrough_parameters == ()
    assert endpoint.pricing is not None
    assert endpoint.pricing[0] == PriceLine(
        billable="output_image",
        unit="image",
        cost_usd=0.06551,
        currency="USD",
        resolution="1024x1024",
    )
    assert [line.resolution for line in endpoint.pricing][-1] == "auto"
    limits = endpoint.input_reference_constraints
    assert limits is not None
    assert limits.max_items == 4
    assert limits.route is not None
    assert limits.route.formats == ("png", "jpeg", "webp")
    assert limits.route.max_bytes == 31457280
    assert endpoint.capabilities is not None
    assert endpoint.capabilities.image_to_image is True
    assert endpoint.public_pricing is not None
    assert endpoint.public_pricing.per_image == {
        line.resolution: line.cost_usd for line in endpoint.pricing
    }


def test_provider_block_is_read_for_seedream() -> None:
    """The provider's own, stricter byte limit is there beside the route's."""
    endpoint = parse_endpoints(load(REAL / "bytedance-seedream-v5.0-pro.json")).endpoints[0]
    constraints = endpoint.input_constraints
    assert constraints is not None
    assert constraints.provider is not None
    assert constraints.provider.max_bytes == 10 * 2**20


def test_a_model_without_image_input_has_no_constraints() -> None:
    """birefnet/v2 lists no input_reference_constraints, so none are made up."""
    endpoint = parse_endpoints(load(REAL / "birefnet-v2.json")).endpoints[0]
    assert endpoint.input_reference_constraints is None
    assert endpoint.input_constraints is None


@pytest.mark.parametrize(
    ("line", "typed", "per_image"),
    [
        ({"cost_usd": 0.05, "resolution": "1k"}, 0.05, 0.05),
        ({"cost_usd": "0.05", "resolution": "1k"}, 0.05, 0.05),
        ({"resolution": "1k"}, None, None),
        ({"cost_usd": None, "resolution": "1k"}, None, None),
        ({"cost_usd": 0.05, "currency": "EUR", "resolution": "1k"}, 0.05, None),
        ({"cost_usd": 0.05, "unit": "megapixel", "resolution": "1k"}, 0.05, None),
        ({"cost_usd": 0.05, "billable": "input_image", "resolution": "1k"}, 0.05, None),
        ({"cost_usd": -1, "resolution": "1k"}, -1, None),
        ({"cost_usd": [1], "resolution": "1k"}, None, None),
    ],
)
def test_odd_price_lines_are_kept_and_give_no_wrong_price(
    line: dict[str, Any], typed: float | None, per_image: float | None
) -> None:
    """Missing costs, other currencies or units and string numbers load, round-trip, and
    price only when the line really is USD per output image."""
    body = {"id": "m", "endpoints": [{"pricing": [line]}]}
    details = parse_endpoints(body)
    assert dump_endpoints(details) == body
    (read,) = details.endpoints[0].pricing or ()
    assert read.cost_usd == typed
    assert read.per_image_usd == per_image


def test_price_lines_become_a_catalog_pricing() -> None:
    """Usable lines make a USD per-image map; unusable ones are left out."""
    endpoint = Endpoint(
        pricing=(
            PriceLine(cost_usd=0.04, resolution="1k", currency="USD"),
            PriceLine(cost_usd=9.0, resolution="2k", currency="EUR"),
            PriceLine(cost_usd=0.01),
        )
    )
    pricing = endpoint.as_pricing()
    assert pricing is not None
    assert pricing.currency == "USD"
    assert dict(pricing.per_image or {}) == {"1k": 0.04}


def test_public_pricing_prices_an_endpoint_without_lines() -> None:
    """With no usable line, the endpoint's public_pricing is its price."""
    public = Pricing(currency="USD", per_image={"auto": 0.02})
    assert Endpoint(pricing=(), public_pricing=public).as_pricing() is public
    assert Endpoint().as_pricing() is None


def test_items_that_are_not_objects_are_kept_in_extras() -> None:
    """A stray value in the endpoints or pricing lists is kept as sent, not dropped."""
    body = {"id": "m", "endpoints": [{"pricing": [3, {"cost_usd": 1}]}, "odd"]}
    details = parse_endpoints(body)
    assert len(details.endpoints) == 1
    assert details.extras == {"endpoints": body["endpoints"]}
    assert dump_endpoints(details) == body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>502</html>", "HTML"),
        (b"[]", "expected a JSON object"),
        (b'{"endpoints": []}', "'id'"),
        (b'{"id": 3, "endpoints": []}', "'id' 3"),
        (b'{"id": "m"}', "no 'endpoints' key"),
        (b'{"id": "m", "endpoints": {}}', "an object"),
    ],
)
def test_a_body_that_is_not_details_is_a_decode_error(body: bytes, reason: str) -> None:
    """Bodies that cannot be endpoint details raise DecodeError saying what was expected."""
    with pytest.raises(DecodeError, match=reason):
        parse_endpoints(body)


def test_parse_endpoints_refuses_other_types() -> None:
    """A number is not a body: TypeError naming what it takes."""
    with pytest.raises(TypeError, match="bytes, str or a Mapping"):
        parse_endpoints(3)  # type: ignore[arg-type]


def test_a_mapping_is_copied() -> None:
    """Changing the dict after parsing changes nothing read from it."""
    body: dict[str, Any] = {"id": "m", "endpoints": [{"provider_name": "A"}]}
    details = parse_endpoints(body)
    body["endpoints"][0]["provider_name"] = "B"
    assert details.endpoints[0].provider_name == "A"


@given(ENDPOINT_BODIES)
def test_round_trip_is_lossless(body: dict[str, Any]) -> None:
    """dump_endpoints(parse_endpoints(x)) == x for any body with an id and an endpoints list."""
    assert dump_endpoints(parse_endpoints(body)) == body


@given(JSON_VALUES)
def test_any_json_value_reads_or_raises_decode_error(value: Any) -> None:
    """Whatever JSON arrives, the outcome is details or a DecodeError, never a crash."""
    try:
        details = parse_endpoints(json.dumps(value))
    except DecodeError:
        return
    assert isinstance(details, ModelEndpoints)


def test_model_endpoints_of_the_fake_server_match_the_catalog_prices() -> None:
    """Details derived from a catalog entry price it as the entry does."""
    entry = {
        "id": "flux-pro",
        "owned_by": "bfl",
        "pricing": {"currency": "USD", "per_image": {"1024x1024": 0.05, "1024x768": 0.04}},
        "supported_parameters": {"resolutions": ["1024x1024", "1024x768"]},
    }
    endpoint = parse_endpoints(endpoints_body(entry)).endpoints[0]
    priced = ImageModel(id="flux-pro", pricing=endpoint.as_pricing())
    assert priced.price("1024x768", 2) == Decimal("0.08")
    assert endpoint.provider_slug == "bfl"


def test_both_routes_read_into_the_same_classes() -> None:
    """The Image API list of the same models gives the same ids, parameters and flags,
    with the endpoints link and supports_streaming typed, and no prices."""
    legacy = load_fixture("doc_examples.json")
    body = legacy["flux_pro_2026_01"]
    old, new = parse_catalog(body), parse_catalog(images_catalog(body))
    assert old.ids == new.ids
    for before, after in zip(old, new, strict=True):
        assert after.supported_parameters == before.supported_parameters
        assert after.capabilities == before.capabilities
        assert after.name == before.name
        assert after.pricing is None
        assert after.supports_streaming is False
        assert after.endpoints == f"/api/v1/images/models/{after.id}/endpoints"
        assert after.extras == before.extras
