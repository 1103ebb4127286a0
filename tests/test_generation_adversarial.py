"""Adversarial review of generate(): a raw HTTP server on 127.0.0.1, not FakeNanoGPT.

Each test here failed on the commit it was written against; each names what
a user would notice (requests the server saw, money counted, a key printed).
"""

from __future__ import annotations

import asyncio
import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import nanogpt_images
from nanogpt_images import Budget, ImageModelsSession, PossiblyBilledError
from nanogpt_images._cli import main
from nanogpt_images.testing import FakeClock, png_bytes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

KEY = "sk-nano-33333333-adversarial-secret"
CATALOG = (Path(nanogpt_images.__file__).parent / "testing" / "sample_catalog.json").read_bytes()
PNG = base64.b64encode(png_bytes()).decode()


def http(
    status: int, body: bytes | dict[str, Any] = b"", headers: dict[str, str] | None = None
) -> bytes:
    """A complete raw HTTP/1.1 response."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


class RawServer:
    """Raw HTTP on 127.0.0.1: the sample catalog on GET, ``on_post`` for the generation route.

    ``on_post(server, headers, body)`` returns the bytes to write (then the
    connection closes), or ``None`` to close without answering.  ``on_get``
    answers any other GET (image links).
    """

    def __init__(self, on_post: Any, on_get: Any = None) -> None:
        self.on_post = on_post
        self.on_get = on_get
        self.posts: list[dict[str, Any]] = []

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *rest = head.split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (each.partition(":") for each in rest if each)
                }
                if line.startswith("GET") and "/api/v1/image-models" in line:
                    writer.write(http(200, CATALOG))
                    await writer.drain()
                    continue
                if line.startswith("GET"):
                    writer.write(await self.on_get(line) if self.on_get else http(404))
                    await writer.drain()
                    continue
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.posts.append(json.loads(body))
                answer = await self.on_post(self, headers, body)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def answering(*answers: bytes | None) -> Any:
    """An ``on_post`` giving ``answers`` in turn (the last one again after that)."""
    queue = list(answers)

    async def on_post(server: RawServer, headers: dict[str, str], body: bytes) -> bytes | None:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return on_post


def billed(cost: Any = "0.068", **more: Any) -> bytes:
    """A 200 with one PNG and ``cost`` written as a raw JSON value."""
    fields = {"created": 1, "data": [{"b64_json": PNG}], **more}
    text = json.dumps(fields)[:-1] + f', "cost": {cost}}}'
    return http(200, text.encode())


@pytest.fixture
async def auto_clock() -> AsyncIterator[FakeClock]:
    """A FakeClock that jumps to the next sleeper when idle, so retries never stall."""
    async with FakeClock(auto_advance=True) as auto:
        yield auto


def session_on(server: RawServer, auto_clock: FakeClock, **options: Any) -> ImageModelsSession:
    options.setdefault("max_retries", 2)
    return ImageModelsSession(
        KEY,
        base_url=server.url,
        allow_insecure_http=True,
        clock=auto_clock,
        refresh_interval=None,
        **options,
    )


# -- the key in messages ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Unauthorized: Authorization: Bearer " + KEY.encode() + b"</html>",
        json.dumps({"error": f"invalid api key {KEY}"}).encode(),
        json.dumps({"data": [f"denied for {KEY}"]}).encode(),
    ],
    ids=["html", "json-error-envelope", "data-entry"],
)
async def test_an_unreadable_200_that_echoes_the_key_does_not_print_it(
    auto_clock: FakeClock, body: bytes
) -> None:
    """A 200 body that quotes the key (a proxy's echo page, an error envelope) is redacted."""
    async with (
        RawServer(answering(http(200, body))) as server,
        session_on(server, auto_clock) as session,
    ):
        with pytest.raises(PossiblyBilledError) as caught:
            await session.generate("flux-pro", "a cat", resolution="1024x1024")
    assert len(server.posts) == 1
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.args)


# -- money counted in a Budget ---------------------------------------------------


async def test_a_negative_cost_does_not_refund_the_budget(auto_clock: FakeClock) -> None:
    """A cost below zero in the answer must not give a Budget back more than was held."""
    async with (
        RawServer(answering(billed("-1"), billed("0.068"))) as server,
        session_on(server, auto_clock) as session,
    ):
        budget = Budget("0.10")
        await session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
        for _ in range(5):  # $0.34 of estimates against a $0.10 budget
            try:
                await session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
            except nanogpt_images.BudgetExceededError:
                break
    assert budget.spent >= 0
    assert len(server.posts) == 1  # $0.068 held of $0.10: no room for a second one


