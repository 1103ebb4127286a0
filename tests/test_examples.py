"""The integration examples in examples/, run against FakeNanoGPT."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pytest
import starlette.testclient
from aiohttp.test_utils import TestClient, TestServer

from nanogpt_images import ImageModelsSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from types import ModuleType

    from nanogpt_images.testing import FakeNanoGPT

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with warnings.catch_warnings():
        # discord.py imports audioop, deprecated since Python 3.11 (it uses audioop-lts on 3.13).
        warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
        spec.loader.exec_module(module)
    return module


@pytest.fixture
async def session(fake: FakeNanoGPT) -> AsyncIterator[ImageModelsSession]:
    """An anonymous session on ``fake`` with no background task."""
    async with ImageModelsSession("", base_url=fake.url, refresh_interval=None) as session:
        yield session


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name)
def test_every_example_imports_with_its_framework(path: Path) -> None:
    """Each example imports with its real framework installed and does not start on import."""
    module = load(path.stem)
    assert module.__doc__
    assert callable(getattr(module, "create_app", None) or module.ImagineBot)


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
    discord_example: ModuleType, session: ImageModelsSession
) -> None:
    """Typing "flux" offers ids or names starting with it before those merely containing it."""
    choices = discord_example.autocomplete_models(await session.catalog(), "flux")
    catalog = await session.catalog()
    starts = [
        catalog[model_id].display_name.casefold().startswith("flux") or model_id.startswith("flux")
        for _, model_id in choices
    ]
    assert len(choices) == 25
    assert starts[0]
    assert starts == sorted(starts, reverse=True)  # every prefix match before any other
    assert discord_example.autocomplete_models(catalog, "flux-pro")[0] == (
        "FLUX Pro · from $0.0612 (flux-pro)",
        "flux-pro",
    )
    assert all(len(label) <= 100 for label, _ in choices)


async def test_discord_autocomplete_matches_inside_names(
    discord_example: ModuleType, session: ImageModelsSession
) -> None:
    """Text in the middle of an id or name still finds the model, ignoring case."""
    ids = [
        model_id
        for _, model_id in discord_example.autocomplete_models(await session.catalog(), "BANANA")
    ]
    assert "nano-banana" in ids


async def test_discord_preflight_refuses_a_bad_size(
    discord_example: ModuleType, session: ImageModelsSession
) -> None:
    """``/imagine --size 7x7`` is refused with the allowed sizes, before anything is paid."""
    check = await discord_example.preflight(session, "flux-pro", size="7x7", n=1)
    assert not check.ok
    assert "`7x7` is not a resolution of `flux-pro`" in check.message
    assert "1024x1024" in check.message


async def test_discord_preflight_prices_a_good_request(
    discord_example: ModuleType, session: ImageModelsSession
) -> None:
    """A valid request goes ahead with its normalised parameters and price."""
    check = await discord_example.preflight(session, "gpt-image-2", size="1024*1024", n=2)
    assert check.ok
    assert check.request == {"n": 2, "resolution": "1024x1024"}
    assert check.price == Decimal("0.13102")
    assert "$0.13102" in check.message


async def test_discord_preflight_suggests_model_ids(
    discord_example: ModuleType, session: ImageModelsSession
) -> None:
    """A mistyped model gets close ids back."""
    check = await discord_example.preflight(session, "flux-pr")
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


@attrs.define
class FakeResponse:
    """What an ``/imagine`` callback uses of ``interaction.response``: it records the reply."""

    sent: list[tuple[str, dict[str, Any]]] = attrs.Factory(list)

    async def send_message(self, content: str, **options: Any) -> None:
        self.sent.append((content, options))

    def is_done(self) -> bool:
        return bool(self.sent)


@attrs.define
class FakeFollowup:
    """``interaction.followup``: records each message with the files attached."""

    sent: list[tuple[str, list[Any], dict[str, Any]]] = attrs.Factory(list)

    async def send(self, content: str, *, files: list[Any], **options: Any) -> None:
        self.sent.append((content, files, options))


@attrs.define
class FakeInteraction:
    """The least of a ``discord.Interaction`` the example's callbacks read."""

    client: Any
    response: FakeResponse = attrs.Factory(FakeResponse)
    followup: FakeFollowup = attrs.Factory(FakeFollowup)


@pytest.fixture
def discord_example() -> ModuleType:
    """examples/discord_bot.py, imported with real discord.py."""
    return load("discord_bot")


@pytest.fixture
async def discord_bot(
    discord_example: ModuleType, session: ImageModelsSession
) -> AsyncIterator[Any]:
    """The example's bot on ``session``: its command tree built, never logged in."""
    bot = discord_example.ImagineBot(session)
    yield bot
    await bot.close()


