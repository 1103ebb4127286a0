"""Adversarial review: a raw HTTP server of our own on 127.0.0.1, and stores that misbehave.

Each test states what a user would notice; every one failed on the main
branch when it was written.  No test sleeps for time to pass: sessions run on
``FakeClock``; ``asyncio.wait_for`` only bounds a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pickle
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nanogpt_images import DecodeError, ImageModelsSession, NanoGPTError, StoredResponse, _session
from nanogpt_images.testing import FakeClock

SAMPLE = (Path(__file__).parents[1] / "nanogpt_images/testing/sample_catalog.json").read_bytes()
KEY = "sk-adversarial-5e1f0c9b27d4"
ESCAPED_KEY = "".join(f"\\u{ord(c):04x}" for c in KEY)

Handler = Callable[[int], Awaitable[bytes] | bytes]


def http(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 answer, written byte by byte."""
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    """asyncio.start_server answering each request with the handler's raw bytes."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            answer = self.handler(len(self.requests))
            if not isinstance(answer, bytes):
                answer = await answer
            writer.write(answer)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def catalog_server() -> AsyncIterator[RawServer]:
    """A raw server that always answers the sample catalog with an ETag."""
    async with RawServer(lambda _n: http(200, SAMPLE, (("ETag", '"v1"'),))) as server:
        yield server


class HangingLoadStore:
    """A store (Redis behind a dead network, say) whose load() never returns."""

    async def load(self) -> StoredResponse | None:
        await asyncio.Event().wait()
        return None

    async def save(self, response: StoredResponse) -> None:
        return None


class GarbageValidatorStore:
    """A store that hands back a good body with an ETag that is not a string."""

    async def load(self) -> StoredResponse | None:
        return StoredResponse(body=SAMPLE, detailed=True, fetched_at=0.0, etag=123)  # type: ignore[arg-type]

    async def save(self, response: StoredResponse) -> None:
        return None


class CancellingLoadStore:
    """A store whose client library leaks a CancelledError out of load()."""

    async def load(self) -> StoredResponse | None:
        raise asyncio.CancelledError

    async def save(self, response: StoredResponse) -> None:
        return None


def _text_of(error: BaseException) -> str:
    """Everything a user could print or ship of an error: str, repr, attributes, pickle."""
    return " ".join([str(error), repr(error), repr(vars(error)), repr(pickle.dumps(error))])


# -- a hung store -------------------------------------------------------------------


async def test_a_hung_store_load_does_not_block_reads_or_refresh(
    catalog_server: RawServer,
) -> None:
    """A store whose load() hangs must not make catalog() and refresh() hang: fetch instead."""
    session = ImageModelsSession(
        base_url=catalog_server.url, clock=FakeClock(), store=HangingLoadStore(), wait_timeout=5
    )
    try:
        catalog = await asyncio.wait_for(session.catalog(), 3)  # hangs forever on main
        assert len(catalog) == 232
        assert len(await asyncio.wait_for(session.refresh(), 3)) == 232
    finally:
        await session.close()


# -- garbage from a store -------------------------------------------------------------


async def test_a_stored_etag_that_is_not_a_string_does_not_break_every_fetch(
    catalog_server: RawServer,
) -> None:
    """A custom store's non-string ETag must not make every later fetch fail without a request."""
    clock = FakeClock(wall_start=10_000_000.0)  # the stored copy is long past max_stale
    session = ImageModelsSession(
        base_url=catalog_server.url, clock=clock, store=GarbageValidatorStore(), max_retries=0
    )
    try:
        # main: TransportError "AttributeError: 'int' object has no attribute 'isprintable'",
        # on every read and refresh, forever, with no request ever sent.
        assert len(await session.refresh()) == 232
        assert catalog_server.requests
    finally:
        await session.close()


async def test_a_store_load_that_raises_cancelled_error_is_a_cold_start(
    catalog_server: RawServer,
) -> None:
    """A store leaking CancelledError from load() is a cold start, not a session read as closed."""
    session = ImageModelsSession(
        base_url=catalog_server.url, clock=FakeClock(), store=CancellingLoadStore()
    )
    try:
        # main: SessionClosedError "the session was closed while it started", on every read.
        assert len(await session.catalog()) == 232
    finally:
        await session.close()


# -- the key, echoed in a 200 body that is not a catalog ---------------------------------


async def test_a_json_escaped_key_in_a_bad_body_never_reaches_the_error_or_stats() -> None:
    """A server echoing the key JSON-escaped (as an object key) must not put it in the error."""
    body = ('{"' + ESCAPED_KEY + '": "invalid api key"}').encode()
    async with (
        RawServer(lambda _n: http(200, body)) as server,
        ImageModelsSession(
            KEY, base_url=server.url, clock=FakeClock(), refresh_interval=None, max_retries=0
        ) as session,
    ):
        with pytest.raises(DecodeError) as caught:
            await session.catalog()
        assert KEY not in _text_of(caught.value)
        assert KEY not in (session.stats().last_error or "")


