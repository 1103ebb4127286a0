"""Adversarial tests of the session's catalog reader (read_catalog, reuse, untracking, pacing).

Every test drives a real ImageModelsSession against a raw HTTP/1.1 server written
here (asyncio streams on 127.0.0.1), not FakeNanoGPT.  Each test fails on the
code it was written against; see the docstrings for the defect.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
import weakref
from typing import TYPE_CHECKING, Any

import pytest

from nanogpt_images import ImageModelsSession, _converter, _source, dump_catalog, parse_catalog
from nanogpt_images._source import OFF_LOOP_BYTES
from nanogpt_images.testing import sample_catalog

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class RawServer:
    """HTTP/1.1 on 127.0.0.1 answering every request with ``self.body`` (keep-alive)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                body = self.body
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def session(self) -> ImageModelsSession:
        return ImageModelsSession(
            base_url=f"http://127.0.0.1:{self.port}", refresh_interval=None, max_retries=0
        )


BODY = json.dumps(sample_catalog()).encode()
assert len(BODY) >= OFF_LOOP_BYTES  # the sample body is read in the paced worker thread


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    async with RawServer(BODY) as server:
        yield server


class Gate:
    """Stands in for ``_converter.pace``: the first call off the loop waits for ``release``.

    ``install`` also wraps the session's ``read_catalog``, so that ``finished`` tells
    when the read in the worker thread is over.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.thread: threading.Thread | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Gate:
        monkeypatch.setattr(_converter, "pace", self)
        read = _source.read_catalog

        def read_catalog(*args: Any) -> Any:
            try:
                return read(*args)
            finally:
                self.finished.set()

        monkeypatch.setattr(_source, "read_catalog", read_catalog)
        return self

    async def wait_finished(self) -> None:
        self.release.set()
        if self.thread is not None:
            assert await asyncio.to_thread(self.finished.wait, 30)

    def __call__(self) -> None:
        if self.thread is None and threading.current_thread() is not threading.main_thread():
            self.thread = threading.current_thread()
            self.started.set()
            self.release.wait(30)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 30)


def price_map_model(catalog: Any) -> Any:
    return next(
        model
        for model in catalog.models
        if model.pricing is not None
        and isinstance(model.pricing.per_image, dict)
        and model.pricing.per_image
    )


# -- 1. close() returns while the catalog read still runs in its worker thread ----------


async def test_close_waits_for_the_catalog_read_running_in_its_worker_thread(
    raw: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() promises "Nothing the session started outlives this call", but a body of
    64 KiB or more (the real catalog now) is read in an off_loop thread that close()
    only cancels the awaiting task of: the thread goes on reading (GC paused for the
    whole process, then catalog.prepare()) and writes the source's ``_known`` after
    the session is closed.  The same holds for _retire's diff/free threads.
    """
    gate = Gate().install(monkeypatch)
    session = raw.session()
    refreshing = asyncio.ensure_future(session.refresh())
    try:
        await gate.wait_started()
        closing = asyncio.ensure_future(session.close())
        for _ in range(200):  # loop turns, not time: close() needs a handful at most
            if closing.done():
                break
            await asyncio.sleep(0)
        read_still_running = not gate.finished.is_set()
        assert not (closing.done() and read_still_running), (
            "close() returned while the session's catalog read still runs in a worker thread"
        )
    finally:
        gate.release.set()
        await asyncio.gather(refreshing, return_exceptions=True)
        await session.close()
        await gate.wait_finished()


# -- 2. a read in a worker thread undoes the application's gc.disable() ------------------