async def test_an_unexpected_error_after_sending_counts_the_estimate(auto_clock: FakeClock) -> None:
    """A 2xx that breaks the JSON reader (deep nesting) is billed: PossiblyBilledError, counted."""
    async with (
        RawServer(answering(http(200, b'{"data": [' + b"[" * 100_000))) as server,
        session_on(server, auto_clock) as session,
    ):
        budget = Budget("1")
        with pytest.raises(PossiblyBilledError):
            await session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
    assert len(server.posts) == 1
    assert budget.spent == Decimal("0.068")


async def test_cancelled_while_waiting_out_a_429_gives_the_reservation_back() -> None:
    """A call cancelled in the Retry-After wait of a 429 sent nothing that ran: spent stays 0."""
    still = FakeClock()  # no auto-advance: the wait never ends by itself
    slow_down = http(429, {"error": "slow down"}, {"Retry-After": "30"})
    async with RawServer(answering(slow_down)) as server, session_on(server, still) as session:
        await session.catalog()
        budget = Budget("1")
        call = asyncio.create_task(
            session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
        )
        for _ in range(500):
            await asyncio.sleep(0.005)
            if server.posts and still.sleepers:
                break
        assert len(server.posts) == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert budget.reserved == 0
    assert budget.spent == 0


# -- pre-flight --------------------------------------------------------------------


async def test_a_passed_through_image_count_is_priced_or_refused(auto_clock: FakeClock) -> None:
    """nImages=4 (the count NanoGPT's image API prefers over n) slips past max_cost unpriced."""
    async with (
        RawServer(answering(billed("0.26204"))) as server,
        session_on(server, auto_clock) as session,
    ):
        with pytest.raises(
            (nanogpt_images.BudgetExceededError, nanogpt_images.ParameterValidationError)
        ):
            await session.generate(
                "gpt-image-2", "a cat", resolution="1024x1024", max_cost="0.10", nImages=4
            )
    assert server.posts == []


# -- the CLI -----------------------------------------------------------------------


async def test_the_cli_keeps_the_paid_images_it_got_when_one_link_fails(
    auto_clock: FakeClock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One image's link 404s: the paid image that came inline is saved and the cost printed."""

    async def on_get(line: str) -> bytes:
        return http(404, {"error": "expired"})

    answer = http(200, {"created": 1, "data": [{"b64_json": PNG}, {"url": "LINK"}], "cost": 0.136})
    async with RawServer(None, on_get) as server:
        link = f'"{server.url}/img/2.png"'.encode()
        server.on_post = _fix_length(answering(answer.replace(b'"LINK"', link)))
        out = tmp_path / "out"
        code = await asyncio.to_thread(main, cli_generate(server, out))
    stdout, stderr = capsys.readouterr()
    assert len(server.posts) == 1
    assert code != 0
    assert out.exists()
    assert len(list(out.iterdir())) == 1  # the inline PNG, paid for, kept
    assert "0.136" in stdout + stderr  # the user learns what was spent


async def test_the_cli_reports_an_image_without_data_instead_of_a_traceback(
    auto_clock: FakeClock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An answer entry with neither b64_json nor url: an error line, not an uncaught ValueError."""
    answer = http(
        200, {"created": 1, "data": [{"b64_json": PNG}, {"revised_prompt": "x"}], "cost": 0.136}
    )
    async with RawServer(answering(answer)) as server:
        try:
            code: int | str = await asyncio.to_thread(main, cli_generate(server, tmp_path))
        except ValueError as exc:  # escaped main(): a traceback for the user
            code = f"traceback: {exc}"
    stdout, stderr = capsys.readouterr()
    assert len(server.posts) == 1
    assert isinstance(code, int)
    assert code != 0
    assert "0.136" in stdout + stderr


def cli_generate(server: RawServer, out: Path) -> list[str]:
    """``nanogpt-images generate`` of two gpt-image-2 images on ``server``, saved to ``out``."""
    return [
        *("generate", "gpt-image-2", "a cat", "--resolution", "1024x1024", "--n", "2", "--yes"),
        *("--out", str(out), "--api-key", KEY, "--base-url", server.url, "--allow-insecure-http"),
    ]


def _fix_length(on_post: Any) -> Any:
    """Recompute Content-Length after the link was put into a canned answer."""

    async def fixed(server: RawServer, headers: dict[str, str], body: bytes) -> bytes | None:
        raw = await on_post(server, headers, body)
        if raw is None:
            return None
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = [
            line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-length")
        ]
        lines.append(b"Content-Length: %d" % len(payload))
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    return fixed