async def test_the_key_in_a_big_bad_body_never_reaches_the_error_or_stats() -> None:
    """A body of 1 MiB or more quoting the key as an object key must not put it in the error."""
    body = f'{{"{KEY}": "invalid api key", "padding": "{"x" * (1 << 20)}"}}'.encode()
    async with (
        RawServer(lambda _n: http(200, body)) as server,
        ImageModelsSession(
            KEY, base_url=server.url, clock=FakeClock(), refresh_interval=None, max_retries=0
        ) as session,
    ):
        with pytest.raises(DecodeError) as caught:
            await session.catalog()
        assert KEY not in _text_of(caught.value)
        assert KEY not in (session.stats().last_error or "")


async def test_a_background_refresh_never_logs_a_key_echoed_in_a_bad_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning for a failed background refresh must not quote a key the server echoed."""
    bad = ('{"' + ESCAPED_KEY + '": "invalid api key"}').encode()
    clock = FakeClock()
    async with (
        RawServer(lambda n: http(200, SAMPLE if n == 1 else bad)) as server,
        ImageModelsSession(
            KEY, base_url=server.url, clock=clock, refresh_interval=None, max_retries=0
        ) as session,
    ):
        await session.catalog()
        caplog.set_level(logging.DEBUG, logger="nanogpt_images")
        await clock.advance(301)
        await session.catalog()  # stale: served at once, refresh in the background
        refreshing = session._cache.busy
        assert refreshing is not None
        await asyncio.wait([refreshing], timeout=5)
        assert session.stats().errors == 1
        # main: WARNING "refreshing the image catalog failed: ... (keys: sk-adversarial-...)"
        assert KEY not in caplog.text
        assert all(KEY not in str(record.args) for record in caplog.records)


# -- the key, percent-encoded in a same-origin redirect -------------------------------------


async def test_a_redirect_quoting_the_key_percent_encoded_is_not_followed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Location quoting the key as %73%6B... must not be followed: the key ends up in the URL."""
    encoded = "".join(f"%{ord(c):02X}" for c in KEY)
    location = f"/api/v1/image-models?detailed=true&k={encoded}"

    def answer(n: int) -> bytes:
        return http(302, headers=(("Location", location),)) if n == 1 else http(200, SAMPLE)

    caplog.set_level(logging.DEBUG, logger="nanogpt_images")
    async with RawServer(answer) as server:
        async with ImageModelsSession(
            KEY, base_url=server.url, clock=FakeClock(), refresh_interval=None, max_retries=0
        ) as session:
            with contextlib.suppress(NanoGPTError):
                await session.catalog()
        # main: the redirect is followed and the request line reads "...&k=sk-adversarial-..."
        # (yarl decodes the escapes), and the DEBUG log quotes the key percent-encoded.
        request_lines = [request.split(b"\r\n")[0].decode() for request in server.requests]
        assert all(KEY not in line for line in request_lines), request_lines
        assert encoded not in caplog.text


# -- change order across the big-catalog (threaded) and small (on-loop) diff paths -----------


def _catalog_body(count: int, prefix: str) -> bytes:
    """The sample catalog's models replicated to ``count`` entries with new ids."""
    document = json.loads(SAMPLE)
    models = document["data"]
    document["data"] = [{**models[i % len(models)], "id": f"{prefix}-{i}"} for i in range(count)]
    return json.dumps(document).encode()


async def test_changes_are_told_in_order_when_a_big_diff_is_still_in_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small change must not be told before the big change that preceded it."""
    bodies = [_catalog_body(1500, "a"), _catalog_body(800, "b"), _catalog_body(800, "c")]
    in_thread = threading.Event()
    release = threading.Event()
    diff = _session.diff_untracked

    def slow_diff(*args: Any) -> Any:  # a busy machine: the thread takes a while
        in_thread.set()
        release.wait(5)
        return diff(*args)

    monkeypatch.setattr(_session, "diff_untracked", slow_diff)
    async with (
        RawServer(lambda n: http(200, bodies[min(n, 3) - 1])) as server,
        ImageModelsSession(
            base_url=server.url, clock=FakeClock(), refresh_interval=None, max_retries=0
        ) as session,
    ):
        told: list[str] = []
        session.subscribe(lambda change: told.append(change.added[0].id.split("-")[0]))
        await session.catalog()
        await session.refresh()  # a -> b: 2,300 models, diffed in a thread
        await asyncio.to_thread(in_thread.wait, 5)
        await session.refresh()  # b -> c: 1,600 models, diffed on the loop at once
        release.set()
        while session._busy():
            await asyncio.wait(session._busy(), timeout=5)
        # main: ['c', 'b']: the later change is told first
        assert told == ["b", "c"]
