"""Secrets audit: the API key never leaks, whatever the server does.

The whole fault matrix of ``tests/fault_matrix.py`` runs with a key set and
every logger captured at DEBUG; then the CLI meets the faults that answer
without retry waits (the CLI's session waits real backoff, so the retried
faults are covered through the session only: the CLI prints the same
exception text).  The key must not appear in a log record, an exception's
text, repr or cause chain, ``repr(session)``, ``stats()``, the CLI's output,
or any request to an origin other than the configured one.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import threading
import traceback
from typing import TYPE_CHECKING

import fault_matrix as faults
import pytest
from aiohttp import web

from nanogpt_images import (
    APIStatusError,
    AuthenticationError,
    DecodeError,
    ImageModelsSession,
    ServerError,
)
from nanogpt_images.testing import FakeClock, FakeNanoGPT, catalog_payload, model_payload

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import MakeSession

KEY = "sk-nano-secret-7f3a9c2e41d84b6a"
FRAGMENT = KEY[len("sk-nano-") :]  # a key cut short in a message still counts as a leak


def leaks(text: object) -> bool:
    """Whether ``text`` holds the key or a recognisable part of it."""
    return FRAGMENT in str(text)


def error_texts(error: BaseException | None) -> list[str]:
    """str, repr and the formatted traceback of an error and its whole cause chain."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error), *traceback.format_exception(error)]
        texts += [repr(value) for value in vars(error).values()]
        error = error.__cause__ or error.__context__
    return texts


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    """Every rendered message, argument and traceback of the captured log records."""
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            texts += error_texts(record.exc_info[1])
    return texts


@pytest.mark.parametrize("auth_header", ["authorization", "x-api-key"])
async def test_fault_matrix_never_leaks_the_key(caplog, auth_header):
    """Every fault, cold and warm: no log, error, repr, stats or foreign request has the key."""
    caplog.set_level(logging.DEBUG)
    sent_key = False
    for cold, warm in await faults.run_matrix(api_key=KEY, auth_header=auth_header):
        for outcome in (cold, warm):
            name = f"{outcome.fault.name} ({'warm' if outcome.warm else 'cold'})"
            assert not any(leaks(text) for text in error_texts(outcome.error)), name
            assert not leaks(outcome.detail), name
            assert not leaks(outcome.session_repr), name
            assert not leaks(repr(outcome.stats)), name
            assert outcome.other_requests == [], name  # nothing, so no key, went elsewhere
            sent_key |= any(auth_header in r.headers for r in outcome.server_requests)
    assert sent_key  # the key really was in play
    assert caplog.records
    assert not any(leaks(text) for text in record_texts(caplog.records))


async def test_a_server_that_echoes_the_key_has_it_redacted(caplog):
    """An error body quoting the key back is redacted in the error and the logs."""
    caplog.set_level(logging.DEBUG)
    body = {"error": {"message": f"Invalid API key {KEY}", "code": f"bad_key:{KEY}"}}
    async with FakeNanoGPT() as server:
        server.fail_next(1, 401, body=body)
        async with ImageModelsSession(KEY, base_url=server.url, refresh_interval=None) as session:
            with pytest.raises(AuthenticationError) as caught:
                await session.catalog()
            stats = session.stats()
    assert not any(leaks(text) for text in error_texts(caught.value))
    assert not leaks(repr(stats))
    assert not any(leaks(text) for text in record_texts(caplog.records))


@pytest.mark.parametrize("offset", [0, 170, 190, 199])
async def test_a_page_that_quotes_the_key_is_not_quoted_back(offset: int) -> None:
    """Not even a piece of the key, where an excerpt of the page would cut it short."""
    page = f"<html><body>{'x' * offset} your key {KEY} is fine</body></html>"
    async with FakeNanoGPT() as server:
        server.respond_next(200, page.encode(), headers={"Content-Type": "text/html"})
        async with ImageModelsSession(
            KEY, base_url=server.url, max_retries=0, refresh_interval=None
        ) as session:
            with pytest.raises(DecodeError) as caught:
                await session.catalog()
    assert "HTML" in str(caught.value)
    assert not any(leaks(text) for text in error_texts(caught.value))
    assert not any(KEY[: len("sk-nano-") + 4] in text for text in error_texts(caught.value))