async def test_discord_tree_registers_imagine_with_its_options(discord_bot: Any) -> None:
    """The tree syncs one ``/imagine`` whose options Discord shows: types, limits, autocomplete."""
    assert [command.name for command in discord_bot.tree.get_commands()] == ["imagine"]
    payload = discord_bot.tree.get_command("imagine").to_dict(discord_bot.tree)
    options = {option["name"]: option for option in payload["options"]}
    assert list(options) == ["prompt", "model", "size", "n", "image"]
    string, integer, attachment = 3, 4, 11  # Discord's option types
    types = [string, string, string, integer, attachment]
    assert [options[name]["type"] for name in options] == types
    assert [options[name]["required"] for name in options] == [True, True, False, False, False]
    assert options["model"]["autocomplete"] is True
    assert options["size"]["description"] == "e.g. 1024x1024"
    assert (options["n"]["min_value"], options["n"]["max_value"]) == (1, 10)


async def test_discord_imagine_refuses_a_bad_size_privately(discord_bot: Any) -> None:
    """``/imagine`` with a size the model lacks answers only the user, with the allowed sizes."""
    interaction = FakeInteraction(discord_bot)
    imagine = discord_bot.tree.get_command("imagine")
    await imagine.callback(interaction, prompt="a cat", model="flux-pro", size="7x7")
    [(message, options)] = interaction.response.sent
    assert "`7x7` is not a resolution of `flux-pro`" in message
    assert "1024x1024" in message
    assert options == {"ephemeral": True}


async def test_discord_imagine_announces_a_good_request(discord_bot: Any) -> None:
    """A valid ``/imagine`` is announced to the channel with what it will cost."""
    interaction = FakeInteraction(discord_bot)
    imagine = discord_bot.tree.get_command("imagine")
    await imagine.callback(interaction, prompt="a cat", model="gpt-image-2", size="1024*1024", n=2)
    [(message, options)] = interaction.response.sent
    assert message == "Generating 2 x 1024x1024 with GPT Image 2 for $0.13102…"
    assert options == {"ephemeral": False}
    [(followup, files, options)] = interaction.followup.sent  # the session has no key
    assert followup.startswith("NanoGPT refused: HTTP 401 (missing_api_key)")
    assert (files, options) == ([], {"ephemeral": True})


KEY = "sk-nano-33333333-example-key"


@pytest.fixture
async def paid_bot(discord_example: ModuleType, fake: FakeNanoGPT) -> AsyncIterator[Any]:
    """The example's bot with a keyed session on ``fake`` and a $0.20 budget."""
    from nanogpt_images import Budget

    session = ImageModelsSession(KEY, base_url=fake.url, refresh_interval=None)
    bot = discord_example.ImagineBot(session, Budget("0.20"))
    yield bot
    await bot.close()


async def test_discord_imagine_posts_the_generated_images(paid_bot: Any, fake: FakeNanoGPT) -> None:
    """``/imagine`` ends with a real generate(): the PNGs are posted with the cost and budget."""
    interaction = FakeInteraction(paid_bot)
    imagine = paid_bot.tree.get_command("imagine")
    await imagine.callback(interaction, prompt="a cat", model="gpt-image-2", size="1024x1024", n=2)
    [(message, files, options)] = interaction.followup.sent
    assert message == "Done for $0.13102 ($0.06898 left today)."
    assert [file.filename for file in files] == ["imagine-1.png", "imagine-2.png"]
    assert all(file.fp.read().startswith(b"\x89PNG") for file in files)
    assert options == {"ephemeral": False}
    assert fake.balance == Decimal("10") - Decimal("0.13102")


async def test_discord_imagine_stops_at_the_budget(paid_bot: Any, fake: FakeNanoGPT) -> None:
    """Once the shared budget cannot cover a request, the bot says so and sends nothing."""
    imagine = paid_bot.tree.get_command("imagine")
    await imagine.callback(FakeInteraction(paid_bot), "a", "gpt-image-2", "1024x1024", 2)
    interaction = FakeInteraction(paid_bot)
    await imagine.callback(interaction, "b", "gpt-image-2", "1024x1024", 2)
    [(message, files, _)] = interaction.followup.sent
    assert message == "The bot has spent today's image budget; try again tomorrow."
    assert files == []
    assert sum(r.method == "POST" for r in fake.requests) == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("billed_500", "I won't retry, so as not to pay twice"),
        ("no_money", "balance is empty"),
    ],
)
async def test_discord_imagine_explains_failures(
    discord_example: ModuleType, paid_bot: Any, fake: FakeNanoGPT, fault: str, expected: str
) -> None:
    """A billed failure or an empty balance gets a plain-words reply, never a retry."""
    await paid_bot.session.catalog()
    if fault == "no_money":
        fake.balance = Decimal(0)
    else:
        fake.fault_next("billed_500")
    done = await discord_example.imagine_images(
        paid_bot.session, "flux-pro", "a cat", {"n": 1}, paid_bot.budget
    )
    assert not done.ok
    assert expected in done.message
    assert sum(r.method == "POST" for r in fake.requests) == 1


