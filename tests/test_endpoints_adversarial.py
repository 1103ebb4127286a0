"""Adversarial review of endpoint details and input-image checks, against a raw asyncio server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from nanogpt_images import (
    ImageModelsSession,
    InputImage,
    ModelNotFoundError,
    NanoGPTError,
    ParameterValidationError,
)
from nanogpt_images.testing import FakeClock

ROOT = Path(__file__).parent
CATALOG = json.loads((ROOT.parent / "nanogpt_images/testing/sample_catalog.json").read_text())
REAL = {
    path.stem: json.loads(path.read_text())
    for path in (ROOT / "fixtures/real_endpoints").glob("*.json")
}
PREFIX = "/api/v1/images/models/"
SUFFIX = "/endpoints"

Handler = Callable[[str, dict[str, str]], Any]


def details_body(model_id: str) -> dict[str, Any]:
    """A real /endpoints body re-labelled with ``model_id``."""
    body: dict[str, Any] = copy.deepcopy(REAL["gpt-image-2"])
    body["id"] = model_id
    return body


class RawServer:
    """A raw HTTP/1.1 server on 127.0.0.1: catalog on both routes, /endpoints per model."""

    def __init__(self, clock: FakeClock, catalog: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.catalog = copy.deepcopy(catalog or CATALOG)
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # /endpoints requests wait on it when set
        self.entered = asyncio.Event()
        self.endpoint: Handler | None = None  # overrides the /endpoints answer
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if self.gate is not None:
            self.gate.set()
        await asyncio.sleep(0)

    def detail_requests(self) -> list[tuple[float, str, dict[str, str]]]:
        return [r for r in self.requests if r[1].endswith(SUFFIX)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                self.requests.append((self.clock.monotonic(), target, headers))
                status, body, extra = await self._answer(target, headers)
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(body)}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in extra.items()
                )
                writer.write(head.encode() + b"\r\n" + body)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, target: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        path = target.split("?", 1)[0]
        if path in ("/api/v1/image-models", "/api/v1/images/models"):
            return 200, self.catalog, {}
        if path.startswith(PREFIX) and path.endswith(SUFFIX):
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.entered.set()
            try:
                if self.gate is not None:
                    await self.gate.wait()
                if self.endpoint is not None:
                    answer: tuple[int, Any, dict[str, str]] = self.endpoint(target, headers)
                    return answer
                return 200, details_body(path[len(PREFIX) : -len(SUFFIX)]), {}
            finally:
                self.in_flight -= 1
        return 404, {"error": "no such route"}, {}


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    """A fake clock that jumps to the next deadline whenever the loop is idle."""
    async with FakeClock(auto_advance=True) as fake:
        yield fake


@pytest.fixture
async def raw(clock: FakeClock) -> AsyncIterator[RawServer]:
    """The raw server with the sample catalog."""
    async with RawServer(clock) as server:
        yield server


@pytest.fixture
async def session(raw: RawServer, clock: FakeClock) -> AsyncIterator[ImageModelsSession]:
    """A session on the raw server (no retries, no background refresh)."""
    async with ImageModelsSession(
        base_url=raw.url, clock=clock, max_retries=0, refresh_interval=None, api_key="sk-SECRET-KEY"
    ) as made:
        yield made


IDS = [model["id"] for model in CATALOG["data"]]
PNG = InputImage(width=512, height=512, size=10_000, format="png")


def per_second_peak(times: list[float]) -> int:
    """The most requests whose start falls in any one-second window."""
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + 1) for start in times), default=0)


def constraints_body(model_id: str, constraints: dict[str, Any]) -> bytes:
    body = details_body(model_id)
    body["endpoints"][0]["input_reference_constraints"] = constraints
    return json.dumps(body).encode()


# -- input image headers ------------------------------------------------------


def test_jpeg_fill_bytes_are_read_in_time_independent_of_size() -> None:
    """A JPEG of endless 0xFF fill bytes is sniffed as fast as a tiny one (header only)."""
    junk = b"\xff\xd8" + b"\xff" * (10 * 2**20)
    started = time.perf_counter()
    image = InputImage.from_bytes(junk)
    elapsed = time.perf_counter() - started
    assert image.format == "jpeg"
    assert elapsed < 0.05, f"{elapsed:.2f} s for 10 MiB: the fill-byte loop walks the whole file"


# -- catalog refresh racing a details fetch -------------------------------------


async def test_details_in_flight_when_the_catalog_drops_the_model_are_not_installed(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """A model a refresh removes while its cold details are in flight raises ModelNotFoundError."""
    await session.catalog()
    victim = IDS[5]
    raw.gate = asyncio.Event()
    reader = asyncio.create_task(session.endpoints(victim))
    await raw.entered.wait()
    raw.catalog["data"] = [m for m in raw.catalog["data"] if m["id"] != victim]
    await session.refresh()
    raw.gate.set()
    await reader
    with pytest.raises(ModelNotFoundError):
        await session.endpoints(victim)


async def test_details_in_flight_when_the_catalog_changes_the_model_are_fetched_again(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """A model a refresh changes while its cold details are in flight is fetched again."""
    await session.catalog()
    victim = IDS[5]
    raw.gate = asyncio.Event()
    reader = asyncio.create_task(session.endpoints(victim))
    await raw.entered.wait()
    for model in raw.catalog["data"]:
        if model["id"] == victim:
            model["name"] = "Changed meanwhile"
    await session.refresh()
    raw.gate.set()
    await reader
    await session.endpoints(victim)
    assert len(raw.detail_requests()) == 2


# -- pacing ---------------------------------------------------------------------


async def test_retried_detail_requests_of_a_cold_burst_stay_under_25_a_second(
    raw: RawServer, clock: FakeClock
) -> None:
    """With default retries, 200 cold ids on a failing route never pass 25 requests a second."""
    raw.endpoint = lambda target, headers: (500, b"{}", {})
    async with ImageModelsSession(base_url=raw.url, clock=clock, refresh_interval=None) as made:
        made._transport._random = lambda: 0.0  # the low end of full jitter: retry at once
        await made.catalog()
        await asyncio.gather(*(made.endpoints(i) for i in IDS[:200]), return_exceptions=True)
    peak = per_second_peak([t for t, *_ in raw.detail_requests()])
    assert peak <= 25, f"{peak} /endpoints requests in one second of the session's clock"


# -- ids and links ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "link"),
    [
        ("../../../admin", None),
        ("a/../../b", None),
        ("./.", None),
        ("linked", "/api/../../secret"),
        ("linked", "/api/v1/images/models/x/../../../../steal"),
    ],
)
async def test_dot_segments_never_take_the_request_out_of_the_endpoints_route(
    raw: RawServer, clock: FakeClock, model_id: str, link: str | None
) -> None:
    """An id or `endpoints` link with `.`/`..` segments is never normalised into another path."""
    record = copy.deepcopy(CATALOG["data"][0])
    record["id"] = model_id
    record.pop("endpoints", None)
    if link is not None:
        record["endpoints"] = link
    raw.catalog["data"] = [record]
    async with ImageModelsSession(
        base_url=raw.url, clock=clock, refresh_interval=None, max_retries=0, api_key="sk-KEY"
    ) as made:
        with contextlib.suppress(Exception):
            await made.endpoints(model_id)
    (sent,) = [
        target for _, target, _ in raw.requests if target != "/api/v1/image-models?detailed=true"
    ]
    assert sent.startswith(PREFIX), sent
    assert sent.endswith(SUFFIX), sent
    assert len(sent) > len(PREFIX + SUFFIX), sent


async def test_details_answered_for_another_model_are_not_installed(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """A 200 body whose `id` names another model is not taken as the requested model's details."""
    raw.endpoint = lambda target, headers: (200, details_body("someone-else"), {})
    try:
        got = await session.endpoints(IDS[0])
    except NanoGPTError:
        return
    assert got.id == IDS[0], f"details of {got.id!r} served as {IDS[0]!r}'s"