class ThreadedServers:
    """A FakeNanoGPT and a second origin on a loop in another thread, for the sync CLI."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server, self.other = self.call(self._start())

    def call(self, coroutine):  # type: ignore[no-untyped-def]
        """Run a coroutine on the servers' loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> tuple[FakeNanoGPT, FakeNanoGPT]:
        server, other = FakeNanoGPT(), FakeNanoGPT()
        await server.start()
        await other.start()
        return server, other

    async def _inject(self, fault) -> None:  # type: ignore[no-untyped-def]
        env = faults.Env(self.server, self.other, faults.InstantClock(), warm=False)
        result = fault.inject(env)
        if asyncio.iscoroutine(result):
            await result

    def inject(self, fault) -> None:  # type: ignore[no-untyped-def]
        """Queue the row's fault on the server, from its own loop."""
        self.call(self._inject(fault))

    def close(self) -> None:
        """Stop both servers, the loop and the thread."""
        self.call(self.server.close())
        self.call(self.other.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def threaded_servers() -> Iterator[ThreadedServers]:
    """Fresh servers per use; faults that are not consumed must not leak into the next run."""
    started: list[ThreadedServers] = []

    def start() -> ThreadedServers:
        servers = ThreadedServers()
        started.append(servers)
        return servers

    yield start  # type: ignore[misc]
    for servers in started:
        servers.close()


CLI_ROWS = [f for f in faults.MATRIX if f.cold_requests == 1 or f.name.startswith("redirect")]


def test_cli_never_prints_or_logs_the_key(threaded_servers, capsys, caplog, monkeypatch):
    """The CLI against each fault that answers without retry waits: the key is in no output."""
    from nanogpt_images._cli import main

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NANOGPT_API_KEY", KEY)
    commands = [["models"], ["show", faults.MODEL_ID], ["models", "--json"]]
    exit_codes = set()
    for fault in CLI_ROWS:
        for command in commands:
            servers = threaded_servers()
            servers.inject(fault)
            exit_codes.add(main(["--base-url", servers.server.url, "--timeout", "2", *command]))
            out, err = capsys.readouterr()
            assert not leaks(out), (fault.name, command)
            assert not leaks(err), (fault.name, command)
            assert servers.other.requests == [], fault.name
            assert any("authorization" in r.headers for r in servers.server.requests)
    assert exit_codes == {0, 1}  # both the failures and the recoveries were exercised
    assert not any(leaks(text) for text in record_texts(caplog.records))


class EchoServer:
    """A server on 127.0.0.1 that quotes the key it was sent in every header and body field.

    ``answers`` is a queue of kinds: ``"ok"`` (a catalog, key in ETag and Last-Modified),
    ``"error"`` (``status`` with the key in the reason, X-Request-ID, ETag, Last-Modified and
    every envelope field, JSON-escaped too), ``"away"`` (a redirect to a host named after
    the key).
    """

    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> EchoServer:
        app = web.Application()
        app.router.add_get("/api/v1/image-models", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        kind, status = self.answers.pop(0)
        quoting = {"ETag": f'"{key}"', "Last-Modified": f"Mon, {key}"}
        if kind == "ok":
            return web.json_response(catalog_payload([model_payload("m")]), headers=quoting)
        if kind == "away":
            return web.Response(status=status, headers={"Location": f"http://{key}.invalid/"})
        escaped = "".join(f"\\u{ord(c):04x}" for c in key)
        body = (
            f'{{"error": {{"message": "bad key {key}", "code": "{escaped}", "type": "{key}"}},'
            f' "message": "{key}", "code": "{key}"}}'
        )
        headers = {**quoting, "X-Request-ID": f"req-{key}", "Retry-After": "1"}
        return web.Response(status=status, reason=f"Nope {key}", text=body, headers=headers)


def pickled_texts(error: BaseException | None) -> list[str]:
    """What a pickle of the error (a process pool, a logging queue) would carry."""
    return [] if error is None else [repr(pickle.dumps(error))]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([("error", 503), ("error", 401)], AuthenticationError),
        ([("error", 503), ("error", 503)], ServerError),
        ([("error", 999)], APIStatusError),
        ([("away", 302)], APIStatusError),
    ],
    ids=["401-after-503", "503", "odd-status", "cross-origin-redirect"],
)
async def test_a_server_echoing_the_key_everywhere_never_gets_it_quoted(
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    answers: list[tuple[str, int]],
    expected: type[APIStatusError],
) -> None:
    """Key in every header and body field: not in errors, pickles, stats, logs or the cache file."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(auto_advance=True)
    cache = tmp_path / "cache.json"
    async with EchoServer() as server:
        server.answers = [("ok", 200), *answers]
        async with ImageModelsSession(
            KEY,
            base_url=server.url,
            refresh_interval=None,
            max_retries=1,
            cache_path=cache,
            clock=clock,
        ) as session:
            await session.catalog()
            with pytest.raises(expected) as caught:
                await session.refresh()
            stats = session.stats()
    await clock.aclose()
    assert server.answers == []  # every answer was asked for
    assert stats.last_error is not None
    texts = [*error_texts(caught.value), *pickled_texts(caught.value), repr(stats)]
    texts += [*record_texts(caplog.records), cache.read_text()]
    assert not [text for text in texts if leaks(text)]
    assert "***" in str(caught.value)  # the quote was there, and masked


async def test_the_key_is_blanked_out_of_errors_quoting_a_bad_body(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """An HTML page that echoes the key gives a DecodeError and last_error without it."""
    session = make_session(api_key=KEY)
    server.respond_next(200, f"<html>Authorization: Bearer {KEY}</html>".encode())
    with pytest.raises(DecodeError) as caught:
        await session.catalog()
    assert "Bearer ***" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.errors)
    assert KEY not in str(session.stats())