async def test_a_threaded_read_does_not_undo_the_applications_gc_disable(
    raw: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_collector_paused disables the collector process-wide for the whole paced read
    and re-enables it at the end if it was on at the start.  Now that the real
    catalog is read in a worker thread, loop-thread code runs inside that window: an
    application calling gc.disable() then (a latency-critical section, gc.freeze()
    start-up recipes) finds the collector switched back on behind its back.
    """
    gate = Gate().install(monkeypatch)
    assert gc.isenabled()
    try:
        async with raw.session() as session:
            refreshing = asyncio.ensure_future(session.refresh())
            try:
                await gate.wait_started()
                gc.disable()  # the application's own choice, on the loop's thread
            finally:
                gate.release.set()
            await refreshing
            assert not gc.isenabled(), "the session's read re-enabled a collector the app disabled"
    finally:
        gc.enable()
        await gate.wait_finished()


# -- 3. the digest map keeps models alive that no catalog holds any more ----------------


async def test_a_closed_session_keeps_no_model_alive(raw: RawServer) -> None:
    """CatalogSource._known (digest -> model) is never cleared: after close() (which
    drops the cached catalog) every model of the last read stays alive as long as
    the session object does, untracked, so gc.get_objects() does not even show them.
    """
    session = raw.session()
    catalog = await session.refresh()
    model = weakref.ref(catalog.models[0])
    await session.close()
    del catalog
    gc.collect()
    assert model() is None, "a closed session still holds the models of its last catalog"


async def test_a_fallback_parse_does_not_keep_the_previous_reads_models(raw: RawServer) -> None:
    """When read_catalog cannot read a body (one entry with a byte that is not UTF-8,
    which parse_catalog rejects alone; or 'data' written twice) the session falls
    back to parse_catalog and leaves ``_known`` as it was: the previous catalog's
    models stay alive, on top of the installed catalog, for as long as the server
    keeps sending such bodies.
    """
    async with raw.session() as session:
        first = await session.refresh()
        old_model = weakref.ref(first.models[0])
        changed = sample_catalog()["data"]
        for entry in changed:
            entry["name"] = "renamed"
        raw.body = b'{"data":' + json.dumps(changed).encode()[:-1] + b',{"id":"x","name":"\xff"}]}'
        second = await session.refresh()
        assert second == parse_catalog(raw.body)
        assert all(
            model is not old for model, old in zip(second.models, first.models, strict=False)
        )
        del first
        gc.collect()
        assert old_model() is None, "a replaced catalog's models outlive it (held by _known)"


# -- 4. reuse by text keeps a changed model; ReadOnlyDict is not read-only ---------------


async def test_a_price_map_cannot_be_changed_through_dict_init(raw: RawServer) -> None:
    """ReadOnlyDict refuses __setitem__, update, |= ... but not __init__ (nor the
    unbound dict.update / dict.__setitem__): ``table.__init__(...)`` rewrites a price
    map every reader of the session shares (a MappingProxyType had no such door).
    Because a refresh now reuses the model of an unchanged entry, the changed price
    is never healed: the next refresh of the very same body still serves it.
    """
    async with raw.session() as session:
        catalog = await session.refresh()
        table = price_map_model(catalog).pricing.per_image
        key = next(iter(table))
        original = table[key]
        with contextlib.suppress(TypeError):  # refusing is the fix
            table.__init__({key: 0.0})
        again = await session.refresh()
        problems = []
        if table[key] != original:
            problems.append(f"table.__init__ rewrote a read-only price map: {original} -> 0.0")
        if again != parse_catalog(raw.body):
            problems.append("a refresh of the same body still serves the rewritten price")
        assert not problems, problems


async def test_a_refresh_gives_what_parse_catalog_gives_after_extras_were_written(
    raw: RawServer,
) -> None:
    """``extras`` are plain dicts, changed with ordinary ``model.extras[k] = v``.
    Before reuse, each refresh built new models from the body; now an entry whose
    text is unchanged gets the very object the application wrote to, so
    ``await session.refresh()`` differs from ``parse_catalog(body)`` for ever.
    """
    async with raw.session() as session:
        catalog = await session.refresh()
        model = catalog.models[0]
        with contextlib.suppress(TypeError):  # read-only extras would be a fix too
            model.extras["note"] = "written by the application"
        again = await session.refresh()
        assert dump_catalog(again) == dump_catalog(parse_catalog(raw.body))


async def test_no_cycle_can_be_made_through_a_parsed_models_extras(raw: RawServer) -> None:
    """_untracker's premise holds only if a read model cannot join a reference cycle: the
    extras of parsed models (either reader) refuse the write that would make one.
    """
    parsed = parse_catalog(BODY).models[0]
    with pytest.raises(TypeError, match="read-only"):
        parsed.extras["me"] = [parsed]
    async with raw.session() as session:
        model = (await session.refresh()).models[0]
        with pytest.raises(TypeError, match="read-only"):
            model.extras["me"] = [model]
