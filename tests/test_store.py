"""Persistence: FileStore's format and atomic writes, and restarts from cache_path."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import TYPE_CHECKING

import pytest
from conftest import MODEL_IDS, MakeSession, Settle

from nanogpt_images import (
    FileStore,
    ImageModelsSession,
    SessionClosedError,
    Store,
    StoredResponse,
)
from nanogpt_images.testing import FakeClock, FakeNanoGPT

if TYPE_CHECKING:
    from pathlib import Path

TTL = 300.0
WALL = 1_790_000_000.0


def stored(body: bytes = b'{"object": "list", "data": []}') -> StoredResponse:
    return StoredResponse(
        body=body, detailed=True, fetched_at=WALL, etag='"abc"', last_modified="Mon, 01 Jan"
    )


# -- FileStore on its own -------------------------------------------------------------


async def test_file_store_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """What save() wrote, load() returns; the directory holds only the cache file."""
    store = FileStore(tmp_path / "nested" / "cache.json")
    assert isinstance(store, Store)
    await store.save(stored(b"first"))
    await store.save(stored(b"second \xff bytes"))
    assert await store.load() == stored(b"second \xff bytes")
    assert [p.name for p in (tmp_path / "nested").iterdir()] == ["cache.json"]
    assert "second" not in repr(await store.load())  # a repr never dumps the body


async def test_missing_file_is_silently_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No cache file yet is the normal first run: no copy, no warning."""
    assert await FileStore(tmp_path / "absent.json").load() is None
    assert caplog.records == []


def _document(**changes: object) -> bytes:
    document: dict[str, object] = {
        "format": "nanogpt-images/cache/1",
        "detailed": True,
        "fetched_at": WALL,
        "etag": None,
        "last_modified": None,
        "body": base64.b64encode(b"{}").decode(),
    }
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01 not json at all",
        b'{"format": "nanogpt-images/cache/1", "body": ',
        b"[1, 2, 3]",
        json.dumps({"object": "list", "data": []}).encode(),  # a raw catalog, not our format
        _document(format="someone-else/2"),
        _document(fetched_at="yesterday"),
        _document(fetched_at=True),
        _document(fetched_at=float("nan")),
        _document(fetched_at=float("inf")),
        _document(detailed="false"),
        _document(detailed=0),
        _document(body="***not base64***"),
        _document(body=12),
        _document(etag=5),
        b'{"format": "nanogpt-images/cache/1"}',
    ],
    ids=[
        "binary",
        "truncated",
        "array",
        "raw-catalog",
        "other-format",
        "fetched-at-text",
        "fetched-at-bool",
        "fetched-at-nan",
        "fetched-at-inf",
        "detailed-text",
        "detailed-number",
        "bad-base64",
        "body-not-text",
        "etag-not-text",
        "missing-keys",
    ],
)
async def test_corrupt_or_foreign_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    """A file that is not a valid cache document loads as nothing and logs a warning."""
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert await FileStore(path).load() is None
    assert "ignoring the catalog cache file" in caplog.text


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fetched_at": float("nan")}, "fetched_at is nan, not a finite time"),
        ({"fetched_at": float("-inf")}, "fetched_at is -inf, not a finite time"),
        ({"detailed": "false"}, "detailed is 'false', not true or false"),
    ],
)
async def test_an_unusable_field_is_named_in_the_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, changes: dict[str, object], reason: str
) -> None:
    """A file with a NaN time or a quoted "false" is ignored, and the warning says which field."""
    path = tmp_path / "cache.json"
    path.write_bytes(_document(**changes))
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert await FileStore(path).load() is None
    assert reason in caplog.text


@pytest.mark.parametrize("path", ["", "  "])
def test_an_empty_path_is_refused(path: str) -> None:
    """FileStore("") is a ValueError, not a cache file in the current directory."""
    with pytest.raises(ValueError, match="the cache file path is empty; give a file path"):
        FileStore(path)


# -- restarting a session from its cache file ---------------------------------------


async def _fill_cache(server: FakeNanoGPT, path: Path) -> None:
    async with ImageModelsSession(
        base_url=server.url, clock=FakeClock(), cache_path=path, max_retries=0
    ) as session:
        await session.catalog()
    assert await FileStore(path).load() is not None