# -- validate() against odd constraints ---------------------------------------------


async def test_a_formats_list_with_no_readable_name_does_not_reject_every_image(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """`formats: [1, null]` is an unknown limit, not "no format allowed": a PNG passes."""
    raw.endpoint = lambda t, h: (
        200,
        constraints_body(IDS[3], {"route": {"formats": [1, None]}}),
        {},
    )
    await session.validate(IDS[3], input_images=[PNG])


async def test_no_common_format_names_what_is_allowed(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """When route and provider formats share none, the problem still says what is allowed."""
    limits = {"route": {"formats": ["png"]}, "provider": {"formats": ["gif"]}}
    raw.endpoint = lambda t, h: (200, constraints_body(IDS[3], limits), {})
    with pytest.raises(ParameterValidationError) as caught:
        await session.validate(IDS[3], input_images=[PNG])
    (problem,) = caught.value.problems
    assert not problem.message.rstrip().endswith("takes"), problem.message


async def test_validate_with_images_falls_back_to_the_catalog_when_details_404(
    raw: RawServer, session: ImageModelsSession
) -> None:
    """A listed model whose details route says 404 is checked from the catalog, not unknown."""
    raw.endpoint = lambda t, h: (404, b'{"error":"not found"}', {})
    await session.validate("gpt-image-2", input_images=[PNG])


# -- price() ----------------------------------------------------------------------


async def test_a_price_line_in_an_unreadable_currency_prices_nothing(
    raw: RawServer, clock: FakeClock
) -> None:
    """A line whose currency is `{"code": "EUR"}` is not priced as USD."""
    catalog = copy.deepcopy(CATALOG)
    for model in catalog["data"]:
        model.pop("pricing", None)
    raw.catalog = catalog
    body = details_body(IDS[0])
    body["endpoints"][0].pop("public_pricing", None)
    body["endpoints"][0]["pricing"] = [
        {
            "billable": "output_image",
            "unit": "image",
            "cost_usd": 0.1,
            "currency": {"code": "EUR"},
            "resolution": "auto",
        }
    ]
    raw.endpoint = lambda t, h: (200, json.dumps(body).encode(), {})
    async with ImageModelsSession(
        base_url=raw.url, clock=clock, refresh_interval=None, max_retries=0
    ) as made:
        assert await made.price(IDS[0], resolution="auto") is None
