"""ImageModelsSession: construction, lifecycle, single-flight reads, close and event loops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import MODEL_IDS, MakeSession, Settle

from nanogpt_images import (
    DecodeError,
    ImageModelsSession,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    StoredResponse,
    TransportError,
)
from nanogpt_images import _session as session_module
from nanogpt_images import _store as store_module
from nanogpt_images.testing import FakeNanoGPT, model_payload, sample_catalog_bytes

if TYPE_CHECKING:
    from nanogpt_images import CatalogChange
    from nanogpt_images.testing import FakeClock

TTL = 300.0


# -- construction ---------------------------------------------------------------


def test_constructor_needs_no_loop_and_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session can be built at import time, outside any event loop, without touching the net."""
    monkeypatch.delenv("NANOGPT_API_KEY", raising=False)
    monkeypatch.delenv("NANOGPT_BASE_URL", raising=False)
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    session = ImageModelsSession(base_url="https://nano-gpt.invalid", cache_path="/nonexistent/x")
    assert "nano-gpt.invalid" in repr(session)
    assert not Path("/nonexistent/x").exists()
    assert session.stats().fetches == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ttl", 0),
        ("ttl", -1.0),
        ("ttl", math.nan),
        ("refresh_interval", 0),
        ("refresh_interval", -5.0),
        ("max_stale", -1.0),
        ("max_stale", math.nan),
    ],
)
def test_constructor_rejects_bad_durations(option: str, value: float) -> None:
    """A zero, negative or NaN duration is a ValueError naming the option, at construction."""
    with pytest.raises(ValueError, match=option):
        ImageModelsSession(**{option: value})  # type: ignore[arg-type]


def test_constructor_refuses_a_key_over_plain_http() -> None:
    """A key with an http:// non-loopback URL is refused at once unless explicitly allowed."""
    with pytest.raises(ValueError, match="http"):
        ImageModelsSession("sk-secret", base_url="http://nano-gpt.example")
    allowed = ImageModelsSession(
        "sk-secret", base_url="http://nano-gpt.example", allow_insecure_http=True
    )
    loopback = ImageModelsSession("sk-secret", base_url="http://127.0.0.1:9")
    assert "sk-secret" not in repr(allowed) + repr(loopback)