async def test_restart_with_the_server_down_answers_from_disk_at_once(
    server: FakeNanoGPT, tmp_path: Path, settle: Settle
) -> None:
    """A restarted process serves the saved catalog (source "disk") while NanoGPT is down."""
    path = tmp_path / "cache.json"
    await _fill_cache(server, path)
    down = server.url
    await server.close()
    clock = FakeClock(wall_start=WALL + 100)  # the process restarts 100 s later
    async with ImageModelsSession(
        base_url=down, clock=clock, cache_path=path, max_retries=0, ttl=TTL
    ) as session:
        assert (await session.catalog()).ids == MODEL_IDS
        assert (await session.get_model("model-3")).id == "model-3"
        stats = session.stats()
        assert (stats.source, stats.age, stats.misses) == ("disk", 100.0, 0)
        await settle(session)  # the background refresh fails: the server is down
        assert session.stats().errors == 1
        await clock.advance(TTL + 1000)
        assert (await session.catalog()).ids == MODEL_IDS  # stale, within max_stale
        assert session.stats().source == "stale"


async def test_restart_revalidates_with_the_saved_validators(
    server: FakeNanoGPT, tmp_path: Path, settle: Settle
) -> None:
    """After a restart the background refresh sends the saved ETag and gets a cheap 304."""
    path = tmp_path / "cache.json"
    await _fill_cache(server, path)
    server.clear_requests()
    async with ImageModelsSession(
        base_url=server.url, clock=FakeClock(), cache_path=path, max_retries=0
    ) as session:
        await settle(session)
        assert server.request_count == 1
        assert server.requests[0].headers.get("if-none-match") is not None
        assert session.stats().source == "not_modified"


async def test_disk_copy_older_than_the_ttl_is_served_stale_and_refreshed(
    server: FakeNanoGPT, tmp_path: Path, settle: Settle
) -> None:
    """A saved copy past its TTL still answers at once; the refresh brings in the new data."""
    path = tmp_path / "cache.json"
    await _fill_cache(server, path)
    server.add_model({"id": "late-arrival"})
    session = ImageModelsSession(
        base_url=server.url,
        clock=FakeClock(wall_start=WALL + 2 * TTL),
        cache_path=path,
        refresh_interval=None,
        max_retries=0,
        ttl=TTL,
    )
    async with session:
        assert "late-arrival" not in await session.catalog()
        assert session.stats().source == "stale"
        await settle(session)
        assert "late-arrival" in await session.catalog()
        assert session.stats().source == "network"


async def test_corrupt_cache_file_falls_back_to_the_network_and_is_rewritten(
    make_session: MakeSession,
    server: FakeNanoGPT,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    settle: Settle,
) -> None:
    """A damaged cache file is skipped with a warning, then replaced by a good one."""
    path = tmp_path / "cache.json"
    path.write_text("{ this is not json")
    session = make_session(cache_path=path)
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert (await session.catalog()).ids == MODEL_IDS
    assert "ignoring the catalog cache file" in caplog.text
    assert server.request_count == 1
    await settle(session)  # the save runs in the background
    assert (await FileStore(path).load()) is not None


