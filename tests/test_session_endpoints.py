"""session.endpoints(), validate(), price() and route="images" against a FakeNanoGPT."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from conftest import load_fixture
from images import gif, jpeg, png, webp_lossless

from nanogpt_images import (
    DecodeError,
    ImageModelsSession,
    InputImage,
    ModelNotFoundError,
    ParameterValidationError,
    ServerError,
)
from nanogpt_images.testing import FakeClock, FakeNanoGPT, catalog_payload, model_payload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from conftest import MakeSession

REAL = {
    "gpt-image-2": "gpt-image-2.json",
    "birefnet/v2": "birefnet-v2.json",
    "bytedance/seedream-v5.0-pro": "bytedance-seedream-v5.0-pro.json",
}
ODD_IDS = ("openai/gpt-image-2.5/flare/edit", "prunaai:1@1", "persona:376130@2456367")


def real_body(model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = load_fixture(f"real_endpoints/{REAL[model_id]}")
    return body


def catalog() -> dict[str, Any]:
    """The real records as catalog entries, plus ids with slashes, colons and at signs."""
    records = load_fixture("real_images_models_records.json")["data"]
    models = []
    for record in records:
        body = real_body(record["id"])
        public = body["endpoints"][0]["public_pricing"]
        models.append(
            model_payload(
                record["id"],
                pricing=public,
                capabilities=record["capabilities"],
                supported_parameters=record["supported_parameters"],
            )
        )
    models += [model_payload(model_id) for model_id in ODD_IDS]
    return catalog_payload(models)


@pytest.fixture
async def real_server() -> AsyncIterator[FakeNanoGPT]:
    """A FakeNanoGPT with the real records, serving their real /endpoints bodies."""
    async with FakeNanoGPT(catalog()) as fake:
        for model_id in REAL:
            fake.set_endpoints(model_id, real_body(model_id))
        yield fake


@pytest.fixture
def make_real(make_session: MakeSession, real_server: FakeNanoGPT) -> MakeSession:
    """Sessions (as ``make_session`` builds them) on ``real_server``."""

    def build(**options: Any) -> ImageModelsSession:
        options.setdefault("base_url", real_server.url)
        return make_session(**options)

    return build


def details_requests(real_server: FakeNanoGPT) -> list[str]:
    return [r.path for r in real_server.requests if r.path.endswith("/endpoints")]


# -- endpoints() ------------------------------------------------------------------


@pytest.mark.parametrize("model_id", [*REAL, *ODD_IDS])
async def test_ids_with_slashes_colons_and_ats_go_in_as_raw_path_segments(
    real_server: FakeNanoGPT, make_real: MakeSession, model_id: str
) -> None:
    """Every id reaches the server unencoded and comes back as its own details."""
    async with make_real() as session:
        details = await session.endpoints(model_id)
    assert details.id == model_id
    assert details_requests(real_server) == [f"/api/v1/images/models/{model_id}/endpoints"]


async def test_real_details_come_typed(make_real: MakeSession) -> None:
    """gpt-image-2's provider, auto price line and input limits, from the real body."""
    async with make_real() as session:
        endpoint = (await session.endpoints("gpt-image-2")).endpoints[0]
    assert endpoint.provider_name == "OpenAI"
    assert endpoint.pricing is not None
    assert {line.resolution: line.cost_usd for line in endpoint.pricing}["auto"] == 0.06551
    assert endpoint.input_reference_constraints is not None
    assert endpoint.input_reference_constraints.max_items == 4


