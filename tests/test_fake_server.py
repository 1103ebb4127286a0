"""FakeNanoGPT's own knobs, checked with a plain aiohttp client over loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from email.utils import formatdate
from http.client import HTTPConnection
from typing import TYPE_CHECKING

import aiohttp
import pytest

from nanogpt_images.testing import (
    FakeNanoGPT,
    RecordedRequest,
    basic_model_payload,
    catalog_payload,
    model_payload,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

#: One complete detailed entry with the identifiers the tests check, and one bare entry.
CATALOG = catalog_payload(
    [model_payload("flux-pro", created=1704067200, owned_by="bfl"), basic_model_payload("hidream")]
)
PATH = "/api/v1/image-models"


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeNanoGPT]:
    async with FakeNanoGPT(CATALOG) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, fake_server: FakeNanoGPT, path: str = PATH, **headers: str
) -> tuple[int, Mapping[str, str], bytes]:
    """One GET; returns status, headers (case-insensitive) and the raw body."""
    async with http.get(fake_server.url + path, headers=headers, allow_redirects=False) as response:
        return response.status, response.headers.copy(), await response.read()


async def yield_to_loop(rounds: int = 20) -> None:
    """Give every ready task a few turns, so one that could finish would have."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# -- serving the catalog -----------------------------------------------------------------


