"""Bad arguments and odd server answers fail with clear typed errors, and lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from conftest import MODEL_IDS, MakeSession, Settle

from nanogpt_images import (
    DecodeError,
    ImageModelsSession,
    RateLimitError,
    SessionClosedError,
    StoredResponse,
    TransportError,
    parse_catalog,
)
from nanogpt_images.testing import FakeClock, FakeNanoGPT, model_payload, sample_catalog_bytes

KEY = "sk-nano-robustness-secret"


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


@pytest.mark.parametrize("value", ["+-5", "-+1", "²", "9" * 5000])
def test_integer_like_strings_never_fail_the_catalog(value: str) -> None:
    """A number field holding a string int() cannot read is kept raw; the catalog loads."""
    body = {"data": [{"id": "m", "created": value}], "meta": {"count": value}}
    catalog = parse_catalog(body)
    assert catalog["m"].created is None
    assert catalog["m"].extras == {"created": value}


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


async def test_capability_filter_of_the_wrong_type_is_explained(make_session: MakeSession) -> None:
    """find(capability=5) says what the filter takes."""
    session = make_session()
    with pytest.raises(TypeError, match="takes a flag name such as 'inpainting'"):
        await session.find(capability=5)


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
