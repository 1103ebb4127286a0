"""The integration examples in examples/, run against FakeNanoGPT."""

from __future__ import annotations

import importlib.util
import py_compile
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from nanogpt_images import ImageModelsSession
from nanogpt_images.testing import FakeNanoGPT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import ModuleType

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def fake() -> AsyncIterator[FakeNanoGPT]:
    """A FakeNanoGPT with the bundled sample catalog."""
    async with FakeNanoGPT() as server:
        yield server


@pytest.fixture
async def session(fake: FakeNanoGPT) -> AsyncIterator[ImageModelsSession]:
    """An anonymous session on ``fake`` with no background task."""
    async with ImageModelsSession("", base_url=fake.url, refresh_interval=None) as session:
        yield session


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name)
def test_every_example_compiles(path: Path, tmp_path: Path) -> None:
    """Each example is valid Python, including the glue for libraries we do not install."""
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)


# -- aiohttp_service.py --------------------------------------------------------


@pytest.fixture
async def client(fake: FakeNanoGPT) -> AsyncIterator[TestClient[Any, Any]]:
    """The aiohttp example app, served on a free port, its session on ``fake``."""
    app = load("aiohttp_service").create_app(api_key="", base_url=fake.url)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_aiohttp_models_route_filters_and_sorts(client: TestClient[Any, Any]) -> None:
    """``GET /models`` answers the find() filters from the shared session, cheapest first."""
    response = await client.get(
        "/models", params={"capability": "inpainting", "resolution": "1024x1024", "sort": "price"}
    )
    assert response.status == 200
    models = (await response.json())["models"]
    assert models[0] == {
        "id": "vidu-q2-reference",
        "name": "Vidu Q2 Reference",
        "price_from": "0.01035",
    }
    prices = [Decimal(model["price_from"]) for model in models]
    assert prices == sorted(prices)


async def test_aiohttp_models_route_rejects_an_unknown_sort(client: TestClient[Any, Any]) -> None:
    """A bad ``sort`` is a 400 with the reason, not a 500."""
    response = await client.get("/models", params={"sort": "size"})
    assert response.status == 400
    assert "sort must be one of" in await response.text()


async def test_aiohttp_check_route_prices_a_valid_request(client: TestClient[Any, Any]) -> None:
    """``POST /check`` returns the normalised request and its price."""
    response = await client.post(
        "/check", json={"model": "flux-pro", "resolution": "1024X1024", "n": 1}
    )
    assert response.status == 200
    assert await response.json() == {
        "ok": True,
        "request": {"resolution": "1024x1024", "n": 1},
        "price": "0.068",
    }


async def test_aiohttp_check_route_lists_every_problem(client: TestClient[Any, Any]) -> None:
    """An invalid request is a 422 listing each problem with a suggestion when there is one."""
    response = await client.post("/check", json={"model": "flux-pro", "resolution": "1024x1025"})
    assert response.status == 422
    body = await response.json()
    assert body["ok"] is False
    assert [p["parameter"] for p in body["problems"]] == ["resolution"]
    assert body["problems"][0]["suggestion"] == "1024x1024"


async def test_aiohttp_check_route_suggests_close_model_ids(client: TestClient[Any, Any]) -> None:
    """An unknown model is a 404 carrying close ids."""
    response = await client.post("/check", json={"model": "flux-pr"})
    assert response.status == 404
    assert "flux-pro" in (await response.json())["suggestions"]


async def test_aiohttp_app_fetches_once_for_many_requests(
    fake: FakeNanoGPT, client: TestClient[Any, Any]
) -> None:
    """The session is shared: ten requests cost NanoGPT one catalog fetch."""
    for _ in range(10):
        assert (await client.get("/models")).status == 200
    assert fake.request_count == 1


# -- discord_bot.py ------------------------------------------------------------


async def test_discord_autocomplete_puts_prefix_matches_first(
    session: ImageModelsSession,
) -> None:
    """Typing "flux" offers ids or names starting with it before those merely containing it."""
    bot = load("discord_bot")
    choices = bot.autocomplete_models(await session.catalog(), "flux")
    catalog = await session.catalog()
    starts = [
        catalog[model_id].display_name.casefold().startswith("flux") or model_id.startswith("flux")
        for _, model_id in choices
    ]
    assert len(choices) == 25
    assert starts[0]
    assert starts == sorted(starts, reverse=True)  # every prefix match before any other
    assert bot.autocomplete_models(catalog, "flux-pro")[0] == (
        "FLUX Pro · from $0.0612 (flux-pro)",
        "flux-pro",
    )
    assert all(len(label) <= 100 for label, _ in choices)


async def test_discord_autocomplete_matches_inside_names(session: ImageModelsSession) -> None:
    """Text in the middle of an id or name still finds the model, ignoring case."""
    bot = load("discord_bot")
    ids = [model_id for _, model_id in bot.autocomplete_models(await session.catalog(), "BANANA")]
    assert "nano-banana" in ids


async def test_discord_preflight_refuses_a_bad_size(session: ImageModelsSession) -> None:
    """``/imagine --size 7x7`` is refused with the allowed sizes, before anything is paid."""
    bot = load("discord_bot")
    check = await bot.preflight(session, "flux-pro", size="7x7", n=1)
    assert not check.ok
    assert "`7x7` is not a resolution of `flux-pro`" in check.message
    assert "1024x1024" in check.message


async def test_discord_preflight_prices_a_good_request(session: ImageModelsSession) -> None:
    """A valid request goes ahead with its normalised parameters and price."""
    bot = load("discord_bot")
    check = await bot.preflight(session, "gpt-image-2", size="1024*1024", n=2)
    assert check.ok
    assert check.request == {"n": 2, "resolution": "1024x1024"}
    assert check.price == Decimal("0.13102")
    assert "$0.13102" in check.message


async def test_discord_preflight_suggests_model_ids(session: ImageModelsSession) -> None:
    """A mistyped model gets close ids back."""
    bot = load("discord_bot")
    check = await bot.preflight(session, "flux-pr")
    assert not check.ok
    assert "flux-pro" in check.message


async def test_discord_preflight_checks_an_attached_image(session: ImageModelsSession) -> None:
    """An attached GIF is refused naming the formats the model takes; a PNG goes ahead."""
    from nanogpt_images import InputImage

    bot = load("discord_bot")
    gif = InputImage(width=512, height=512, size=40_000, format="image/gif")
    check = await bot.preflight(session, "gpt-image-2", images=[gif])
    assert not check.ok
    assert "input image 1 is GIF; `gpt-image-2` takes png, jpeg, webp" in check.message
    png = InputImage(width=512, height=512, size=40_000, format="image/png")
    assert (await bot.preflight(session, "gpt-image-2", images=[png])).ok


# -- fastapi_app.py ------------------------------------------------------------


async def test_fastapi_helpers_summarise_and_check(session: ImageModelsSession) -> None:
    """The FastAPI example's pure helpers give the picker row and the check answers."""
    app = load("fastapi_app")
    model = await session.get_model("flux-pro")
    assert app.model_summary(model)["price"] == "0.0612"
    assert app.model_summary(model, "1024x1024")["resolutions"][0] == "1024x1024"
    assert app.check(model, {"resolution": "1024x1024"}) == (
        200,
        {"ok": True, "request": {"resolution": "1024x1024"}, "price": "0.068"},
    )
    status, body = app.check(model, {"resolution": "7x7"})
    assert status == 422
    assert body["ok"] is False
