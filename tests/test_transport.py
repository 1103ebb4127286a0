"""The HTTP transport against a real FakeNanoGPT over loopback: fault matrix and safety rules."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nanogpt_images._errors import (
    APIStatusError,
    AuthenticationError,
    DecodeError,
    InsufficientBalanceError,
    NanoGPTError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from nanogpt_images._transport import (
    FetchResult,
    Transport,
    Validators,
    resolve_api_key,
    resolve_base_url,
)
from nanogpt_images.testing import FakeClock, FakeNanoGPT, catalog_payload, model_payload

if TYPE_CHECKING:
    from pathlib import Path

KEY = "sk-nano-00000000-secret-test-key"

#: Two complete entries; ``flux-pro`` has the identifiers the detailed=false test checks.
CATALOG = catalog_payload(
    [model_payload("flux-pro", created=1704067200, owned_by="bfl"), model_payload("hidream")]
)
BODY = json.dumps(CATALOG).encode()


class RecordingClock(FakeClock):
    """The kit's auto-advancing FakeClock, also remembering each wait it was asked for."""

    def __init__(self) -> None:
        super().__init__(auto_advance=True)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


MakeTransport = Callable[..., Transport]


@pytest.fixture
async def small_fake() -> AsyncIterator[FakeNanoGPT]:
    async with FakeNanoGPT(CATALOG) as server:
        yield server


@pytest.fixture
async def recording_clock() -> AsyncIterator[RecordingClock]:
    recording = RecordingClock()
    yield recording
    await recording.aclose()


@pytest.fixture
async def make(
    small_fake: FakeNanoGPT, recording_clock: RecordingClock
) -> AsyncIterator[MakeTransport]:
    """Transports aimed at ``small_fake`` with the recording clock and a fixed jitter of 0.5."""
    made: list[Transport] = []

    def build(**options: Any) -> Transport:
        options.setdefault("api_key", None)
        options.setdefault("base_url", small_fake.url)
        options.setdefault("clock", recording_clock)
        options.setdefault("random", lambda: 0.5)
        transport = Transport(**options)
        made.append(transport)
        return transport

    yield build
    for transport in made:
        await transport.close()


# -- the happy path -------------------------------------------------------------------