async def test_discord_imagine_suggests_a_model_for_a_typo(discord_bot: Any) -> None:
    """A mistyped model id gets the close ids back, privately."""
    interaction = FakeInteraction(discord_bot)
    imagine = discord_bot.tree.get_command("imagine")
    await imagine.callback(interaction, prompt="a cat", model="flux-pr")
    [(message, options)] = interaction.response.sent
    assert "Did you mean" in message
    assert "flux-pro" in message
    assert options == {"ephemeral": True}


async def test_discord_model_autocomplete_answers_from_the_cache(
    discord_example: ModuleType, discord_bot: Any, fake: FakeNanoGPT
) -> None:
    """The model option's autocomplete offers labelled choices, and typing costs no fetch."""
    interaction = FakeInteraction(discord_bot)
    for typed in ("f", "fl", "flu", "flux-pro"):
        choices = await discord_example.model_choices(interaction, typed)
    assert (choices[0].name, choices[0].value) == ("FLUX Pro · from $0.0612 (flux-pro)", "flux-pro")
    assert len(await discord_example.model_choices(interaction, "")) == 25
    assert fake.request_count == 1


# -- fastapi_app.py ------------------------------------------------------------


@pytest.fixture
def fastapi_client(
    nanogpt_server: FakeNanoGPT, monkeypatch: pytest.MonkeyPatch
) -> Iterator[starlette.testclient.TestClient]:
    """The FastAPI example as uvicorn builds it (``create_app()``, env config), lifespan on."""
    monkeypatch.setenv("NANOGPT_BASE_URL", nanogpt_server.url)
    monkeypatch.delenv("NANOGPT_API_KEY", raising=False)
    with starlette.testclient.TestClient(load("fastapi_app").create_app()) as client:
        yield client


def test_fastapi_lists_models_with_filters(fastapi_client: starlette.testclient.TestClient) -> None:
    """``GET /models`` takes the find() filters and answers a picker's rows, cheapest first."""
    response = fastapi_client.get(
        "/models",
        params={"capability": "inpainting", "resolution": "1024x1024", "sort": "price"},
    )
    assert response.status_code == 200
    rows = response.json()
    assert rows[0]["id"] == "vidu-q2-reference"
    assert rows[0]["price"] == "0.01035"
    assert "1024x1024" in rows[0]["resolutions"]
    prices = [Decimal(row["price"]) for row in rows]
    assert prices == sorted(prices)


def test_fastapi_refuses_a_bad_filter(fastapi_client: starlette.testclient.TestClient) -> None:
    """A bad filter value is a 422 naming the parameter and what would be right, not a 500."""
    bad_sort = fastapi_client.get("/models", params={"sort": "size"})
    assert bad_sort.status_code == 422
    assert "'price', 'name' or 'created'" in bad_sort.json()["detail"][0]["msg"]
    bad_price = fastapi_client.get("/models", params={"max_price": "cheap"})
    assert bad_price.status_code == 422
    assert bad_price.json()["detail"][0]["loc"] == ["query", "max_price"]


def test_fastapi_shows_one_model_with_its_prices(
    fastapi_client: starlette.testclient.TestClient,
) -> None:
    """``GET /models/{id}`` gives the detail a user picks from: resolutions, limits, prices."""
    response = fastapi_client.get("/models/flux-pro")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "flux-pro"
    assert body["name"] == "FLUX Pro"
    assert body["price"] == "0.0612"
    assert body["prices"]["1024x1024"] == "0.068"
    assert set(body["prices"]) == set(body["resolutions"])


def test_fastapi_unknown_model_is_a_404_with_close_ids(
    fastapi_client: starlette.testclient.TestClient,
) -> None:
    """A mistyped id is a 404 that suggests the ids the user probably meant."""
    response = fastapi_client.get("/models/flux-pr")
    assert response.status_code == 404
    assert "flux-pro" in response.json()["detail"]["suggestions"]
    assert fastapi_client.post("/check/flux-pr", json={}).status_code == 404


def test_fastapi_check_prices_a_valid_request(
    fastapi_client: starlette.testclient.TestClient,
) -> None:
    """``POST /check/{id}`` answers 200 with the normalised request and its price."""
    response = fastapi_client.post("/check/flux-pro", json={"resolution": "1024X1024", "n": 1})
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "request": {"resolution": "1024x1024", "n": 1},
        "price": "0.068",
    }