async def test_copy_fetched_from_another_server_is_ignored(
    server: FakeNanoGPT, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file written against one base_url (staging, a test server) is not served for another."""
    path = tmp_path / "cache.json"
    async with (
        FakeNanoGPT() as staging,
        ImageModelsSession(
            base_url=staging.url, clock=FakeClock(), cache_path=path, refresh_interval=None
        ) as first,
    ):
        await first.catalog()
    saved = await FileStore(path).load()
    assert saved is not None
    assert saved.url == f"{staging.url}/api/v1/image-models"
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        async with ImageModelsSession(
            base_url=server.url, clock=FakeClock(), cache_path=path, refresh_interval=None
        ) as second:
            assert (await second.catalog()).ids == MODEL_IDS
            assert second.stats().source == "network"
    assert f"it was fetched from {staging.url}/api/v1/image-models" in caplog.text
    assert "if-none-match" not in server.requests[0].headers  # its ETag was not sent either


async def test_copy_saved_with_other_detail_level_is_ignored(
    server: FakeNanoGPT, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file written by a detailed=False session is not served to a detailed=True one."""
    path = tmp_path / "cache.json"
    async with ImageModelsSession(
        base_url=server.url, clock=FakeClock(), cache_path=path, detailed=False
    ) as basic:
        await basic.catalog()
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        async with ImageModelsSession(
            base_url=server.url, clock=FakeClock(), cache_path=path, refresh_interval=None
        ) as detailed:
            assert (await detailed.catalog()).ids == MODEL_IDS
            assert detailed.stats().source == "network"
    assert "detailed=False" in caplog.text


async def test_unwritable_cache_path_only_warns(
    make_session: MakeSession, tmp_path: Path, caplog: pytest.LogCaptureFixture, settle: Settle
) -> None:
    """A cache_path that cannot be read or written costs a warning, never a failed read."""
    session = make_session(cache_path=tmp_path)  # a directory, not a file
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert (await session.catalog()).ids == MODEL_IDS
        await settle(session)
    assert "could not save" in caplog.text


class MemoryStore:
    """A Store kept in memory, optionally failing every save."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.saved: StoredResponse | None = None
        self.fail_with = fail_with

    async def load(self) -> StoredResponse | None:
        if self.fail_with is not None:
            raise self.fail_with
        return self.saved

    async def save(self, response: StoredResponse) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.saved = response


async def test_a_custom_store_is_used_for_saving_and_loading(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """Any object with async load/save can hold the copy between sessions."""
    store = MemoryStore()
    assert isinstance(store, Store)
    first = make_session(store=store)
    await first.catalog()
    await first.close()
    assert store.saved is not None
    second = make_session(store=store)
    await second.catalog()
    assert second.stats().source == "disk"
    assert server.request_count == 1


async def test_a_failing_custom_store_does_not_fail_reads(
    make_session: MakeSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that raises on load and save is logged; the reader still gets the catalog."""
    session = make_session(store=MemoryStore(fail_with=RuntimeError("redis is down")))
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert (await session.catalog()).ids == MODEL_IDS
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert all("redis is down" in message for message in messages)


def test_cache_path_and_store_are_exclusive(tmp_path: Path) -> None:
    """Passing both a cache_path and a store is a ValueError, not a silent choice."""
    with pytest.raises(ValueError, match="cache_path or store"):
        ImageModelsSession(cache_path=tmp_path / "x", store=MemoryStore())


class GatedStore(MemoryStore):
    """A store that answers load() only when the test opens the gate (a slow Redis, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.loading = asyncio.Event()

    async def load(self) -> StoredResponse | None:
        self.loading.set()
        await self.gate.wait()
        return await super().load()


async def _stored_copy(make_session: MakeSession) -> GatedStore:
    store = GatedStore()
    store.gate.set()
    first = make_session(store=store)
    await first.catalog()
    await first.close()
    store.gate.clear()
    store.loading.clear()
    return store


async def test_concurrent_first_reads_all_wait_for_the_stored_copy(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """Readers racing the implicit start do not skip the store and hit an outage."""
    store = await _stored_copy(make_session)
    server.fail_next(5, 503)
    session = make_session(store=store)
    readers = [asyncio.ensure_future(session.catalog()) for _ in range(3)]
    await store.loading.wait()
    store.gate.set()
    catalogs = await asyncio.gather(*readers)
    assert [catalog.ids for catalog in catalogs] == [MODEL_IDS] * 3
    assert session.stats().source == "disk"
    assert server.request_count == 1  # only the first session's fetch


async def test_a_cancelled_first_reader_does_not_cut_the_start_short(
    make_session: MakeSession, server: FakeNanoGPT, settle: Settle
) -> None:
    """A read cancelled mid-start leaves the session whole: the next start loads and refreshes."""
    store = await _stored_copy(make_session)
    session = make_session(store=store, refresh_interval=60.0)
    reader = asyncio.ensure_future(session.catalog())
    await store.loading.wait()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    store.gate.set()
    await session.start()
    assert session.stats().source == "disk"
    assert session._refresher is not None
    assert session._refresher.running


async def test_close_during_a_slow_store_load_stops_waiting(make_session: MakeSession) -> None:
    """close() does not wait on the store; readers waiting for the start learn it closed."""
    store = GatedStore()
    session = make_session(store=store)
    reader = asyncio.ensure_future(session.catalog())
    await store.loading.wait()
    await session.close()
    with pytest.raises(SessionClosedError):
        await reader
    assert session._opening is not None
    assert session._opening.done()


async def test_a_start_nobody_waits_for_any_more_is_stopped(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """``async with session`` cut off by a timeout leaves no refresher running unowned."""
    store = await _stored_copy(make_session)
    session = make_session(store=store, refresh_interval=60.0)
    starting = asyncio.ensure_future(session.start())
    await store.loading.wait()
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert session._opening is not None
    with contextlib.suppress(asyncio.CancelledError):
        await session._opening
    assert session._refresher is not None
    assert not session._refresher.running
    requests = server.request_count
    store.gate.set()
    assert (await session.catalog()).ids == MODEL_IDS  # the next read starts afresh
    assert session.stats().source == "disk"
    assert session._refresher.running
    assert server.request_count == requests


async def test_a_store_that_loads_something_else_is_a_cold_start(
    make_session: MakeSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A custom store answering with the wrong type is logged and ignored, not a broken start."""

    class OddStore(MemoryStore):
        async def load(self) -> StoredResponse | None:
            return {"body": b"{}"}  # type: ignore[return-value]

    session = make_session(store=OddStore())
    with caplog.at_level(logging.WARNING, logger="nanogpt_images"):
        assert (await session.catalog()).ids == MODEL_IDS
    assert "a dict, not a StoredResponse" in caplog.text
    assert session.stats().source == "network"