async def test_detailed_catalog_is_served_verbatim(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """``detailed=true`` (and no query) returns the catalog exactly as given."""
    status, headers, body = await get(http, fake_server, PATH + "?detailed=true")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == CATALOG
    _, _, plain = await get(http, fake_server)
    assert json.loads(plain) == CATALOG
    assert fake_server.request_count == 2


async def test_basic_catalog_keeps_only_identifiers(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """``detailed=false`` keeps the envelope and cuts models to id, object, created, owned_by."""
    _, _, body = await get(http, fake_server, PATH + "?detailed=false")
    data = json.loads(body)
    assert data["object"] == "list"
    assert data["meta"] == CATALOG["meta"]
    assert data["data"][0] == {
        "id": "flux-pro",
        "object": "model",
        "created": 1704067200,
        "owned_by": "bfl",
    }
    assert fake_server.request_count == 1


async def test_default_catalog_is_the_bundled_sample(http: aiohttp.ClientSession) -> None:
    """With no catalog argument the server serves the realistic sample catalog."""
    async with FakeNanoGPT() as fake_server:
        _, _, body = await get(http, fake_server)
    data = json.loads(body)
    assert len(data["data"]) > 100
    assert data["meta"]["count"] == len(data["data"])
    assert fake_server.request_count == 1


async def test_gzip_is_used_when_asked_for(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Like NanoGPT, the server compresses the catalog for clients that accept gzip."""
    _, headers, body = await get(http, fake_server, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert json.loads(body) == CATALOG
    assert fake_server.request_count == 1


async def test_unknown_paths_get_a_404_envelope(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Any other path answers 404 with an OpenAI-style error, and is still logged."""
    status, _, body = await get(http, fake_server, "/api/v1/models")
    assert status == 404
    assert json.loads(body)["error"]["type"] == "not_found_error"
    assert fake_server.requests[0].path == "/api/v1/models"
    assert fake_server.request_count == 1


async def test_every_response_has_a_request_id(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """X-Request-ID is on successes and errors alike, numbered per request."""
    fake_server.fail_next(1, 500)
    first = await get(http, fake_server)
    second = await get(http, fake_server)
    assert first[1]["X-Request-ID"] == "fake-req-1"
    assert second[1]["X-Request-ID"] == "fake-req-2"
    assert fake_server.request_count == 2


# -- lifecycle ------------------------------------------------------------------------------


async def test_url_needs_a_started_server() -> None:
    """``.url`` before start() is an error that says what to do."""
    fake_server = FakeNanoGPT(CATALOG)
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake_server.url
    await fake_server.start()
    await fake_server.start()
    assert fake_server.url.startswith("http://127.0.0.1:")
    await fake_server.close()
    await fake_server.close()


async def test_closed_server_refuses_connections(http: aiohttp.ClientSession) -> None:
    """After close() the port no longer answers."""
    async with FakeNanoGPT(CATALOG) as fake_server:
        url = fake_server.url
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(url + PATH)
    assert fake_server.request_count == 0


# -- mutating the catalog --------------------------------------------------------------------


async def test_mutations_keep_meta_count_and_change_the_etag(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """add/update/remove change what is served, keep meta.count right, and move the ETag."""
    etags = [(await get(http, fake_server))[1]["ETag"]]
    fake_server.add_model({"id": "new-model", "object": "model", "created": 2, "owned_by": "x"})
    etags.append((await get(http, fake_server))[1]["ETag"])
    fake_server.update_model("flux-pro", name="Flux Pro 2")
    etags.append((await get(http, fake_server))[1]["ETag"])
    fake_server.remove_model("hidream")
    _, headers, body = await get(http, fake_server)
    etags.append(headers["ETag"])
    data = json.loads(body)
    assert [m["id"] for m in data["data"]] == ["flux-pro", "new-model"]
    assert data["data"][0]["name"] == "Flux Pro 2"
    assert data["meta"]["count"] == 2
    assert len(set(etags)) == 4
    assert fake_server.request_count == 4


async def test_set_catalog_is_served_verbatim(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """set_catalog serves exactly what it was given, an inconsistent meta.count included."""
    odd = {"object": "list", "data": [], "meta": {"count": 7}, "surprise": True}
    fake_server.set_catalog(odd)
    _, _, body = await get(http, fake_server)
    assert json.loads(body) == odd
    assert fake_server.catalog == odd
    assert fake_server.request_count == 1


def test_unknown_model_ids_raise_key_error() -> None:
    """remove_model and update_model on a missing id raise KeyError."""
    fake_server = FakeNanoGPT(CATALOG)
    with pytest.raises(KeyError):
        fake_server.remove_model("nope")
    with pytest.raises(KeyError):
        fake_server.update_model("nope", name="x")


def test_catalog_is_copied_in_and_out() -> None:
    """Mutating the dict you passed, or the one you read, does not change what is served."""
    mine = json.loads(json.dumps(CATALOG))
    fake_server = FakeNanoGPT(mine)
    mine["data"].clear()
    fake_server.catalog["data"].clear()
    assert fake_server.catalog == CATALOG


# -- conditional GET ----------------------------------------------------------------------------


async def test_matching_etag_gets_304(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """If-None-Match with the current ETag answers 304 with no body."""
    _, headers, _ = await get(http, fake_server)
    status, again, body = await get(http, fake_server, **{"If-None-Match": headers["ETag"]})
    assert status == 304
    assert body == b""
    assert again["ETag"] == headers["ETag"]
    assert fake_server.request_count == 2


async def test_if_modified_since_gets_304(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """If-Modified-Since at or after Last-Modified answers 304."""
    _, headers, _ = await get(http, fake_server)
    status, _, _ = await get(http, fake_server, **{"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    old = formatdate(0, usegmt=True)
    status, _, _ = await get(http, fake_server, **{"If-Modified-Since": old})
    assert status == 200
    assert fake_server.request_count == 3


async def test_if_none_match_wins_over_if_modified_since(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """A stale ETag means 200 even when the date would match (RFC 9110)."""
    _, headers, _ = await get(http, fake_server)
    status, _, _ = await get(
        http,
        fake_server,
        **{"If-None-Match": '"stale"', "If-Modified-Since": headers["Last-Modified"]},
    )
    assert status == 200
    assert fake_server.request_count == 2


async def test_etag_off_sends_no_validators(http: aiohttp.ClientSession) -> None:
    """``etag=False`` sends neither ETag nor Last-Modified and never answers 304."""
    async with FakeNanoGPT(CATALOG, etag=False) as fake_server:
        status, headers, _ = await get(http, fake_server, **{"If-None-Match": "*"})
    assert status == 200
    assert "ETag" not in headers
    assert "Last-Modified" not in headers
    assert fake_server.request_count == 1


# -- keys and the request log ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Bearer sk-right"}, 200),
        ({"x-api-key": "sk-right"}, 200),
    ],
)
async def test_require_key(
    headers: dict[str, str], status: int, http: aiohttp.ClientSession
) -> None:
    """``require_key`` accepts the key as Bearer or x-api-key and answers 401 otherwise."""
    async with FakeNanoGPT(CATALOG, require_key="sk-right") as fake_server:
        got, _, body = await get(http, fake_server, **headers)
    assert got == status
    if status == 401:
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert fake_server.request_count == 1


async def test_request_log_masks_keys(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """The log keeps method, path, query and lower-cased headers, with keys masked."""
    await get(http, fake_server, PATH + "?detailed=false", Authorization="Bearer sk-secret")
    await get(http, fake_server, **{"x-api-key": "sk-secret"})
    first, second = fake_server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query) == ("GET", PATH, {"detailed": "false"})
    assert first.headers["authorization"] == "***"
    assert second.headers["x-api-key"] == "***"
    assert "sk-secret" not in repr(fake_server.requests)
    fake_server.clear_requests()
    assert fake_server.request_count == 0


# -- faults --------------------------------------------------------------------------------------


async def test_fail_next_uses_an_openai_envelope_and_retry_after(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """fail_next answers n requests with the status, an error envelope and Retry-After."""
    fake_server.fail_next(2, 429, retry_after=5)
    for _ in range(2):
        status, headers, body = await get(http, fake_server)
        assert status == 429
        assert headers["Retry-After"] == "5"
        assert json.loads(body)["error"]["type"] == "rate_limit_error"
    assert (await get(http, fake_server))[0] == 200
    assert fake_server.request_count == 3


async def test_fail_next_with_custom_bodies_and_headers(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Bodies may be a dict (JSON), HTML text, or bytes; extra headers are sent as given."""
    fake_server.fail_next(
        1, 400, body={"code": "bad", "message": "no"}, headers={"X-Request-ID": "r1"}
    )
    fake_server.fail_next(1, 502, body="<html>bad gateway</html>")
    status, headers, body = await get(http, fake_server)
    assert (status, headers["X-Request-ID"], json.loads(body)) == (
        400,
        "r1",
        {"code": "bad", "message": "no"},
    )
    status, headers, body = await get(http, fake_server)
    assert (status, headers["Content-Type"], body) == (
        502,
        "text/html; charset=utf-8",
        b"<html>bad gateway</html>",
    )
    assert fake_server.request_count == 2


async def test_respond_next_sends_exact_bytes(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """respond_next serves any status with exactly these bytes."""
    fake_server.respond_next(418, b"\x00\xffnot json")
    status, _, body = await get(http, fake_server)
    assert (status, body) == (418, b"\x00\xffnot json")
    assert fake_server.request_count == 1


async def test_queued_answers_come_in_order(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Knobs queue up: each request takes the next queued answer, then normal service resumes."""
    fake_server.fail_next(1, 503)
    fake_server.fault_next("html_200")
    fake_server.redirect_next("/elsewhere")
    statuses = [(await get(http, fake_server))[0] for _ in range(4)]
    assert statuses == [503, 200, 302, 200]
    assert fake_server.request_count == 4


async def test_malformed_json(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``malformed_json`` is a 200 whose body is not JSON."""
    fake_server.fault_next("malformed_json")
    status, _, body = await get(http, fake_server)
    assert status == 200
    with pytest.raises(ValueError, match="Expecting"):
        json.loads(body)
    assert fake_server.request_count == 1


async def test_truncated_json(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``truncated_json`` is a complete 200 carrying the first half of the catalog."""
    full = json.dumps(CATALOG).encode()
    fake_server.fault_next("truncated_json")
    status, _, body = await get(http, fake_server)
    assert (status, body) == (200, full[: len(full) // 2])
    assert fake_server.request_count == 1


async def test_html_200(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``html_200`` is an HTML error page sent with status 200."""
    fake_server.fault_next("html_200")
    status, headers, body = await get(http, fake_server)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"Bad Gateway" in body
    assert fake_server.request_count == 1


async def test_json_array(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``json_array`` is the data list without its envelope."""
    fake_server.fault_next("json_array")
    _, _, body = await get(http, fake_server)
    assert json.loads(body) == CATALOG["data"]
    assert fake_server.request_count == 1


async def test_drop_connection(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``drop_connection`` sends half the body and hangs up; the client sees a payload error."""
    fake_server.fault_next("drop_connection")
    with pytest.raises(aiohttp.ClientPayloadError):
        await get(http, fake_server)
    assert (await get(http, fake_server))[0] == 200
    assert fake_server.request_count == 2


async def test_oversized(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """``oversized`` streams exactly ``size`` bytes of JSON, chunked, with no Content-Length."""
    fake_server.fault_next("oversized", size=300_000)
    status, headers, body = await get(http, fake_server)
    assert status == 200
    assert "Content-Length" not in headers
    assert len(body) == 300_000
    assert json.loads(body)["data"] == []
    assert fake_server.request_count == 1


def test_unknown_fault_is_rejected() -> None:
    """A fault name that does not exist is a ValueError listing the real ones."""
    with pytest.raises(ValueError, match="drop_connection"):
        FakeNanoGPT(CATALOG).fault_next("explode")  # type: ignore[arg-type]


async def test_redirect_next(fake_server: FakeNanoGPT, http: aiohttp.ClientSession) -> None:
    """redirect_next answers with the status and Location given."""
    fake_server.redirect_next("http://example.invalid/x", status=308)
    status, headers, _ = await get(http, fake_server)
    assert (status, headers["Location"]) == (308, "http://example.invalid/x")
    assert fake_server.request_count == 1


async def test_delay_holds_answers_until_turned_off(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """delay() holds every answer for real time, so a short client timeout fires."""
    fake_server.delay(2.0)
    with pytest.raises(TimeoutError):
        async with http.get(fake_server.url + PATH, timeout=aiohttp.ClientTimeout(total=0.05)):
            pass
    fake_server.delay(0)
    assert (await get(http, fake_server))[0] == 200
    assert fake_server.request_count == 2


# -- the gate ---------------------------------------------------------------------------------


async def test_hold_keeps_requests_in_flight_until_release(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Held requests reach the server but get no answer until release(); later ones are not held."""
    fake_server.hold()
    held = [asyncio.create_task(get(http, fake_server)) for _ in range(3)]
    await fake_server.wait_for_requests(3)
    await yield_to_loop()
    assert not any(task.done() for task in held)
    fake_server.release()
    answers = await asyncio.gather(*held)
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert json.loads(answers[0][2]) == CATALOG
    assert (await get(http, fake_server))[0] == 200
    assert fake_server.request_count == 4


async def test_hold_before_start_holds_the_first_request(http: aiohttp.ClientSession) -> None:
    """hold() works on a server that is not started yet, and holds again after a release."""
    fake_server = FakeNanoGPT(CATALOG)
    fake_server.hold()
    async with fake_server:
        first = asyncio.create_task(get(http, fake_server))
        await fake_server.wait_for_requests(1)
        fake_server.release()
        assert (await first)[0] == 200
        fake_server.hold()
        second = asyncio.create_task(get(http, fake_server))
        await fake_server.wait_for_requests(2)
        await yield_to_loop()
        assert not second.done()
        fake_server.release()
        assert (await second)[0] == 200


async def test_held_answers_keep_their_queued_faults(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """A held request still takes the next queued answer once released."""
    fake_server.hold()
    fake_server.fail_next(1, 503)
    held = asyncio.create_task(get(http, fake_server))
    await fake_server.wait_for_requests(1)
    fake_server.release()
    assert (await held)[0] == 503
    assert fake_server.request_count == 1


async def test_close_releases_held_requests(http: aiohttp.ClientSession) -> None:
    """close() lets a held request through instead of leaving it hanging."""
    fake_server = FakeNanoGPT(CATALOG)
    await fake_server.start()
    fake_server.hold()
    held = asyncio.create_task(get(http, fake_server))
    await fake_server.wait_for_requests(1)
    await fake_server.close()
    status, _, body = await held
    assert (status, json.loads(body)) == (200, CATALOG)


async def test_wait_for_requests_returns_when_they_arrive(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """wait_for_requests() returns once the count is reached, and says so when it is not."""
    await fake_server.wait_for_requests(0)
    fake_server.hold()
    held = asyncio.create_task(get(http, fake_server))
    await fake_server.wait_for_requests(1)
    assert fake_server.request_count == 1
    assert not held.done()
    with pytest.raises(TimeoutError, match=r"saw 1 requests, not 2, within 0\.01 s"):
        await fake_server.wait_for_requests(2, give_up_after=0.01)
    fake_server.release()
    assert (await held)[0] == 200


# -- on a thread of its own -------------------------------------------------------------------


def http_get(url: str, path: str = PATH) -> tuple[int, bytes]:
    """One blocking GET from this thread (no event loop), as a plain ``def`` test makes it."""
    host, port = url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_in_thread_serves_a_plain_def_test() -> None:
    """``with FakeNanoGPT().in_thread()`` answers a test with no running loop, then goes away."""
    before = set(threading.enumerate())
    with FakeNanoGPT(CATALOG).in_thread() as fake_server:
        status, body = http_get(fake_server.url)
        url = fake_server.url
    assert (status, json.loads(body)) == (200, CATALOG)
    assert fake_server.request_count == 1
    assert set(threading.enumerate()) == before  # the server's thread is gone
    with pytest.raises(ConnectionRefusedError):
        http_get(url)


def test_in_thread_knobs_work_from_the_test_thread() -> None:
    """Faults, catalog changes and the request log work from the test's thread."""
    with FakeNanoGPT(CATALOG).in_thread() as fake_server:
        fake_server.fail_next(1, 503)
        fake_server.add_model(model_payload("new-model"))
        fake_server.update_model("flux-pro", name="Flux 2")
        with pytest.raises(KeyError):
            fake_server.remove_model("no-such-model")
        assert http_get(fake_server.url)[0] == 503
        status, body = http_get(fake_server.url)
        served = json.loads(body)
        assert status == 200
        assert [model["id"] for model in served["data"]] == ["flux-pro", "hidream", "new-model"]
        assert served["data"][0]["name"] == "Flux 2"
        assert fake_server.catalog == served
        assert [request.path for request in fake_server.requests] == [PATH, PATH]
        fake_server.clear_requests()
        assert fake_server.request_count == 0


async def test_in_thread_hold_release_and_wait_work_from_another_loop(
    http: aiohttp.ClientSession,
) -> None:
    """A test in its own loop can hold, wait for and release requests to a threaded server."""
    with FakeNanoGPT(CATALOG).in_thread() as fake_server:
        fake_server.hold()
        held = asyncio.create_task(get(http, fake_server))
        await fake_server.wait_for_requests(1)
        await yield_to_loop()
        assert not held.done()
        fake_server.release()
        status, _, body = await asyncio.wait_for(held, 10)
        assert (status, json.loads(body)) == (200, CATALOG)


def test_in_thread_refuses_a_started_server() -> None:
    """A server already serving cannot be moved to a thread; the error says so."""
    with FakeNanoGPT(CATALOG).in_thread() as fake_server:
        with pytest.raises(RuntimeError, match="already started"), fake_server.in_thread():
            pass
        assert http_get(fake_server.url)[0] == 200


async def test_in_thread_server_closes_from_another_loop(http: aiohttp.ClientSession) -> None:
    """``await close()`` from the test's loop stops a threaded server; leaving the block is fine."""
    with FakeNanoGPT(CATALOG).in_thread() as fake_server:
        assert (await get(http, fake_server))[0] == 200
        await fake_server.close()
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(http, fake_server)
    assert fake_server.request_count == 1


async def test_clear_faults_ends_an_outage_at_once(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """Queued failures are dropped by clear_faults(); the next request is served normally."""
    fake_server.fail_next(1000, 503)
    assert (await get(http, fake_server))[0] == 503
    fake_server.clear_faults()
    assert (await get(http, fake_server))[0] == 200


async def test_hold_of_one_path_leaves_the_others_served(
    fake_server: FakeNanoGPT, http: aiohttp.ClientSession
) -> None:
    """hold(path=...) holds only that route: the catalog is still served meanwhile."""
    fake_server.hold(path="/api/v1/models")
    held = asyncio.create_task(get(http, fake_server, "/api/v1/models"))
    await fake_server.wait_for_requests(1)
    assert (await get(http, fake_server))[0] == 200  # the catalog route is not held
    await yield_to_loop()
    assert not held.done()
    fake_server.release()
    assert (await held)[0] == 404  # answered once released (this fake serves no /models)