def test_fastapi_check_lists_every_problem(fastapi_client: starlette.testclient.TestClient) -> None:
    """An invalid request is a 422 naming each bad parameter with a suggestion."""
    response = fastapi_client.post("/check/flux-pro", json={"resolution": "1024x1025"})
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False
    assert [problem["parameter"] for problem in body["problems"]] == ["resolution"]
    assert body["problems"][0]["suggestion"] == "1024x1024"
    assert fastapi_client.post("/check/flux-pro", json=[1, 2]).status_code == 422


def test_fastapi_openapi_schema_describes_the_routes(
    fastapi_client: starlette.testclient.TestClient,
) -> None:
    """``/openapi.json`` builds, listing the four routes with their parameters."""
    response = fastapi_client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/models",
        "/models/{model_id}",
        "/check/{model_id}",
        "/generate/{model_id}",
    }
    query = {parameter["name"] for parameter in paths["/models"]["get"]["parameters"]}
    assert {"capability", "resolution", "max_price", "sort"} <= query


async def test_fastapi_app_over_asgi_transport_shares_one_fetch(
    fake: FakeNanoGPT,
) -> None:
    """Under httpx's ASGITransport with the lifespan, many requests cost one catalog fetch."""
    app = load("fastapi_app").create_app(api_key="", base_url=fake.url, refresh_interval=None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for _ in range(5):
                assert (await client.get("/models/gpt-image-2")).status_code == 200
            listed = await client.get("/models", params={"text": "banana"})
    assert "nano-banana" in [row["id"] for row in listed.json()]
    assert fake.request_count == 1


def test_fastapi_app_runs_under_uvicorn(nanogpt_server: FakeNanoGPT) -> None:
    """``uvicorn --factory examples.fastapi_app:create_app`` serves, configured by the env."""
    port = free_port()
    env = {**os.environ, "NANOGPT_BASE_URL": nanogpt_server.url}
    env.pop("NANOGPT_API_KEY", None)
    command = [sys.executable, "-m", "uvicorn", "--factory", "examples.fastapi_app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with subprocess.Popen(  # noqa: S603 - our own command line
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        try:
            wait_for_port(process, port)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
                schema = client.get("/openapi.json")
                model = client.get("/models/flux-pro")
        finally:
            process.terminate()
            output = process.communicate(timeout=10)[0].decode()
    assert schema.status_code == 200
    assert "/models/{model_id}" in schema.json()["paths"]
    assert model.json()["price"] == "0.0612"
    assert "Application shutdown complete" in output  # the lifespan closed the session
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert nanogpt_server.request_count >= 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(process: subprocess.Popen[bytes], port: int, limit: float = 30.0) -> None:
    """Return once ``port`` accepts connections; fail if the process exits or ``limit`` s pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns at once if the server died
        if process.returncode is not None:
            pytest.fail(f"uvicorn exited with {process.returncode} before serving")
    pytest.fail(f"uvicorn did not listen on port {port} within {limit} s")


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


async def test_fastapi_generate_ends_with_real_images(fake: FakeNanoGPT) -> None:
    """``POST /generate/{id}`` generates on the fake: base64 PNGs, cost and balance as strings."""
    app = load("fastapi_app").create_app(
        max_cost=Decimal("0.10"), api_key=KEY, base_url=fake.url, refresh_interval=None
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            made = await client.post(
                "/generate/gpt-image-2", json={"prompt": "a cat", "resolution": "1024x1024"}
            )
            dear = await client.post(
                "/generate/gpt-image-2", json={"prompt": "a cat", "n": 4, "resolution": "2560x1440"}
            )
            bad = await client.post("/generate/gpt-image-2", json={"prompt": "", "n": 9})
            unknown = await client.post("/generate/gpt-image", json={"prompt": "a cat"})
            no_prompt = await client.post("/generate/gpt-image-2", json={})
            fake.fault_next("billed_500", path="/v1/images/generations")
            failed = await client.post(
                "/generate/flux-pro", json={"prompt": "a cat", "resolution": "1024x1024"}
            )
    assert made.status_code == 200
    body = made.json()
    assert body["cost"] == "0.06551"
    assert body["remaining_balance"] == "9.93449"
    assert base64.b64decode(body["images"][0]).startswith(b"\x89PNG")
    assert dear.status_code == 402
    assert "more than max_cost=$0.10" in dear.json()["message"]
    assert bad.status_code == 422
    assert len(bad.json()["problems"]) == 2
    assert unknown.status_code == 404
    assert "gpt-image-2" in unknown.json()["suggestions"]
    assert no_prompt.status_code == 422
    assert failed.status_code == 502
    assert failed.json()["may_be_billed"] is True
    assert sum(r.method == "POST" for r in fake.requests) == 2