async def test_details_are_cached_per_model(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """A second read is a hit; stats() counts hits, misses and models held."""
    async with make_real() as session:
        first = await session.endpoints("gpt-image-2")
        assert await session.endpoints("gpt-image-2") is first
        await session.endpoints("birefnet/v2")
        stats = session.stats()
    assert len(details_requests(real_server)) == 2
    assert (stats.endpoint_hits, stats.endpoint_misses, stats.endpoint_size) == (1, 2, 2)
    assert stats.endpoint_fetches == 2


async def test_an_unlisted_id_is_not_found_without_a_request(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """An id the catalog does not list raises ModelNotFoundError with close ids, asking nobody."""
    async with make_real() as session:
        with pytest.raises(ModelNotFoundError) as caught:
            await session.endpoints("gpt-image-3")
    assert "gpt-image-2" in caught.value.suggestions
    assert details_requests(real_server) == []


async def test_a_404_from_the_details_route_is_model_not_found(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """When the route says 404 for a listed id, the caller gets ModelNotFoundError."""
    async with make_real() as session:
        await session.catalog()
        real_server.fail_next(status=404)
        with pytest.raises(ModelNotFoundError, match=r"openai/gpt-image-2\.5"):
            await session.endpoints("openai/gpt-image-2.5/flare/edit")


async def test_a_server_error_is_typed_and_stale_details_survive_it(
    real_server: FakeNanoGPT, make_real: MakeSession, clock: FakeClock, settle: Any
) -> None:
    """A 500 with nothing cached is a ServerError; with details cached, they are served."""
    async with make_real(ttl=10_000) as session:
        await session.catalog()
        real_server.fail_next(status=500)
        with pytest.raises(ServerError):
            await session.endpoints("gpt-image-2")
        await clock.advance(1.0)
        details = await session.endpoints("gpt-image-2")
        await clock.advance(301.0)
        real_server.fail_next(status=500)
        assert await session.endpoints("gpt-image-2") is details
        await settle(session)
        assert session.stats().endpoint_errors == 2


async def test_a_catalog_refresh_drops_details_of_changed_and_removed_models(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """A changed model's details are asked for again; a removed one is not found, unasked."""
    async with make_real() as session:
        await session.endpoints("gpt-image-2")
        kept = await session.endpoints("birefnet/v2")
        await session.endpoints("prunaai:1@1")
        real_server.update_model("gpt-image-2", name="GPT Image 2 (new)")
        real_server.remove_model("prunaai:1@1")
        await session.refresh()
        real_server.clear_requests()
        assert await session.endpoints("birefnet/v2") is kept
        await session.endpoints("gpt-image-2")
        with pytest.raises(ModelNotFoundError):
            await session.endpoints("prunaai:1@1")
    assert details_requests(real_server) == ["/api/v1/images/models/gpt-image-2/endpoints"]


async def test_a_non_string_id_is_a_type_error(make_real: MakeSession) -> None:
    """endpoints(3) says what an id is."""
    async with make_real() as session:
        with pytest.raises(TypeError, match="a model id is a string"):
            await session.endpoints(3)  # type: ignore[arg-type]


# -- validate() -------------------------------------------------------------------


async def test_fitting_images_pass_and_params_come_back_normalised(
    make_real: MakeSession,
) -> None:
    """Two PNG/WebP images within every limit: the model's normalised params come back."""
    async with make_real() as session:
        images = [InputImage.from_bytes(png(1024, 1024)), webp_lossless(512, 512)]
        params = await session.validate(
            "gpt-image-2", resolution="1024X1024", n="2", input_images=images
        )
    assert params == {"resolution": "1024x1024", "n": 2}


async def test_every_problem_is_listed_in_one_error(make_real: MakeSession) -> None:
    """Too many images, a GIF, unknown data, too small, too wide, too big, and a bad
    resolution: one ParameterValidationError naming what is allowed for each."""
    images = [
        InputImage.from_bytes(gif(64, 64)),
        InputImage.from_bytes(b"not an image"),
        InputImage.from_bytes(png(4, 4)),
        InputImage(width=20000, height=100, size=1000, format="jpeg"),
        InputImage(width=100, height=100, size=40 * 2**20, format="webp"),
    ]
    async with make_real() as session:
        with pytest.raises(ParameterValidationError) as caught:
            await session.validate("gpt-image-2", resolution="999x999", input_images=images)
    problems = caught.value.problems
    by_parameter = [(p.parameter, p.message) for p in problems]
    assert by_parameter[0][0] == "resolution"
    assert ("input_images", "`gpt-image-2` takes at most 4 input images; got 5") in by_parameter
    messages = "\n".join(message for _, message in by_parameter)
    assert "input image 1 is GIF; `gpt-image-2` takes png, jpeg, webp" in messages
    assert "input image 2 is not data `gpt-image-2` can read" in messages
    assert "input image 3 is 4 px wide; `gpt-image-2` needs at least 8 px" in messages
    assert "input image 3 is 4 px high" in messages
    assert "input image 4 is 20000 px wide; `gpt-image-2` takes at most 16384 px" in messages
    assert "input image 5 is 40 MiB" in messages
    assert "at most 30 MiB" in messages
    gif_problem = next(p for p in problems if p.parameter == "input_images[0]")
    assert gif_problem.allowed == ("png", "jpeg", "webp")


async def test_the_provider_limit_applies_when_stricter(make_real: MakeSession) -> None:
    """seedream's provider takes 10 MB, under the route's 30 MB: a 12 MB JPEG is refused."""
    image = InputImage(width=2000, height=2000, size=12 * 2**20, format="jpeg")
    async with make_real() as session:
        with pytest.raises(ParameterValidationError, match="at most 10 MiB") as caught:
            await session.validate("bytedance/seedream-v5.0-pro", input_images=[image])
    assert caught.value.problems[0].maximum == 10 * 2**20


async def test_a_model_that_takes_no_images_says_so(make_real: MakeSession) -> None:
    """A text-to-image model with no image limits refuses any input image."""
    async with make_real() as session:
        with pytest.raises(ParameterValidationError) as caught:
            await session.validate("prunaai:1@1", input_images=[png(64, 64)])
    (problem,) = caught.value.problems
    assert problem.message == "`prunaai:1@1` takes no input images; got 1"
    assert problem.maximum == 0


async def test_validate_without_images_asks_for_no_details(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """A request without input images is checked from the catalog alone."""
    async with make_real() as session:
        await session.validate("gpt-image-2", resolution="1024x1024")
    assert details_requests(real_server) == []


async def test_without_details_the_catalog_limits_apply(
    real_server: FakeNanoGPT, make_real: MakeSession, caplog: pytest.LogCaptureFixture
) -> None:
    """When the details cannot be fetched, the catalog's own limits are checked, with a warning."""
    async with make_real() as session:
        await session.catalog()
        real_server.fail_next(status=503)
        with (
            caplog.at_level(logging.WARNING, logger="nanogpt_images"),
            pytest.raises(ParameterValidationError, match="takes png, jpeg, webp"),
        ):
            await session.validate("gpt-image-2", input_images=[gif(64, 64)])
    assert "against the catalog only" in caplog.text


@pytest.mark.parametrize("bad", [png(8, 8), InputImage(), "cat.png", 3, ["cat.png"]])
async def test_input_images_of_the_wrong_type_are_a_type_error(
    make_real: MakeSession, bad: Any
) -> None:
    """input_images takes a list of InputImage or bytes, and says so."""
    async with make_real() as session:
        with pytest.raises(TypeError, match="InputImage"):
            await session.validate("gpt-image-2", input_images=bad)


# -- price() ----------------------------------------------------------------------


async def test_price_comes_from_the_catalog_when_it_has_one(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """A catalog price needs no details request."""
    async with make_real() as session:
        assert await session.price("gpt-image-2", resolution="1024x768", n=2) == Decimal("0.10450")
    assert details_requests(real_server) == []


async def test_price_falls_back_to_the_endpoint_lines(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """A resolution the catalog does not price (auto) is priced by the endpoint's lines."""
    real_server.update_model("gpt-image-2", pricing={"currency": "USD"})
    async with make_real() as session:
        assert await session.price("gpt-image-2", resolution="auto") == Decimal("0.06551")
        assert await session.price("gpt-image-2", resolution="8x8") is None
        assert await session.price("gpt-image-2") == Decimal("0.05225")


# -- route="images" ---------------------------------------------------------------


async def test_the_images_route_reads_the_same_models(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """route="images" reads GET /api/v1/images/models into the same classes and models."""
    async with make_real() as legacy, make_real(route="images") as images:
        old, new = await legacy.catalog(), await images.catalog()
    assert old.ids == new.ids
    for before, after in zip(old, new, strict=True):
        assert after.supported_parameters == before.supported_parameters
        assert after.capabilities == before.capabilities
        assert after.pricing is None
        assert after.supports_streaming is False
        assert after.endpoints == f"/api/v1/images/models/{after.id}/endpoints"
    paths = {r.path for r in real_server.requests}
    assert paths == {"/api/v1/image-models", "/api/v1/images/models"}
    assert all(r.query == {} for r in real_server.requests if r.path == "/api/v1/images/models")


async def test_the_images_route_uses_the_endpoints_link(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """The details are fetched from the link the list gives."""
    real_server.update_model(
        "prunaai:1@1", endpoints="/api/v1/images/models/prunaai%3A1%401/endpoints"
    )
    async with make_real(route="images") as session:
        details = await session.endpoints("prunaai:1@1")
    assert details.id == "prunaai:1@1"
    assert [r.path for r in real_server.requests][
        -1
    ] == "/api/v1/images/models/prunaai:1@1/endpoints"


async def test_find_by_price_on_the_images_route_uses_endpoint_lines(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """find(max_price=) prices each model by its details: one request per model, then cached.

    Six requests at once go past the burst of four, so the pace needs time to move.
    """
    clock = FakeClock(auto_advance=True)
    async with make_real(route="images", clock=clock) as session:
        cheap = await session.find(max_price=Decimal("0.02"))
        again = await session.find(max_price=Decimal("0.02"), sort="price")
        assert await session.price("birefnet/v2") == Decimal("0.01")
    assert [model.id for model in cheap] == ["birefnet/v2"]
    assert [model.id for model in again] == ["birefnet/v2"]
    assert len(details_requests(real_server)) == 6
    await clock.aclose()


async def test_stored_copies_are_kept_apart_per_route(
    real_server: FakeNanoGPT, make_real: MakeSession, tmp_path: Path, settle: Any
) -> None:
    """A copy saved from one route is never served by a session on the other."""
    path = tmp_path / "catalog.json"
    async with make_real(cache_path=path) as legacy:
        await legacy.catalog()
        await settle(legacy)
    real_server.clear_requests()
    async with make_real(cache_path=path, route="images") as images:
        catalog = await images.catalog()
    assert all(model.pricing is None for model in catalog)
    assert [r.path for r in real_server.requests] == ["/api/v1/images/models"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"route": "image"}, ValueError, "route must be 'image-models'"),
        ({"endpoints_ttl": 0}, ValueError, "endpoints_ttl"),
        ({"endpoints_maxsize": 0}, ValueError, "endpoints_maxsize"),
        ({"endpoints_maxsize": 1.5}, TypeError, "endpoints_maxsize"),
    ],
)
def test_bad_options_are_refused_at_construction(
    options: dict[str, Any], error: type, message: str
) -> None:
    """A misspelt route or a bad cache size fails when the session is made."""
    with pytest.raises(error, match=message):
        ImageModelsSession(**options)


def test_the_base_url_may_name_the_images_route() -> None:
    """A base_url ending in the Image API path is cut back to the site root."""
    session = ImageModelsSession(base_url="http://127.0.0.1:1/api/v1/images/models", route="images")
    assert "url='http://127.0.0.1:1/api/v1/images/models'" in repr(session)


async def test_jpeg_headers_are_checked_too(make_real: MakeSession) -> None:
    """A real-looking JPEG header under the minimum size is refused with its dimensions."""
    async with make_real() as session:
        with pytest.raises(ParameterValidationError, match="input image 1 is 4 px wide"):
            await session.validate("gpt-image-2", input_images=[jpeg(4, 100)])


async def test_a_bad_details_body_quoting_the_key_never_shows_it(
    real_server: FakeNanoGPT, make_real: MakeSession
) -> None:
    """An HTML page that echoes the API key becomes a DecodeError without the key in it."""
    key = "sk-endpoint-secret-4242"
    async with make_real(api_key=key) as session:
        await session.catalog()
        real_server.respond_next(200, f"<html><body>bad key {key}</body></html>")
        with pytest.raises(DecodeError) as caught:
            await session.endpoints("gpt-image-2")
    assert key not in str(caught.value)
    assert key not in repr(caught.value.errors)
    assert "***" in str(caught.value)


# -- the generation route's cap, 404s, links ---------------------------------------


async def test_validate_holds_images_to_the_generation_routes_4_mb(
    make_real: MakeSession,
) -> None:
    """gpt-image-2 takes 30 MiB, the generation route 4 MB: an 8 MB image is refused."""
    image = InputImage(width=1024, height=1024, size=8 * 2**20, format="png")
    async with make_real() as session:
        with pytest.raises(ParameterValidationError) as caught:
            await session.validate("gpt-image-2", input_images=[image])
    (problem,) = caught.value.problems
    assert problem.parameter == "input_images[0]"
    assert problem.message == (
        "input image 1 is 8 MiB (8,388,608 bytes); the generation route takes at most 4194304 "
        "bytes (4 MiB) an image: scale it down or compress it"
    )
    assert problem.maximum == 4 * 2**20


async def test_price_of_a_listed_model_whose_details_404_is_none(
    real_server: FakeNanoGPT, make_real: MakeSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A listed model with no price and no details is priced at nothing, with a warning."""
    real_server.update_model("gpt-image-2", pricing={"currency": "USD"})
    async with make_real() as session:
        await session.catalog()
        real_server.fail_next(status=404)
        with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
            assert await session.price("gpt-image-2", resolution="auto") is None
    assert "from the catalog only" in caplog.text


@pytest.mark.parametrize(
    "link",
    [
        "/api/v1/images/models/gpt-image-2é/endpoints",
        "/api/v1/images/models/%2e%2E/endpoints",
        "/api/v1/images/models/gpt-image-2/./endpoints",
    ],
)
async def test_a_link_that_cannot_go_as_written_gives_way_to_the_built_path(
    real_server: FakeNanoGPT, make_real: MakeSession, link: str
) -> None:
    """A link with a non-ASCII character or a dot segment is not used: the id's path is."""
    real_server.update_model("gpt-image-2", endpoints=link)
    async with make_real(route="images") as session:
        details = await session.endpoints("gpt-image-2")
    assert details.id == "gpt-image-2"
    assert details_requests(real_server) == ["/api/v1/images/models/gpt-image-2/endpoints"]