async def test_fetch_returns_raw_body_and_validators(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A 200 gives the exact body bytes, the status and the response's ETag/Last-Modified."""
    result = await make().fetch()
    assert result.body == BODY
    assert result.status == 200
    assert not result.not_modified
    assert result.validators.etag is not None
    assert result.validators.last_modified is not None
    assert small_fake.request_count == 1
    assert small_fake.requests[0].path == "/api/v1/image-models"
    assert small_fake.requests[0].query == {"detailed": "true"}


async def test_detailed_false_asks_for_the_basic_list(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """``detailed=False`` sends ``?detailed=false`` and gets the basic items."""
    result = await make().fetch(detailed=False)
    assert result.body is not None
    assert json.loads(result.body)["data"][0] == {
        "id": "flux-pro",
        "object": "model",
        "created": 1704067200,
        "owned_by": "bfl",
    }
    assert small_fake.requests[0].query == {"detailed": "false"}
    assert small_fake.request_count == 1


async def test_identifying_headers_are_sent(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """Every request says who it is and that it wants gzipped JSON."""
    await make().fetch()
    headers = small_fake.requests[0].headers
    assert headers["user-agent"].startswith("nanogpt-images/")
    assert headers["accept"] == "application/json"
    assert "gzip" in headers["accept-encoding"]
    assert small_fake.request_count == 1


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_then_raised(
    status: int, small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """5xx is retried twice with jittered exponential backoff, then raised as ServerError."""
    small_fake.fail_next(3, status)
    with pytest.raises(ServerError) as info:
        await make().fetch()
    assert info.value.status == status
    assert small_fake.request_count == 3
    assert recording_clock.sleeps == [0.25, 0.5]  # 0.5 * min(8, 0.5 * 2**attempt)
    assert recording_clock.monotonic() == 0.75  # fake time passed, real time did not


async def test_a_retry_that_succeeds_returns_the_catalog(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Two 503s then a 200: the caller just gets the body."""
    small_fake.fail_next(2, 503)
    result = await make().fetch()
    assert result.body == BODY
    assert small_fake.request_count == 3


async def test_request_timeout_status_is_retried(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """408 is retried like a 5xx and raised as a plain APIStatusError."""
    small_fake.fail_next(3, 408)
    with pytest.raises(APIStatusError) as info:
        await make().fetch()
    assert type(info.value) is APIStatusError
    assert info.value.status == 408
    assert small_fake.request_count == 3


async def test_backoff_uses_full_jitter_up_to_the_cap(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """Each wait is random() * min(cap, base * 2**attempt)."""
    small_fake.fail_next(4, 500)
    transport = make(max_retries=3, backoff_base=1.0, backoff_cap=1.5, random=lambda: 1.0)
    with pytest.raises(ServerError):
        await transport.fetch()
    assert recording_clock.sleeps == [1.0, 1.5, 1.5]
    assert small_fake.request_count == 4


async def test_max_retries_zero_tries_once(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """``max_retries=0`` turns retrying off."""
    small_fake.fail_next(1, 500)
    with pytest.raises(ServerError):
        await make(max_retries=0).fetch()
    assert small_fake.request_count == 1
    assert recording_clock.sleeps == []


async def test_retry_after_seconds_is_honoured(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """A 429 with ``Retry-After: 7`` waits exactly 7 s, then succeeds."""
    small_fake.fail_next(1, 429, retry_after=7)
    result = await make().fetch()
    assert result.body == BODY
    assert recording_clock.sleeps == [7.0]
    assert small_fake.request_count == 2


async def test_retry_after_http_date_is_honoured(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """``Retry-After`` as an HTTP date waits until that date on the injected recording_clock."""
    small_fake.fail_next(1, 429, retry_after=formatdate(recording_clock.time() + 30, usegmt=True))
    await make().fetch()
    assert recording_clock.sleeps == [30.0]
    assert small_fake.request_count == 2


async def test_retry_after_on_503_is_honoured(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """``Retry-After`` counts on any retryable status, not only 429."""
    small_fake.fail_next(1, 503, retry_after="2")
    await make().fetch()
    assert recording_clock.sleeps == [2.0]
    assert small_fake.request_count == 2


async def test_retry_after_above_the_cap_raises_at_once(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """A wait above ``max_retry_after`` is not slept: RateLimitError at once, with the wait."""
    small_fake.fail_next(1, 429, retry_after=3600)
    with pytest.raises(RateLimitError) as info:
        await make(max_retry_after=60).fetch()
    assert info.value.retry_after == 3600.0
    assert small_fake.request_count == 1
    assert recording_clock.sleeps == []


async def test_rate_limit_after_retries_carries_retry_after(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """When 429s outlast the retries, the RateLimitError says how long to wait."""
    small_fake.fail_next(3, 429, retry_after=1)
    with pytest.raises(RateLimitError) as info:
        await make().fetch()
    assert info.value.retry_after == 1.0
    assert info.value.status == 429
    assert small_fake.request_count == 3


@pytest.mark.parametrize("status", [400, 402, 409, 413, 422])
async def test_other_client_errors_are_not_retried(
    status: int, small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """4xx other than 408/429 fails on the first answer as APIStatusError (402: its subclass)."""
    small_fake.fail_next(1, status)
    with pytest.raises(APIStatusError) as info:
        await make().fetch()
    assert type(info.value) is (InsufficientBalanceError if status == 402 else APIStatusError)
    assert info.value.status == status
    assert small_fake.request_count == 1


@pytest.mark.parametrize(
    ("header", "expected"), [("soon", 0.25), ("-5", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)]
)
async def test_odd_retry_after_values(
    header: str,
    expected: float,
    small_fake: FakeNanoGPT,
    make: MakeTransport,
    recording_clock: RecordingClock,
) -> None:
    """Unreadable Retry-After falls back to backoff; past dates and negatives mean now."""
    small_fake.fail_next(1, 503, retry_after=header)
    await make().fetch()
    assert recording_clock.sleeps == [expected]
    assert small_fake.request_count == 2


# -- error envelopes -------------------------------------------------------------------

ENVELOPES: list[tuple[str, Any, str | None, str]] = [
    (
        "openai",
        {
            "error": {
                "message": "Nope",
                "type": "invalid_request_error",
                "code": "c1",
                "param": None,
            }
        },
        "c1",
        "Nope",
    ),
    (
        "image-api",
        {
            "error": {
                "message": "Nope",
                "type": "x",
                "code": "missing_model",
                "parameter": "model",
            },
            "code": "missing_model",
        },
        "missing_model",
        "Nope",
    ),
    ("string-error-code", {"error": "Nope", "code": "prompt_too_long"}, "prompt_too_long", "Nope"),
    (
        "error-status",
        {"error": "Insufficient balance", "status": 402},
        None,
        "Insufficient balance",
    ),
    ("code-message", {"code": "rate_limited", "message": "Nope"}, "rate_limited", "Nope"),
    ("type-message", {"type": "server_error", "message": "Nope"}, "server_error", "Nope"),
    (
        "anthropic",
        {"type": "error", "error": {"type": "not_found_error", "message": "Nope"}},
        "not_found_error",
        "Nope",
    ),
    (
        "x402",
        {"error": {"type": "q", "code": "insufficient_quota", "message": "Nope"}, "payment": {}},
        "insufficient_quota",
        "Nope",
    ),
    ("x402-no-code", {"error": "Nope", "payment": {"amount": 1}}, "payment_required", "Nope"),
    ("integer-error", {"error": 401, "message": "Nope"}, None, "Nope"),
    ("plain-text", "Nope", None, "Nope"),
    ("html", "<html><body><h1>Nope</h1></body></html>", None, "<phrase>"),
    ("empty", "", None, "<phrase>"),
    ("json-array", ["Nope"], None, "<phrase>"),
]
STATUS_TYPES = [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)]


@pytest.mark.parametrize(("status", "kind"), STATUS_TYPES)
@pytest.mark.parametrize(
    ("body", "code", "message"), [e[1:] for e in ENVELOPES], ids=[e[0] for e in ENVELOPES]
)
async def test_error_envelopes_map_to_typed_errors(
    status: int,
    kind: type[APIStatusError],
    body: Any,
    code: str | None,
    message: str,
    small_fake: FakeNanoGPT,
    make: MakeTransport,
) -> None:
    """401/403/404 are never retried; code, message and request id come from any envelope."""
    if isinstance(body, list):
        small_fake.respond_next(status, body)
    else:
        small_fake.fail_next(1, status, body=body)
    with pytest.raises(kind) as info:
        await make().fetch()
    error = info.value
    assert error.status == status
    assert error.code == code
    expected = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}[status]
    assert error.message == (expected if message == "<phrase>" else message)
    assert error.request_id == "fake-req-1"
    assert small_fake.request_count == 1


async def test_request_id_comes_from_the_header(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """``.request_id`` is the server's X-Request-ID, for support tickets."""
    small_fake.fail_next(1, 404, headers={"X-Request-ID": "req_abc123"})
    with pytest.raises(NotFoundError) as info:
        await make().fetch()
    assert info.value.request_id == "req_abc123"
    assert "req_abc123" in str(info.value)
    assert small_fake.request_count == 1


async def test_error_body_excerpt_is_bounded(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """A huge error page is kept only as a 1,000-character excerpt."""
    small_fake.fail_next(1, 400, body="<html>" + "x" * 100_000)
    with pytest.raises(APIStatusError) as info:
        await make().fetch()
    assert 0 < len(info.value.body) <= 1000
    assert small_fake.request_count == 1


# -- transport failures ------------------------------------------------------------------


async def test_slow_server_times_out(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """No answer within ``timeout`` raises RequestTimeoutError, which is also a TimeoutError."""
    small_fake.delay(2.0)
    with pytest.raises(RequestTimeoutError) as info:
        await make(timeout=0.05, max_retries=0).fetch()
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, TransportError)
    assert small_fake.request_count == 1


async def test_timeouts_are_retried(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """A timeout counts as a retryable failure."""
    small_fake.delay(2.0)
    with pytest.raises(RequestTimeoutError):
        await make(timeout=0.05, max_retries=1).fetch()
    assert small_fake.request_count == 2
    assert len(recording_clock.sleeps) == 1


async def test_closed_port_raises_transport_error(recording_clock: RecordingClock) -> None:
    """A refused connection is retried, then raised as TransportError with the cause chained."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = Transport(api_key=KEY, base_url=f"http://127.0.0.1:{port}", clock=recording_clock)
    try:
        with pytest.raises(TransportError) as info:
            await transport.fetch()
    finally:
        await transport.close()
    assert not isinstance(info.value, RequestTimeoutError)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    assert str(info.value) == (
        f"could not fetch http://127.0.0.1:{port}/api/v1/image-models: "
        f"connection refused by 127.0.0.1:{port}"
    )
    assert (
        len(recording_clock.sleeps) == 2
    )  # three attempts, nobody listening: zero requests served


async def test_connection_dropped_mid_body_is_retried(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A body that breaks off is a TransportError and is retried."""
    small_fake.fault_next("drop_connection", 3)
    with pytest.raises(TransportError):
        await make().fetch()
    assert small_fake.request_count == 3


async def test_one_dropped_connection_then_success(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """After one dropped body the retry gets the whole catalog."""
    small_fake.fault_next("drop_connection")
    result = await make().fetch()
    assert result.body == BODY
    assert small_fake.request_count == 2


# Bodies that are complete HTTP answers but not catalogs: the transport hands the bytes over
# untouched and does not retry; turning them into DecodeError is parse_catalog's job.


async def test_truncated_json_is_returned_as_is(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A catalog cut in half (valid HTTP) comes back as those bytes, not retried."""
    small_fake.fault_next("truncated_json")
    result = await make().fetch()
    assert result.body == BODY[: len(BODY) // 2]
    assert small_fake.request_count == 1


async def test_html_with_200_is_returned_as_is(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """An HTML error page served with 200 is returned for the parser to reject."""
    small_fake.fault_next("html_200")
    result = await make().fetch()
    assert result.body is not None
    assert result.body.startswith(b"<!DOCTYPE html>")
    assert small_fake.request_count == 1


async def test_json_array_is_returned_as_is(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """A bare JSON array is returned for the parser to reject."""
    small_fake.fault_next("json_array")
    result = await make().fetch()
    assert result.body is not None
    assert json.loads(result.body) == CATALOG["data"]
    assert small_fake.request_count == 1


async def test_malformed_json_is_returned_as_is(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Invalid JSON with 200 is returned for the parser to reject."""
    small_fake.fault_next("malformed_json")
    result = await make().fetch()
    assert result.body is not None
    with pytest.raises(ValueError, match="Expecting"):
        json.loads(result.body)
    assert small_fake.request_count == 1


# -- safety limits ---------------------------------------------------------------------------


async def test_streamed_body_over_the_cap_is_refused(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A chunked body is counted while it streams and refused past max_response_bytes."""
    small_fake.fault_next("oversized", size=2_000_000)
    with pytest.raises(DecodeError, match="exceeds max_response_bytes=50000"):
        await make(max_response_bytes=50_000).fetch()
    assert small_fake.request_count == 1


async def test_content_length_over_the_cap_is_refused(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A declared Content-Length above the cap is refused before reading."""
    small_fake.respond_next(200, b"x" * 5000)
    with pytest.raises(DecodeError, match="Content-Length is 5000"):
        await make(max_response_bytes=1000).fetch()
    assert small_fake.request_count == 1


async def test_body_at_the_cap_is_accepted(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """The cap is inclusive: exactly max_response_bytes is fine."""
    small_fake.respond_next(200, b"y" * 1000)
    result = await make(max_response_bytes=1000).fetch()
    assert result.body == b"y" * 1000
    assert small_fake.request_count == 1


async def test_redirect_to_another_origin_is_refused(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A redirect off-origin raises, names the target, and the key never reaches it."""
    async with FakeNanoGPT(CATALOG) as other:
        small_fake.redirect_next(other.url + "/api/v1/image-models?detailed=true")
        with pytest.raises(APIStatusError) as info:
            await make(api_key=KEY).fetch()
        assert other.request_count == 0
    assert info.value.code == "cross_origin_redirect"
    assert other.url.removeprefix("http://") in str(info.value)
    assert KEY not in str(info.value)
    assert small_fake.request_count == 1


async def test_same_origin_redirect_is_followed(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A redirect within the same origin is followed, with the key."""
    small_fake.redirect_next("/api/v1/image-models?detailed=true&moved=1", status=307)
    result = await make(api_key=KEY).fetch()
    assert result.body == BODY
    assert small_fake.request_count == 2
    assert small_fake.requests[1].query == {"detailed": "true", "moved": "1"}
    assert small_fake.requests[1].headers["authorization"] == "***"


async def test_redirect_loop_stops(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """Endless same-origin redirects stop after five hops with a TransportError."""
    small_fake.redirect_next("/api/v1/image-models?detailed=true", n=20)
    with pytest.raises(TransportError, match="redirects"):
        await make().fetch()
    assert small_fake.request_count == 6


# -- conditional GET ---------------------------------------------------------------------------


async def test_not_modified_with_validators(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """Sending the last validators gets a 304: no body, validators kept."""
    transport = make()
    first = await transport.fetch()
    second = await transport.fetch(validators=first.validators)
    assert second == FetchResult(
        body=None, validators=first.validators, not_modified=True, status=304
    )
    assert small_fake.requests[1].headers["if-none-match"] == first.validators.etag
    assert small_fake.requests[1].headers["if-modified-since"] == first.validators.last_modified
    assert small_fake.request_count == 2


async def test_not_modified_with_last_modified_only(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """``If-Modified-Since`` alone is enough for a 304."""
    transport = make()
    first = await transport.fetch()
    only_date = Validators(last_modified=first.validators.last_modified)
    second = await transport.fetch(validators=only_date)
    assert second.not_modified
    assert second.validators.last_modified == first.validators.last_modified
    assert "if-none-match" not in small_fake.requests[1].headers
    assert small_fake.request_count == 2


async def test_no_validators_means_no_conditional_headers(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Without validators the request is unconditional and gets a 200."""
    result = await make().fetch(validators=None)
    assert result.status == 200
    assert "if-none-match" not in small_fake.requests[0].headers
    assert "if-modified-since" not in small_fake.requests[0].headers
    assert small_fake.request_count == 1


async def test_changed_catalog_answers_200_with_new_validators(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Old validators after a change get the new body and new validators."""
    transport = make()
    first = await transport.fetch()
    small_fake.update_model("flux-pro", name="Flux Pro 2")
    second = await transport.fetch(validators=first.validators)
    assert not second.not_modified
    assert second.validators.etag != first.validators.etag
    assert small_fake.request_count == 2


async def test_server_without_etag_gives_empty_validators(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A server that sends no validators yields empty ones, and never a 304."""
    small_fake.etag = False
    result = await make().fetch(validators=Validators(etag='"x"', last_modified="whenever"))
    assert result.validators == Validators()
    assert result.status == 200
    assert small_fake.request_count == 1


# -- auth ---------------------------------------------------------------------------------


async def test_anonymous_sends_no_auth_header(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """No key, no Authorization or x-api-key header."""
    await make(api_key=None).fetch()
    assert "authorization" not in small_fake.requests[0].headers
    assert "x-api-key" not in small_fake.requests[0].headers
    assert small_fake.request_count == 1


async def test_bearer_auth(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """By default the key goes as ``Authorization: Bearer``."""
    small_fake.require_key = KEY
    result = await make(api_key=KEY).fetch()
    assert result.status == 200
    assert small_fake.requests[0].headers["authorization"] == "***"
    assert "x-api-key" not in small_fake.requests[0].headers
    assert small_fake.request_count == 1


async def test_x_api_key_auth(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """``auth_header="x-api-key"`` sends the key in that header instead."""
    small_fake.require_key = KEY
    result = await make(api_key=KEY, auth_header="x-api-key").fetch()
    assert result.status == 200
    assert small_fake.requests[0].headers["x-api-key"] == "***"
    assert "authorization" not in small_fake.requests[0].headers
    assert small_fake.request_count == 1


async def test_wrong_key_is_an_authentication_error(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A rejected key raises AuthenticationError once, without retrying."""
    small_fake.require_key = KEY
    with pytest.raises(AuthenticationError) as info:
        await make(api_key="sk-wrong").fetch()
    assert info.value.code == "invalid_api_key"
    assert small_fake.request_count == 1


def test_api_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The argument wins, then NANOGPT_API_KEY; blank counts as no key."""
    monkeypatch.setenv("NANOGPT_API_KEY", "from-env")
    assert resolve_api_key(None) == "from-env"
    assert resolve_api_key("from-arg") == "from-arg"
    assert resolve_api_key("") is None
    monkeypatch.setenv("NANOGPT_API_KEY", "  ")
    assert resolve_api_key(None) is None
    monkeypatch.delenv("NANOGPT_API_KEY")
    assert resolve_api_key(None) is None


def test_base_url_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The argument wins, then NANOGPT_BASE_URL, then https://nano-gpt.com."""
    monkeypatch.delenv("NANOGPT_BASE_URL", raising=False)
    assert resolve_base_url(None) == "https://nano-gpt.com"
    monkeypatch.setenv("NANOGPT_BASE_URL", "https://api.nano-gpt.com/api/v1")
    assert resolve_base_url(None) == "https://api.nano-gpt.com"
    assert resolve_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize("given", ["", "   "])
def test_an_empty_base_url_is_an_error_not_the_live_service(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``base_url=""`` (an unset ``"$URL"``) must not quietly mean https://nano-gpt.com."""
    monkeypatch.delenv("NANOGPT_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="base_url is empty; leave it out"):
        resolve_base_url(given)


async def test_a_404_names_the_url_and_what_base_url_should_be(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """The server's words stay in .message; str() adds where and what to fix."""
    small_fake.fail_next(1, 404)
    with pytest.raises(NotFoundError) as caught:
        await make().fetch()
    assert caught.value.message == "Not Found"
    assert str(caught.value).endswith(
        f"(nothing at {small_fake.url}/api/v1/image-models; check base_url: the site root, "
        "such as https://nano-gpt.com)"
    )


@pytest.mark.parametrize(
    "given",
    [
        "https://nano-gpt.com",
        "https://nano-gpt.com/",
        "https://nano-gpt.com/api",
        "https://nano-gpt.com/api/",
        "https://nano-gpt.com/api/v1",
        "https://nano-gpt.com/api/v1/",
    ],
)
def test_base_url_suffixes_never_double_the_path(given: str) -> None:
    """A trailing slash, /api or /api/v1 on base_url still gives one /api/v1/image-models."""
    transport = Transport(api_key=None, base_url=given)
    assert transport.url == "https://nano-gpt.com/api/v1/image-models"


async def test_base_url_with_api_suffix_hits_the_right_path(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Over the wire too, ``.../api/v1/`` as base_url requests /api/v1/image-models."""
    await make(base_url=small_fake.url + "/api/v1/").fetch()
    assert small_fake.requests[0].path == "/api/v1/image-models"
    assert small_fake.request_count == 1


# -- construction checks ------------------------------------------------------------------


def test_key_over_plain_http_to_a_remote_host_is_refused() -> None:
    """A key may not travel over http:// to a non-loopback host unless explicitly allowed."""
    with pytest.raises(ValueError, match="allow_insecure_http") as info:
        Transport(api_key=KEY, base_url="http://example.com")
    assert KEY not in str(info.value)
    Transport(api_key=KEY, base_url="http://example.com", allow_insecure_http=True)
    Transport(api_key=None, base_url="http://example.com")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "http://127.5.5.5"]
)
def test_key_over_http_to_loopback_is_allowed(url: str) -> None:
    """Loopback hosts are fine over plain http: nothing leaves the machine."""
    assert Transport(api_key=KEY, base_url=url).url.startswith(url)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"auth_header": "bearer"}, "auth_header"),
        ({"timeout": 0}, "timeout"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retry_after": -1}, "max_retry_after"),
        ({"backoff_base": -0.1}, "backoff_base"),
        ({"backoff_cap": -1}, "backoff_cap"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"base_url": "ftp://nano-gpt.com"}, "http"),
        ({"base_url": "nano-gpt.com"}, "http"),
        ({"base_url": "https://user:pw@nano-gpt.com"}, "credentials"),
        ({"base_url": "https://nano-gpt.com/?"}, r"query or fragment \('\?' or '#'\)"),
        ({"base_url": "https://nano-gpt.com/#"}, r"query or fragment \('\?' or '#'\)"),
        ({"base_url": "https://nano-gpt.com?x=1"}, "query or fragment"),
        ({"base_url": "http://127.0.0.1:0"}, "a port is a number from 1 to 65535"),
        ({"base_url": "https://" + "a" * 64 + ".com"}, "part of a host name has 1 to 63"),
        ({"base_url": "https://nano..gpt.com"}, "invalid host name"),
        ({"api_key": "sk-abc\n"}, "control characters"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any], complaint: str) -> None:
    """Wrong settings raise ValueError naming the setting, before any I/O."""
    options = {"api_key": None, "base_url": "https://nano-gpt.com", **options}
    with pytest.raises(ValueError, match=complaint):
        Transport(**options)


def test_construction_needs_no_event_loop() -> None:
    """A Transport can be built in plain sync code."""
    transport = Transport(api_key=KEY, base_url="https://nano-gpt.com")
    assert repr(transport) == (
        "Transport(url='https://nano-gpt.com/api/v1/image-models', auth='authorization')"
    )


# -- the key stays secret ------------------------------------------------------------------


async def test_key_never_appears_in_reprs_errors_or_logs(
    small_fake: FakeNanoGPT, make: MakeTransport, caplog: pytest.LogCaptureFixture
) -> None:
    """Even when the server echoes the key back, it is masked everywhere the SDK writes."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"bad key {KEY}", "code": "invalid_api_key"}}
    small_fake.fail_next(1, 500, body=echo)
    small_fake.fail_next(1, 401, body=echo)
    transport = make(api_key=KEY)
    with pytest.raises(AuthenticationError) as info:
        await transport.fetch()
    error = info.value
    texts = [repr(transport), str(transport), str(error), repr(error), error.message, error.body]
    texts.append(caplog.text)
    assert caplog.records  # the retry was logged
    assert all(KEY not in text for text in texts)
    assert "***" in error.message
    assert small_fake.request_count == 2


# -- lifecycle ------------------------------------------------------------------------------


async def test_close_is_idempotent_and_final(small_fake: FakeNanoGPT, make: MakeTransport) -> None:
    """close() twice is fine; fetching afterwards raises SessionClosedError."""
    transport = make()
    await transport.fetch()
    await transport.close()
    await transport.close()
    with pytest.raises(SessionClosedError):
        await transport.fetch()
    assert small_fake.request_count == 1


async def test_a_borrowed_session_is_used_and_left_open(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """A caller's ClientSession carries the requests and is never closed by the transport."""
    async with aiohttp.ClientSession(headers={"X-Borrowed": "yes"}) as borrowed:
        transport = make(http_session=borrowed)
        await transport.fetch()
        await transport.close()
        assert not borrowed.closed
        assert small_fake.requests[0].headers["x-borrowed"] == "yes"
    assert small_fake.request_count == 1


async def test_a_borrowed_session_that_raises_for_status_still_gets_typed_errors(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """raise_for_status=True on the caller's session must not turn a 401 into a retried error."""
    small_fake.fail_next(5, 401)
    async with aiohttp.ClientSession(raise_for_status=True) as borrowed:
        with pytest.raises(AuthenticationError):
            await make(http_session=borrowed, max_retries=3).fetch()
    assert small_fake.request_count == 1


async def test_a_closed_borrowed_session_is_a_transport_error(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Handing over a session that is already closed fails as TransportError, not RuntimeError."""
    borrowed = aiohttp.ClientSession()
    await borrowed.close()
    with pytest.raises(TransportError, match="closed"):
        await make(http_session=borrowed).fetch()
    assert small_fake.request_count == 0


async def test_unusable_validators_are_skipped(
    small_fake: FakeNanoGPT, make: MakeTransport
) -> None:
    """Validators that cannot be header values (a damaged cache) are left out, not sent."""
    result = await make().fetch(validators=Validators(etag='"a"\r\nX-Evil: 1', last_modified=""))
    assert result.status == 200
    assert "if-none-match" not in small_fake.requests[0].headers
    assert "x-evil" not in small_fake.requests[0].headers
    assert small_fake.request_count == 1


async def test_closing_leaves_no_unclosed_session_warning(small_fake: FakeNanoGPT) -> None:
    """After close() nothing of aiohttp is left to complain about being unclosed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transport = Transport(api_key=None, base_url=small_fake.url)
        await transport.fetch()
        await transport.close()
        del transport
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert small_fake.request_count == 1


# -- any answer at all ------------------------------------------------------------------------

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(body=st.binary(max_size=2000))
async def test_any_bytes_with_200_come_back_unchanged(
    small_fake: FakeNanoGPT, make: MakeTransport, body: bytes
) -> None:
    """Whatever bytes a 200 carries, the transport returns exactly them."""
    before = small_fake.request_count
    small_fake.respond_next(200, body)
    result = await make(max_retries=0).fetch()
    assert result.body == body
    assert small_fake.request_count == before + 1


@_SETTINGS
@given(status=st.integers(200, 599), body=st.binary(max_size=500))
async def test_any_answer_is_a_result_or_a_library_error(
    small_fake: FakeNanoGPT, make: MakeTransport, status: int, body: bytes
) -> None:
    """Any status and body give a FetchResult or a NanoGPTError, never anything else."""
    before = small_fake.request_count
    small_fake.respond_next(status, body)
    try:
        result = await make(max_retries=0).fetch()
    except NanoGPTError:
        pass
    else:
        assert isinstance(result, FetchResult)
    assert small_fake.request_count == before + 1


@_SETTINGS
@example(body=b"\x80")
@given(body=st.one_of(st.binary(max_size=500), st.just(BODY), st.just(BODY[:40])))
async def test_any_body_parses_to_a_catalog_or_a_library_error(
    small_fake: FakeNanoGPT, make: MakeTransport, body: bytes
) -> None:
    """Fetched bytes handed to parse_catalog give a Catalog or a NanoGPTError, nothing else."""
    converter = pytest.importorskip("nanogpt_images._converter")
    small_fake.respond_next(200, body)
    result = await make(max_retries=0).fetch()
    assert result.body is not None
    try:
        catalog = converter.parse_catalog(result.body)
    except NanoGPTError:
        pass
    else:
        assert type(catalog).__name__ == "Catalog"
    assert small_fake.request_count >= 1


@pytest.mark.parametrize(
    ("connect_timeout", "expected"),
    [
        (
            0.3,
            "could not connect to https://nano-gpt.com/api/v1/image-models after 3 attempts "
            "over 1.5 s (connect_timeout=0.3 s per attempt)",
        ),
        (
            None,
            "no complete answer from https://nano-gpt.com/api/v1/image-models after 3 attempts "
            "over 1.5 s (timeout=30 s per attempt)",
        ),
    ],
)
def test_a_connect_timeout_names_the_limit_that_ran_out(
    connect_timeout: float | None, expected: str
) -> None:
    """The connect limit when one is set; the total otherwise (never a formatting crash)."""
    transport = Transport(api_key=None, base_url=None, connect_timeout=connect_timeout)
    error = transport._timeout_error(aiohttp.ConnectionTimeoutError(), 3, 1.5)
    assert isinstance(error, RequestTimeoutError)
    assert str(error) == expected


# -- answers FakeNanoGPT cannot give: a raw server ------------------------------------------


class RawServer:
    """A server on 127.0.0.1 answering every request with the bytes ``answer(port)`` makes.

    ``eager`` answers as soon as a client connects, without reading its request.
    """

    def __init__(self, answer: Callable[[int], bytes], *, eager: bool = False) -> None:
        self._answer = answer
        self._eager = eager
        self._server: asyncio.Server | None = None
        self.port = 0
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not self._eager:
                await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(self._answer(self.port))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away first
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def redirect_to(location: str, status: int = 302) -> Callable[[int], bytes]:
    """An answer redirecting to ``location`` (``{port}`` becomes the server's port)."""
    return lambda port: (
        f"HTTP/1.1 {status} Moved\r\nLocation: {location.format(port=port)}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


def status_line(status: int, body: bytes = b"") -> Callable[[int], bytes]:
    """An answer with any status code at all, 999 included."""
    head = f"HTTP/1.1 {status:03d} Odd\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return lambda port: head.encode() + body


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        ("http://[::1", "invalid location 'http://[::1' (Invalid IPv6 URL)"),
        ("http://127.0.0.1:99999/", "invalid location 'http://127.0.0.1:99999/' (Port out of"),
        ("http://127.0.0.1:0/", "invalid location 'http://127.0.0.1:0/' (port 0 is not a port"),
        ("https:///api/v1/image-models", "location without a host: 'https:///api/v1/image-models'"),
    ],
)
async def test_an_invalid_redirect_is_a_transport_error(
    recording_clock: RecordingClock, location: str, complaint: str
) -> None:
    """A redirect to a URL that cannot be followed is a TransportError naming it, not ValueError."""
    async with RawServer(redirect_to(location)) as server:
        transport = Transport(api_key=KEY, base_url=server.url, clock=recording_clock)
        with pytest.raises(TransportError) as info:
            await transport.fetch()
        await transport.close()
    assert complaint in str(info.value)
    assert server.requests == 1  # the server's answer will not change: not retried


async def test_a_redirect_with_credentials_in_it_is_refused(
    recording_clock: RecordingClock,
) -> None:
    """A same-origin Location with user:password@ is refused, not aiohttp's ValueError."""
    async with RawServer(
        redirect_to("http://user:pw@127.0.0.1:{port}/api/v1/image-models")
    ) as server:
        transport = Transport(api_key=KEY, base_url=server.url, clock=recording_clock)
        with pytest.raises(TransportError) as info:
            await transport.fetch()
        await transport.close()
    assert "to a location with a user name or password in it; refused" in str(info.value)
    assert "pw" not in str(info.value)
    assert server.requests == 1


async def test_a_redirect_quoting_the_key_is_not_followed(recording_clock: RecordingClock) -> None:
    """A Location that would put the key into a URL (and a proxy's log) is refused."""
    async with RawServer(redirect_to("/api/v1/image-models?key=" + KEY)) as server:
        transport = Transport(api_key=KEY, base_url=server.url, clock=recording_clock)
        with pytest.raises(TransportError, match="quoting the API key; refused") as info:
            await transport.fetch()
        await transport.close()
    assert KEY not in str(info.value)
    assert server.requests == 1


async def test_a_redirect_to_port_zero_is_not_reported_as_port_80(
    recording_clock: RecordingClock,
) -> None:
    """With base_url on the default port, a Location with port 0 is invalid, not 'same origin'."""
    transport = Transport(api_key=None, base_url="http://127.0.0.1", clock=recording_clock)
    with pytest.raises(TransportError, match="port 0 is not a port"):
        transport._redirect_target(transport.url, "http://127.0.0.1:0/", 302)


@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")  # aiohttp's auth= itself
async def test_a_borrowed_session_with_auth_and_a_key_is_refused_at_construction() -> None:
    """aiohttp cannot send both; the constructor says so, naming both options."""
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "pw")) as borrowed:
        with pytest.raises(ValueError, match="http_session was made with auth= and api_key"):
            Transport(api_key=KEY, base_url="https://nano-gpt.com", http_session=borrowed)
        Transport(api_key=None, base_url="https://nano-gpt.com", http_session=borrowed)


async def test_a_request_aiohttp_refuses_is_a_transport_error(
    small_fake: FakeNanoGPT,
    recording_clock: RecordingClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A borrowed trust_env session finding a netrc login: aiohttp's ValueError becomes ours."""
    netrc = tmp_path / "netrc"
    netrc.write_text("default login user password pw\n")
    monkeypatch.setenv("NETRC", str(netrc))
    async with aiohttp.ClientSession(trust_env=True) as borrowed:
        transport = Transport(
            api_key=KEY, base_url=small_fake.url, http_session=borrowed, clock=recording_clock
        )
        with pytest.raises(TransportError) as info:
            await transport.fetch()
    assert str(info.value).startswith(
        f"could not send the request to {small_fake.url}/api/v1/image-models: ValueError: "
        "Cannot combine AUTHORIZATION header"
    )
    assert isinstance(info.value.__cause__, ValueError)
    assert recording_clock.sleeps == []  # the same request would be refused again: not retried
    assert small_fake.request_count == 0


@pytest.mark.parametrize("status", [99, 399, 600, 999])
async def test_a_status_outside_the_error_range_is_unexpected_not_a_server_error(
    recording_clock: RecordingClock, status: int
) -> None:
    """Only 500-599 is a ServerError; 999 or a 3xx without Location says the status was odd."""
    async with RawServer(status_line(status, b"nope")) as server:
        transport = Transport(api_key=None, base_url=server.url, clock=recording_clock)
        with pytest.raises(APIStatusError) as info:
            await transport.fetch()
        await transport.close()
    assert type(info.value) is APIStatusError
    assert info.value.status == status
    assert str(info.value) == (
        f"HTTP {status}: unexpected status (neither a success nor an error status); "
        "the server said: nope"
    )
    assert server.requests == 1


async def test_https_to_a_plain_http_server_is_a_transport_error(
    recording_clock: RecordingClock,
) -> None:
    """A TLS failure (here: the server does not speak TLS) is a TransportError naming it."""
    async with RawServer(status_line(200, b"{}"), eager=True) as server:
        transport = Transport(
            api_key=None,
            base_url=f"https://127.0.0.1:{server.port}",
            max_retries=0,
            clock=recording_clock,
        )
        try:
            with pytest.raises(
                TransportError, match=r"could not connect to 127\.0\.0\.1:\d+: .*SSL"
            ):
                await transport.fetch()
        finally:
            await transport.close()


# -- how long it took, and how often it was tried ----------------------------------------------


async def test_a_timeout_after_retries_says_how_long_it_all_took(
    small_fake: FakeNanoGPT, make: MakeTransport, recording_clock: RecordingClock
) -> None:
    """The final timeout names the attempts and the whole wait, not one attempt's limit."""
    small_fake.delay(2.0)
    with pytest.raises(RequestTimeoutError) as info:
        await make(timeout=0.05, max_retries=2, backoff_base=1.0).fetch()
    assert recording_clock.sleeps == [
        0.5,
        1.0,
    ]  # the fake time that passed: the backoff between tries
    assert str(info.value) == (
        f"no complete answer from {small_fake.url}/api/v1/image-models after 3 attempts over 1.5 s "
        "(timeout=0.05 s per attempt)"
    )
    assert isinstance(info.value.__cause__, TimeoutError)
    assert small_fake.request_count == 3


async def test_thousands_of_retries_keep_the_backoff_at_its_cap() -> None:
    """max_retries past 1,024 no longer overflows the backoff: each wait stays at backoff_cap."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recording_clock = InstantClock()
    transport = Transport(
        api_key=None,
        base_url=f"http://127.0.0.1:{port}",
        max_retries=1100,
        clock=recording_clock,
        random=lambda: 1.0,
    )
    with pytest.raises(TransportError, match="connection refused"):
        await transport.fetch()
    await transport.close()
    assert len(recording_clock.sleeps) == 1100
    assert recording_clock.sleeps[-100:] == [8.0] * 100


class InstantClock(FakeClock):
    """A FakeClock whose sleeps return at once (moving fake time), remembering each wait."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.advance(seconds)