async def test_zero_max_stale_is_allowed(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """max_stale=0 is valid and never serves past the TTL: a failing fetch raises instead."""
    session = make_session(ttl=TTL, max_stale=0)
    await session.catalog()
    server.fail_next(1, 503)
    await clock.advance(TTL + 0.001)
    with pytest.raises(ServerError) as info:
        await session.catalog()
    assert info.value.status == 503
    assert server.request_count == 2


# -- reading ----------------------------------------------------------------------


async def test_first_read_starts_the_session_implicitly(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A read before start() starts the session and returns the catalog in one request."""
    session = make_session()
    catalog = await session.catalog()
    assert catalog.ids == MODEL_IDS
    assert (await session.get_model("model-2")).id == "model-2"
    assert server.request_count == 1


async def test_fresh_read_makes_no_request(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """Within the TTL every read is served from memory, the same object, with no request."""
    session = make_session(ttl=TTL)
    first = await session.catalog()
    await clock.advance(TTL - 0.001)
    for _ in range(100):
        assert await session.catalog() is first
        assert (await session.get_model("model-0")) is first["model-0"]
    assert server.request_count == 1
    stats = session.stats()
    assert (stats.fetches, stats.misses, stats.source) == (1, 1, "network")
    assert stats.hits >= 200


async def test_unknown_model_raises_with_suggestions(make_session: MakeSession) -> None:
    """get_model() with a typo raises ModelNotFoundError (a LookupError) with close ids."""
    session = make_session()
    with pytest.raises(ModelNotFoundError) as info:
        await session.get_model("model-22")
    assert isinstance(info.value, LookupError)
    assert "model-2" in info.value.suggestions


async def test_find_filters_the_cached_catalog(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """find() answers from the cached catalog and rejects an unknown filter name."""
    session = make_session()
    found = await session.find(text="model-3")
    assert [model.id for model in found] == ["model-3"]
    with pytest.raises(TypeError):
        await session.find(colour="red")
    assert server.request_count == 1


async def test_ten_thousand_cold_readers_share_one_request(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A herd of 10,000 concurrent readers of a cold session causes exactly one request."""
    session = make_session(refresh_interval=240.0)
    results = await asyncio.gather(*(session.catalog() for _ in range(10_000)))
    assert len({id(catalog) for catalog in results}) == 1
    assert server.request_count == 1
    assert session.stats().fetches == 1


async def test_cancelled_readers_do_not_cancel_the_shared_fetch(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """Cancelling half the waiters leaves the other half served by the one fetch."""
    session = make_session()
    server.hold()
    readers = [asyncio.create_task(session.catalog()) for _ in range(200)]
    await server.wait_for_requests(1)  # the shared fetch is at the server, held there
    for reader in readers[::2]:
        reader.cancel()
    server.release()
    served = await asyncio.gather(*readers[1::2])
    assert all(catalog.ids == MODEL_IDS for catalog in served)
    assert all(reader.cancelled() for reader in readers[::2])
    assert server.request_count == 1
    assert session.stats().fetches == 1


async def test_fetch_survives_when_every_waiter_is_cancelled(
    make_session: MakeSession, server: FakeNanoGPT, settle: Settle
) -> None:
    """Even with all its waiters cancelled the fetch lands, so the next read is a hit."""
    session = make_session()
    reader = asyncio.create_task(session.catalog())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await settle(session)
    assert (await session.catalog()).ids == MODEL_IDS
    assert server.request_count == 1


async def test_refresh_joins_the_fetch_in_flight(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """Concurrent refresh() calls share one request and return the same catalog."""
    session = make_session()
    await session.catalog()
    server.remove_model("model-5")
    first, second = await asyncio.gather(session.refresh(), session.refresh())
    assert first is second
    assert "model-5" not in first
    assert server.request_count == 2


async def test_failed_first_fetch_is_not_cached(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """With nothing cached the caller gets the typed error; a read after the backoff tries again."""
    session = make_session()
    server.fail_next(1, 503)
    with pytest.raises(ServerError) as info:
        await session.catalog()
    assert info.value.status == 503
    await clock.advance(1.0)
    assert (await session.catalog()).ids == MODEL_IDS
    assert server.request_count == 2


async def test_cold_reads_during_backoff_fail_fast_without_requests(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """With nothing cached, reads within the backoff after a failure get it again at once."""
    session = make_session()
    server.fail_next(1, 503)
    with pytest.raises(ServerError) as first:
        await session.catalog()
    replays = []
    for _ in range(5):
        with pytest.raises(ServerError, match="503") as again:
            await session.get_model("model-0")
        replays.append(again.value)
    # Each caller its own copy: a shared object would share and rewrite its traceback.
    assert len({id(error) for error in [first.value, *replays]}) == 6
    assert {str(error) for error in replays} == {str(first.value)}
    assert server.request_count == 1
    assert session.stats().misses == 6
    await clock.advance(1.0)
    assert (await session.get_model("model-0")).id == "model-0"
    assert server.request_count == 2


async def test_refresh_interval_none_serves_stale_and_refreshes_in_background(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """Without a background task, a read after the TTL gets the stale copy and starts a refresh."""
    session = make_session(ttl=TTL, refresh_interval=None)
    old = await session.catalog()
    server.update_model("model-0", name="Renamed")
    await clock.advance(TTL)
    assert await session.catalog() is old
    assert session.stats().source == "stale"
    await settle(session)
    assert server.request_count == 2
    assert (await session.get_model("model-0")).name == "Renamed"
    assert session.stats().source == "network"


# -- lifecycle ---------------------------------------------------------------------


async def test_async_with_starts_and_closes(server: FakeNanoGPT, clock: FakeClock) -> None:
    """`async with` opens the session and leaves it closed: reads then raise SessionClosedError."""
    async with ImageModelsSession(base_url=server.url, clock=clock, max_retries=0) as session:
        assert (await session.catalog()).ids == MODEL_IDS
    with pytest.raises(SessionClosedError):
        await session.catalog()


async def test_close_is_idempotent_and_later_use_raises(
    make_session: MakeSession, clock: FakeClock
) -> None:
    """close() twice is fine; every later read, refresh or start raises SessionClosedError."""
    session = make_session()
    await session.catalog()
    await session.close()
    await session.close()
    calls = [
        session.catalog,
        lambda: session.get_model("model-0"),
        session.find,
        session.refresh,
        session.start,
    ]
    for call in calls:
        with pytest.raises(SessionClosedError):
            await call()
    with pytest.raises(SessionClosedError):
        async with session:
            pass
    assert session.stats().fetches == 1  # stats stay readable


async def test_close_before_start_is_fine(make_session: MakeSession) -> None:
    """Closing a session that never started does nothing and leaves it closed."""
    session = make_session()
    await session.close()
    with pytest.raises(SessionClosedError):
        await session.catalog()


def _tasks_left() -> set[asyncio.Task[object]]:
    """Tasks other than this test's own and the fake server's request handlers."""
    return {
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and "web_protocol" not in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    }


def _open_sockets() -> int | None:
    """How many sockets this process holds (Linux), or None where that cannot be seen."""
    fds = Path("/proc/self/fd")
    if not fds.exists():
        return None
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


async def test_close_leaves_no_task_socket_or_session_behind(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """After close() no session task or client socket is left, even with a fetch in flight."""
    before = _open_sockets()
    session = make_session(refresh_interval=240.0)
    session.subscribe(lambda change: None)
    await session.catalog()
    await clock.advance(TTL)
    server.hold()
    assert await session.catalog()  # stale read; its refresh hangs at the server
    await asyncio.sleep(0)
    await session.close()
    assert _tasks_left() == set()
    assert clock.sleepers == 0
    gc.collect()  # an unclosed aiohttp session would warn here, an error under -W error
    after = _open_sockets()
    if before is not None and after is not None:
        assert after <= before


async def test_close_wakes_a_waiting_reader_with_session_closed_error(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A reader waiting for the first fetch gets SessionClosedError when another task closes."""
    session = make_session()
    server.hold()
    reader = asyncio.create_task(session.catalog())
    for _ in range(5):
        await asyncio.sleep(0)
    await session.close()
    with pytest.raises(SessionClosedError):
        await reader


async def test_close_during_start_stops_the_refresher(
    make_session: MakeSession, tmp_path: Path, clock: FakeClock
) -> None:
    """close() racing a start() that is still loading the cache file leaves no refresher.

    The start stops where it is, and says why.
    """
    session = make_session(refresh_interval=240.0, cache_path=tmp_path / "cache.json")
    starting = asyncio.create_task(session.start())
    await asyncio.sleep(0)
    await session.close()
    with pytest.raises(SessionClosedError, match="closed while it started"):
        await starting
    assert _tasks_left() == set()
    assert clock.sleepers == 0


async def test_borrowed_http_session_is_left_open(server: FakeNanoGPT, clock: FakeClock) -> None:
    """A caller's aiohttp ClientSession is used but not closed by close()."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        session = ImageModelsSession(
            base_url=server.url, clock=clock, http_session=http, refresh_interval=None
        )
        await session.catalog()
        await session.close()
        assert not http.closed


async def test_use_from_another_event_loop_is_a_clear_error(
    make_session: MakeSession, clock: FakeClock
) -> None:
    """A session started in one loop raises a RuntimeError naming the cause in another loop."""
    session = make_session(ttl=TTL, max_stale=TTL)
    await session.catalog()
    await clock.advance(3 * TTL)  # past max_stale, so the read needs a fetch in the session's loop

    def read_elsewhere() -> None:
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(session.catalog())
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(session.refresh())

    await asyncio.to_thread(read_elsewhere)
    assert (await session.catalog()).ids == MODEL_IDS  # still fine in its own loop


async def test_subscribe_refuses_what_it_cannot_call(make_session: MakeSession) -> None:
    """A typo (``subscribe(None)``) fails where it is made, not as a log line later."""
    session = make_session()
    with pytest.raises(TypeError, match="subscribe\\(\\) takes a function of one CatalogChange"):
        session.subscribe(None)  # type: ignore[arg-type]


# -- second-wave regressions ------------------------------------------------------


async def test_a_session_dropped_unclosed_warns_and_stops_refreshing(
    server: FakeNanoGPT, clock: FakeClock, settle: Settle
) -> None:
    """An open session that is garbage-collected warns (ResourceWarning) and fetches no more."""
    session = ImageModelsSession(
        base_url=server.url, clock=clock, max_retries=0, refresh_interval=240.0
    )
    await session.catalog()
    await settle(session)
    assert server.request_count == 1
    with pytest.warns(ResourceWarning, match="unclosed ImageModelsSession"):
        del session  # freed at once: the session holds no reference cycle
    for _ in range(10):
        await clock.advance(240.0)
    assert server.request_count == 1
    assert clock.sleepers == 0


async def test_a_304_to_a_request_without_validators_does_not_renew(
    clock: FakeClock, settle: Settle
) -> None:
    """With no ETag or Last-Modified kept, a 304 is an error with backoff, never a renewal."""
    async with FakeNanoGPT(etag=False) as plain:
        session = ImageModelsSession(
            base_url=plain.url, clock=clock, max_retries=0, refresh_interval=None
        )
        async with session:
            await session.catalog()
            await clock.advance(TTL + 1)
            plain.respond_next(304, b"")
            with pytest.raises(DecodeError, match="304 Not Modified to a request without"):
                await session.refresh()
            stats = session.stats()
            assert (stats.source, stats.not_modified, stats.errors) == ("stale", 0, 1)


class HungStore:
    """A Store whose save never finishes (a hung disk or database)."""

    def __init__(self) -> None:
        self.saves = 0

    async def load(self) -> StoredResponse | None:
        return None

    async def save(self, response: StoredResponse) -> None:
        self.saves += 1
        await asyncio.Event().wait()


async def test_a_hung_store_never_delays_reads_refreshes_or_close(
    server: FakeNanoGPT, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads and refresh() return while save() hangs; close() gives up on it in bounded time."""
    monkeypatch.setattr(store_module, "SAVE_WAIT", 0.05)  # real seconds: a store is outside
    store = HungStore()
    session = ImageModelsSession(
        base_url=server.url, clock=clock, max_retries=0, refresh_interval=None, store=store
    )
    async with asyncio.timeout(5):  # real seconds: only a hang could reach this
        assert (await session.catalog()).ids == MODEL_IDS
        await session.refresh()
        await session.refresh()
        await session.close()
    assert store.saves == 1  # later saves wait behind the hung one; only the newest is kept
    assert server.request_count == 3


async def test_wait_timeout_bounds_a_cold_read_and_says_how_long(
    server: FakeNanoGPT, clock: FakeClock, make_session: MakeSession
) -> None:
    """With nothing cached and NanoGPT silent, a read gives up after wait_timeout."""
    session = make_session(wait_timeout=2.5)
    server.hold()
    reader = asyncio.ensure_future(session.catalog())
    await server.wait_for_requests(1)
    await clock.advance(2.5)
    with pytest.raises(RequestTimeoutError, match=r"no catalog after 2\.5 s \(wait_timeout\)"):
        await reader
    server.release()
    assert (await session.catalog()).ids == MODEL_IDS
    assert server.request_count == 1


async def test_close_frees_a_big_catalog_in_a_thread_not_on_the_loop(
    make_session: MakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models of the last catalog die in a worker thread during close(), not on the loop."""
    monkeypatch.setattr(session_module, "OFF_LOOP_MODELS", 0)
    session = make_session()
    freed_in: list[str] = []
    catalog = await session.catalog()
    weakref.finalize(catalog.models[0], lambda: freed_in.append(threading.current_thread().name))
    del catalog
    await session.close()
    assert len(freed_in) == 1
    assert freed_in[0] != threading.current_thread().name


async def test_big_catalogs_are_compared_off_the_loop_and_told_in_order(
    make_session: MakeSession,
    server: FakeNanoGPT,
    settle: Settle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the size threshold the diff runs in a thread; changes are still told in order."""
    monkeypatch.setattr(session_module, "OFF_LOOP_MODELS", 0)
    session = make_session()
    seen: list[str] = []
    session.subscribe(lambda change: seen.append(str(change)))
    await session.catalog()
    server.update_model("model-0", name="First")
    await session.refresh()
    server.update_model("model-1", name="Second")
    await session.refresh()
    await settle(session)
    assert seen == ["~model-0 (name)", "~model-1 (name)"]


# -- moved from test_robustness.py: bad arguments, odd answers, lifecycle edges ----------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"ttl": "300"}, TypeError, "ttl must be a number of seconds, not str"),
        ({"ttl": float("inf")}, ValueError, "ttl must be a positive finite number"),
        ({"refresh_interval": 0}, ValueError, "refresh_interval must be a positive"),
        ({"max_stale": -1}, ValueError, "max_stale must be a non-negative"),
        ({"timeout": None}, TypeError, "timeout must be a number of seconds, not NoneType"),
        ({"max_retries": 1.5}, TypeError, "max_retries must be a whole number, not float"),
        ({"max_retries": -1}, ValueError, "max_retries must be 0 or more"),
        ({"detailed": "no"}, TypeError, "detailed must be True or False"),
        ({"auth_header": None}, TypeError, "auth_header must be a string, not NoneType"),
        ({"auth_header": "bearer"}, ValueError, "auth_header must be 'authorization'"),
        ({"api_key": 123}, TypeError, "api_key must be a string or None, not int"),
        ({"base_url": 123}, TypeError, "base_url must be a string or None, not int"),
        ({"base_url": "http://127.0.0.1:99999"}, ValueError, "invalid port"),
        ({"base_url": "ftp://example.com"}, ValueError, "must be an http(s) URL"),
        ({"allow_insecure_http": "yes"}, TypeError, "allow_insecure_http must be True or False"),
        ({"max_response_bytes": 0}, ValueError, "max_response_bytes must be 1 or more"),
        ({"http_session": "x"}, TypeError, "http_session must be an aiohttp.ClientSession"),
        ({"clock": object()}, TypeError, "clock must have monotonic(), time() and async sleep()"),
        ({"store": object()}, TypeError, "store must have async load() and save()"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout must be a positive"),
        ({"retry_backoff_base": -1}, ValueError, "retry_backoff_base must be a non-negative"),
        (
            {"retry_backoff_cap": "8"},
            TypeError,
            "retry_backoff_cap must be a number of seconds, not str",
        ),
        ({"wait_timeout": 0}, ValueError, "wait_timeout must be a positive"),
    ],
)
def test_bad_constructor_arguments_say_what_would_be_right(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each wrong argument fails at construction with a typed error naming it and the fix."""
    with pytest.raises(error, match=None) as caught:
        ImageModelsSession(**options)
    assert message in str(caught.value)


def test_base_url_with_the_catalog_path_does_not_double_it() -> None:
    """A base URL that already names the catalog endpoint is accepted as the host."""
    session = ImageModelsSession(base_url="https://nano-gpt.com/api/v1/image-models/")
    assert "url='https://nano-gpt.com/api/v1/image-models'" in repr(session)


@pytest.mark.parametrize("model_id", [123, None, ["flux-pro"]])
async def test_a_model_id_that_is_not_a_string_is_a_type_error(
    make_session: MakeSession, model_id: Any
) -> None:
    """get_model() and catalog[...] name the type they got instead of failing inside."""
    session = make_session()
    with pytest.raises(TypeError, match="a model id is a string such as 'flux-pro'"):
        await session.get_model(model_id)
    with pytest.raises(TypeError, match="not " + type(model_id).__name__):
        (await session.catalog())[model_id]


async def test_infinite_retry_after_does_not_stop_the_session(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """A Retry-After of "inf" is ignored: the normal backoff applies and the session recovers."""
    session = make_session()
    server.fail_next(1, 429, retry_after="inf")
    with pytest.raises(RateLimitError) as caught:
        await session.catalog()
    assert caught.value.retry_after is None
    await clock.advance(1.0)
    assert (await session.catalog()).ids == MODEL_IDS
    assert server.request_count == 2


async def test_a_redirect_to_a_bad_port_is_a_transport_error(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A Location with a port out of range is a typed error, not urllib's ValueError."""
    session = make_session()
    server.redirect_next("http://127.0.0.1:99999/api/v1/image-models")
    with pytest.raises(TransportError, match="invalid location"):
        await session.catalog()
    assert server.request_count == 1


async def test_a_304_with_nothing_cached_says_so(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """A stray 304 to a request without validators is a DecodeError that names the cause."""
    session = make_session()
    server.respond_next(304, b"")
    with pytest.raises(DecodeError, match="304 Not Modified to a request without validators"):
        await session.catalog()


async def test_concurrent_closes_all_wait_for_the_shutdown(make_session: MakeSession) -> None:
    """Every caller of close() returns only once nothing of the session is left running."""
    session = make_session(refresh_interval=60.0)
    await session.catalog()
    await asyncio.gather(session.close(), session.close(), session.close())
    assert [task for task in asyncio.all_tasks() if "nanogpt" in task.get_name()] == []


async def test_a_subscriber_may_close_the_session(
    make_session: MakeSession, server: FakeNanoGPT, settle: Settle
) -> None:
    """An async subscriber that closes the session shuts it down cleanly."""
    session = make_session()
    await session.catalog()
    closed = asyncio.Event()

    async def close_on_change(change: object) -> None:
        await session.close()
        closed.set()

    session.subscribe(close_on_change)
    server.add_model(model_payload("new-model"))
    await session.refresh()
    await asyncio.wait_for(closed.wait(), timeout=5)
    assert repr(session).endswith("state='closed')")


def test_infinite_max_stale_and_retry_after_mean_no_limit() -> None:
    """max_stale and max_retry_after may be infinite: serve stale forever, honour any wait."""
    session = ImageModelsSession(max_stale=float("inf"), max_retry_after=float("inf"))
    assert "state='unopened'" in repr(session)


async def test_a_model_id_that_is_not_a_string_is_explained_on_the_warm_path(
    make_session: MakeSession,
) -> None:
    """A warm get_model() with an unhashable id gives the same clear TypeError as a cold one."""
    session = make_session()
    await session.catalog()
    with pytest.raises(TypeError, match="a model id is a string such as 'flux-pro', not list"):
        await session.get_model(["flux-pro"])  # type: ignore[arg-type]


async def test_close_while_the_stored_copy_loads_leaves_nothing_served(
    server: FakeNanoGPT,
) -> None:
    """A session closed while start() reads its store does not come back to life after."""

    class SlowStore:
        def __init__(self) -> None:
            self.gate = asyncio.Event()

        async def load(self) -> StoredResponse | None:
            await self.gate.wait()
            return StoredResponse(body=sample_catalog_bytes(), detailed=True, fetched_at=1.0)

        async def save(self, response: StoredResponse) -> None:
            raise AssertionError("nothing is fetched, so nothing is saved")

    store = SlowStore()
    session = ImageModelsSession(base_url=server.url, store=store)
    starting = asyncio.create_task(session.start())
    await asyncio.sleep(0)
    await session.close()
    store.gate.set()
    with pytest.raises(SessionClosedError):
        await starting
    with pytest.raises(SessionClosedError):
        await session.catalog()
    assert server.request_count == 0


async def test_close_runs_again_when_a_first_close_was_cut_off(make_session: MakeSession) -> None:
    """If the loop cancelled a close half-way, the next close() finishes the job quietly."""
    session = make_session(refresh_interval=60.0)
    await session.catalog()
    first = asyncio.create_task(session.close())
    await asyncio.sleep(0)
    session._closing.cancel()  # type: ignore[union-attr]  # what the end of a loop does to it
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await session.close()
    assert [task for task in asyncio.all_tasks() if "nanogpt" in task.get_name()] == []


async def test_wait_idle_returns_once_the_refresh_and_its_async_callbacks_are_done(
    make_session: MakeSession, server: FakeNanoGPT, clock: FakeClock
) -> None:
    """After a clock move, wait_idle() covers the refresh it set off and async subscribers."""
    session = make_session(refresh_interval=240.0)
    await session.catalog()
    heard: list[str] = []

    async def announce(change: CatalogChange) -> None:
        await asyncio.sleep(0)
        heard.append(str(change))

    session.subscribe(announce)
    server.update_model("model-2", name="Renamed")
    await clock.advance(270.0)
    await session.wait_idle()
    assert heard == ["~model-2 (name)"]
