"""FakeNanoGPT: a real aiohttp server on 127.0.0.1 that plays NanoGPT's catalog routes.

It serves one catalog as ``GET /api/v1/image-models`` and, derived from it,
as ``GET /api/v1/images/models``, with ``GET
/api/v1/images/models/{id}/endpoints`` for each of its models.

It also plays the generation route (``POST /v1/images/generations``): tiny
valid PNGs, billed at the catalog's price from a balance it keeps, with the
key required.

Tests talk to it over loopback exactly as the SDK talks to NanoGPT, so what
the tests exercise is the real HTTP path. Faults are queued: each knob adds
"next response" actions that the following requests consume in order; once
the queue is empty the server answers normally again. :meth:`FakeNanoGPT.hold`
keeps answers waiting until :meth:`FakeNanoGPT.release`, so a test can have a
request in flight for as long as it likes without real time passing.

The server runs in the event loop that starts it (``async with``), or, with
:meth:`FakeNanoGPT.in_thread`, on a thread and loop of its own for code that
does not run in the test's loop (a plain ``def`` test with Starlette's
``TestClient``, a test run by anyio).  Then every knob hands its work to the
server's thread, so the server's state is only ever touched there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import functools
import hashlib
import json
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, Self, TypeVar

import attrs
from aiohttp import web

from ._factories import error_body
from ._image_api import (
    ENDPOINTS_PREFIX,
    ENDPOINTS_SUFFIX,
    IMAGES_PATH,
    endpoints_body,
    images_catalog,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["BILLED_500_BODY", "FakeNanoGPT", "Fault", "RecordedRequest", "png_bytes"]

CATALOG_PATH = "/api/v1/image-models"
GENERATION_PATHS = frozenset({"/v1/images/generations", "/api/v1/images/generations"})
FILES_PATH = "/files/"
#: The body of the real 500 NanoGPT sent when a generation failed after it was billed.
BILLED_500_BODY: Mapping[str, Any] = {
    "error": (
        "Image generation failed after provider processing may have started, so this request "
        "has been billed. Image generation failed. Please try a different prompt or image."
    ),
    "code": "",
}
BASIC_FIELDS = ("id", "object", "created", "owned_by")
MASKED_HEADERS = frozenset({"authorization", "x-api-key"})

Fault = Literal[
    "malformed_json",
    "truncated_json",
    "html_200",
    "json_array",
    "drop_connection",
    "oversized",
    "bad_http",
    "billed_500",
    "no_answer",
]
"""What :meth:`FakeNanoGPT.fault_next` can serve instead of the usual answer."""

_Action = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = web.RequestKey("fake_request_id", str)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _on_server_thread(
    method: Callable[Concatenate[FakeNanoGPT, _P], _R],
) -> Callable[Concatenate[FakeNanoGPT, _P], _R]:
    """Run a knob on the server's thread when it serves from one (:meth:`FakeNanoGPT.in_thread`).

    The caller waits for the result, so the knob has taken effect when it
    returns, and its exceptions (a ``KeyError`` for an unknown id) reach the caller.
    """

    @functools.wraps(method)
    def knob(self: FakeNanoGPT, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        loop = self._elsewhere()
        if loop is None:
            return method(self, *args, **kwargs)
        return asyncio.run_coroutine_threadsafe(_call(method, self, *args, **kwargs), loop).result()

    return knob


async def _call(function: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    return function(*args, **kwargs)


@attrs.frozen
class RecordedRequest:
    """One request the fake server received.

    Header names are lower-case; ``authorization`` and ``x-api-key`` values
    are masked as ``'***'`` so a log of requests never holds a key.  ``json``
    is the parsed JSON body of a request that had one (``None`` otherwise),
    with any copy of the presented key masked too.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any = None


class FakeNanoGPT:
    """A local NanoGPT stand-in serving ``GET /api/v1/image-models`` on 127.0.0.1, port 0.

    The same catalog is served on the Image API route, ``GET
    /api/v1/images/models``, and each model's endpoint details on ``GET
    /api/v1/images/models/{id}/endpoints`` (derived from its catalog entry;
    :meth:`set_endpoints` overrides them).  Faults apply to every route.
    ``catalog`` defaults to the bundled sample catalog. ``etag`` turns
    ``ETag``/``Last-Modified`` and 304 answers on; ``require_key`` makes
    requests without that key (Bearer or ``x-api-key``) get a 401.
    :meth:`hold` and :meth:`release` gate every answer, for tests that need a
    request to stay in flight; :meth:`close` releases held answers.
    ``with fake.in_thread():`` serves from a thread of its own instead of the
    caller's event loop.

    ``POST /v1/images/generations`` (also under ``/api``) needs a key (any
    key, or ``require_key``), checks the model against the catalog, bills
    the catalog's price for the size and count asked for from ``balance``
    (a 402 with ``requiredBalance`` when it does not cover it) and answers
    OpenAI-style, with ``cost``, ``remainingBalance`` and ``paymentSource``.
    Images are tiny valid PNGs, inline (``b64_json``) or, with
    ``response_format="url"``, as links this server serves.
    """

    def __init__(
        self,
        catalog: Mapping[str, Any] | None = None,
        *,
        etag: bool = True,
        require_key: str | None = None,
        balance: Decimal | int | str = Decimal("10"),
    ) -> None:
        if catalog is None:
            from ._sample import sample_catalog

            catalog = sample_catalog()
        self.etag = etag
        self.require_key = require_key
        self.balance = Decimal(balance)
        """The USD balance generations are billed from; set it to test a 402."""
        self.requests: list[RecordedRequest] = []
        self._files: dict[str, bytes] = {}
        self._images_made = 0
        self._parsed: Any = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._catalog: dict[str, Any] = copy.deepcopy(dict(catalog))
        self._modified = int(time.time())
        self._bodies: dict[tuple[str, bool], bytes] = {}
        self._endpoints: dict[str, Any] = {}
        self._actions: deque[tuple[str | None, _Action]] = deque()
        self._delay = 0.0
        self._held = False
        self._held_path: str | None = None  # hold only this path's requests (None: all)
        self._released: asyncio.Event | None = None  # created by start(), inside the loop
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._url: str | None = None
        self._thread: threading.Thread | None = None  # set while in_thread() serves
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening on a free loopback port; ``.url`` is valid afterwards."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(_stamp_request_id)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._closing = asyncio.Event()
        self._released = asyncio.Event()
        if not self._held:
            self._released.set()
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[Self]:
        """Serve from a thread and event loop of its own until the ``with`` block ends.

        For code that does not run in the caller's event loop: a plain
        ``def`` test (Starlette's ``TestClient``, ``requests``), a test that
        anyio runs, a thread of your own.  Every knob, catalog change and
        :attr:`requests` may be used from any thread; ``await
        wait_for_requests()`` works from any event loop.  Leaving the block
        closes the server and ends its thread.
        """
        if self._runner is not None:
            raise RuntimeError(
                "FakeNanoGPT is already started; in_thread() starts a server that is not"
            )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="FakeNanoGPT", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
            self._thread, self._thread_loop = thread, loop
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result()
            self._thread = self._thread_loop = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def close(self) -> None:
        """Stop the server and drop its connections, releasing held answers. Idempotent."""
        if (loop := self._elsewhere()) is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.close(), loop))
            return
        runner, self._runner = self._runner, None
        self.release()
        if self._closing is not None:
            self._closing.set()
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321``; pass it as ``base_url``."""
        if self._url is None:
            raise RuntimeError("FakeNanoGPT is not started; use 'async with' or await start()")
        return self._url

    @property
    def request_count(self) -> int:
        """How many requests arrived, on any path."""
        return len(self.requests)

    # -- the catalog -------------------------------------------------------------

    @property
    @_on_server_thread
    def catalog(self) -> dict[str, Any]:
        """A copy of the catalog being served (``detailed=true`` form)."""
        return copy.deepcopy(self._catalog)

    @_on_server_thread
    def set_catalog(self, catalog: Mapping[str, Any]) -> None:
        """Serve this catalog from now on, verbatim (``meta.count`` is not touched)."""
        self._catalog = copy.deepcopy(dict(catalog))
        self._changed(recount=False)

    @_on_server_thread
    def add_model(self, model: Mapping[str, Any]) -> None:
        """Append a model to ``data`` (``meta.count`` follows)."""
        self._models().append(copy.deepcopy(dict(model)))
        self._changed()

    @_on_server_thread
    def remove_model(self, model_id: str) -> None:
        """Remove the model with this id; ``KeyError`` if there is none."""
        models = self._models()
        models.remove(self._find(model_id))
        self._changed()

    @_on_server_thread
    def update_model(self, /, model_id: str, **fields: Any) -> None:
        """Set top-level fields of one model, e.g. ``update_model("flux-pro", name="Flux")``."""
        self._find(model_id).update(copy.deepcopy(fields))
        self._changed()

    @_on_server_thread
    def set_endpoints(self, model_id: str, body: Mapping[str, Any] | None) -> None:
        """Serve ``body`` as the endpoint details of ``model_id`` (any id, listed or not).

        ``None`` goes back to the details derived from the catalog entry.
        """
        if body is None:
            self._endpoints.pop(model_id, None)
        else:
            self._endpoints[model_id] = copy.deepcopy(dict(body))

    @_on_server_thread
    def endpoints_of(self, model_id: str) -> dict[str, Any] | None:
        """The endpoint details served for ``model_id``; ``None`` when it gets a 404."""
        if model_id in self._endpoints:
            body: dict[str, Any] = copy.deepcopy(self._endpoints[model_id])
            return body
        try:
            return endpoints_body(self._find(model_id))
        except (KeyError, TypeError):
            return None

    # -- faults and delays -------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        body: Mapping[str, Any] | str | bytes | None = None,
        retry_after: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status``.

        ``body`` defaults to an OpenAI-style ``{"error": {...}}`` envelope; a
        dict is sent as JSON, a str as text (HTML if it starts with ``<``).
        ``retry_after`` becomes the ``Retry-After`` header (seconds or an HTTP date).
        With ``path`` (say ``"/v1/images/generations"``) only requests to that
        path take the answer; the others are served as usual meanwhile.
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = (
                retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
            )
        payload = _error_envelope(status) if body is None else body
        self.respond_next(status, payload, headers=extra, n=n, path=path)

    def respond_next(
        self,
        status: int,
        body: Mapping[str, Any] | list[Any] | str | bytes,
        *,
        headers: Mapping[str, str] | None = None,
        n: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests (to ``path``, if given) with exactly this status and body.

        The body may be any bytes.
        """
        raw, content_type = _encode(body)
        all_headers = {"Content-Type": content_type, **(headers or {})}

        async def respond(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=raw, headers=all_headers)

        self._queue(n, respond, path)

    def fault_next(
        self, kind: Fault, n: int = 1, *, size: int = 33 * 2**20, path: str | None = None
    ) -> None:
        """Serve a broken answer to the next ``n`` requests (to ``path``, if given).

        ``malformed_json``: invalid JSON with status 200; ``truncated_json``:
        the catalog cut in half (complete HTTP message); ``html_200``: an HTML
        error page with status 200; ``json_array``: the ``data`` list without
        its object envelope; ``drop_connection``: half the body, then the
        connection is closed; ``oversized``: ``size`` bytes, chunked, no
        ``Content-Length``; ``bad_http``: an answer that is not valid HTTP
        (``Content-Length: abc``), then the connection is closed;
        ``billed_500``: the real 500 NanoGPT sends when a generation failed
        after it was billed (:data:`BILLED_500_BODY`); ``no_answer``: the
        request is read whole, then the connection is closed unanswered.
        """
        faults: dict[str, _Action] = {
            "malformed_json": self._malformed_json,
            "truncated_json": self._truncated_json,
            "html_200": _html_200,
            "json_array": self._json_array,
            "drop_connection": self._drop_connection,
            "oversized": lambda request: _oversized(request, size),
            "bad_http": _bad_http,
            "billed_500": _billed_500,
            "no_answer": _no_answer,
        }
        if kind not in faults:
            raise ValueError(f"unknown fault {kind!r}; choose one of {sorted(faults)}")
        self._queue(n, faults[kind], path)

    def redirect_next(self, location: str, *, status: int = 302, n: int = 1) -> None:
        """Answer the next ``n`` requests with a redirect to ``location``."""

        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self._queue(n, redirect)

    @_on_server_thread
    def clear_faults(self) -> None:
        """Drop every queued fault, redirect and answer: the outage is over, service resumes."""
        self._actions.clear()

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` of real time before every answer; ``delay(0)`` turns it off."""
        self._delay = max(0.0, seconds)

    @_on_server_thread
    def hold(self, *, path: str | None = None) -> None:
        """Keep every answer (or only those to ``path``) waiting until :meth:`release`.

        A held request is already in :attr:`requests` (so ``request_count``
        shows it arrived) but gets no answer: it stays in flight for as long as
        the test needs, with no real time passing. Callable before ``start()``.
        ``path`` (say ``"/v1/images/generations"``) holds only that route, so
        the catalog is still served.
        """
        self._held = True
        self._held_path = path
        if self._released is not None:
            self._released.clear()

    @_on_server_thread
    def release(self) -> None:
        """Let held answers go, and serve later requests at once again (until the next hold)."""
        self._held = False
        if self._released is not None:
            self._released.set()

    @_on_server_thread
    def clear_requests(self) -> None:
        """Forget the request log."""
        self.requests.clear()

    async def wait_for_requests(self, count: int, *, give_up_after: float = 5.0) -> None:
        """Return once ``count`` requests have arrived (held ones included).

        For a test that must act while a request is in flight, with
        :meth:`hold`.  ``give_up_after`` is real seconds, only so that a broken
        test fails with a TimeoutError instead of hanging; a passing test
        never waits that long.
        """
        if len(self.requests) >= count:
            return
        if (loop := self._elsewhere()) is not None:
            waiting = self.wait_for_requests(count, give_up_after=give_up_after)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(waiting, loop))
            return
        arrived = asyncio.get_running_loop().create_future()
        self._waiters.append((count, arrived))
        try:
            async with asyncio.timeout(give_up_after):
                await arrived
        except TimeoutError:
            raise TimeoutError(
                f"FakeNanoGPT saw {len(self.requests)} requests, not {count}, "
                f"within {give_up_after} s"
            ) from None
        finally:
            self._waiters = [waiter for waiter in self._waiters if waiter[1] is not arrived]

    # -- serving -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read() if request.can_read_body else b""
        self._record(request, raw)
        released = self._released
        held_here = self._held_path is None or self._held_path == request.path
        if released is not None and not released.is_set() and held_here:
            await released.wait()
        if self._delay and self._closing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._delay)
        action = self._next_action(request.path)
        if action is not None:
            return await action(request)
        if request.method == "POST" and request.path in GENERATION_PATHS:
            return self._generate(request, raw)
        if request.method == "GET" and request.path.startswith(FILES_PATH):
            image = self._files.get(request.path[len(FILES_PATH) :])
            if image is not None:
                return web.Response(body=image, content_type="image/png")
        path = request.path
        details = path.startswith(ENDPOINTS_PREFIX) and path.endswith(ENDPOINTS_SUFFIX)
        if request.method != "GET" or (path not in (CATALOG_PATH, IMAGES_PATH) and not details):
            return _json_response(404, _error_envelope(404))
        if self.require_key is not None and _presented_key(request) != self.require_key:
            return _json_response(401, _error_envelope(401, "Invalid API key", "invalid_api_key"))
        if path == IMAGES_PATH:
            return self._serve_catalog(request, True, route=IMAGES_PATH)
        if details:
            model_id = path[len(ENDPOINTS_PREFIX) : -len(ENDPOINTS_SUFFIX)]
            found = self.endpoints_of(model_id)
            if found is None:
                message = f"Model {model_id} not found"
                return _json_response(404, _error_envelope(404, message, "model_not_found"))
            return _json_response(200, found)
        detailed = request.query.get("detailed", "true").lower() != "false"
        return self._serve_catalog(request, detailed)

    def _serve_catalog(
        self, request: web.Request, detailed: bool, *, route: str = CATALOG_PATH
    ) -> web.StreamResponse:
        body = self._body(detailed, route)
        headers: dict[str, str] = {}
        if self.etag:
            tag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            headers = {"ETag": tag, "Last-Modified": formatdate(self._modified, usegmt=True)}
            if _not_modified(request, tag, self._modified):
                return web.Response(status=304, headers=headers)
        response = web.Response(body=body, content_type="application/json", headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    def _body(self, detailed: bool, route: str = CATALOG_PATH) -> bytes:
        key = (route, detailed)
        if key not in self._bodies:
            if route == IMAGES_PATH:
                shown = images_catalog(self._catalog)
            else:
                shown = self._catalog if detailed else _basic(self._catalog)
            self._bodies[key] = json.dumps(shown).encode()
        return self._bodies[key]

    def _generate(self, request: web.Request, raw: bytes) -> web.StreamResponse:
        """The generation route: key, model, price and balance checked as NanoGPT does."""
        try:
            body = json.loads(raw)
        except ValueError:
            return _json_response(400, {"error": "Invalid JSON body", "code": "invalid_json"})
        key = _presented_key(request)
        if not key:
            return _json_response(401, _error_envelope(401, "API key required", "missing_api_key"))
        if self.require_key is not None and key != self.require_key:
            return _json_response(401, _error_envelope(401, "Invalid API key", "invalid_api_key"))
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return _json_response(400, {"error": "A prompt is required", "code": "missing_prompt"})
        model = self._catalog_models().get(body.get("model"))
        if model is None:
            message = f"Model {body.get('model')!r} not found"
            return _json_response(400, {"error": message, "code": "model_not_found"})
        size = body.get("size")
        n = body.get("n", 1)
        try:
            cost = model.price(size if isinstance(size, str) else None, n) or Decimal(0)
        except ValueError as exc:  # a bad n
            return _json_response(400, {"error": str(exc), "code": "invalid_parameter_value"})
        if cost > self.balance:
            payload = {"error": "Insufficient balance", "status": 402}
            payload |= {"requiredBalance": cost, "currentBalance": self.balance}
            return _json_response(402, payload)
        self.balance -= cost
        fixed = model.supported_parameters and model.supported_parameters.fixed_image_count
        images = []
        for _ in range(fixed or int(n)):
            self._images_made += 1
            number = self._images_made
            png = png_bytes(seed=number)
            if body.get("response_format") == "url":
                name = f"image-{number}.png"
                self._files[name] = png
                images.append({"url": f"{self.url}{FILES_PATH}{name}"})
            else:
                images.append({"b64_json": base64.b64encode(png).decode("ascii")})
        answer = {"created": int(time.time()), "data": images, "cost": cost}
        answer |= {"paymentSource": "USD", "remainingBalance": self.balance}
        return _json_response(200, answer)

    def _catalog_models(self) -> dict[Any, Any]:
        """The served catalog's models by id, read with the library's own parser."""
        if self._parsed is None:
            from nanogpt_images import parse_catalog

            self._parsed = parse_catalog(self._catalog).by_id
        return dict(self._parsed)

    async def _malformed_json(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=b'{"object": "list", "data": [{"id": "broken",, }', content_type="application/json"
        )

    async def _truncated_json(self, request: web.Request) -> web.StreamResponse:
        body = self._body(True)
        return web.Response(body=body[: len(body) // 2], content_type="application/json")

    async def _json_array(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=json.dumps(self._catalog.get("data", [])).encode(),
            content_type="application/json",
        )

    async def _drop_connection(self, request: web.Request) -> web.StreamResponse:
        body = self._body(True)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return response

    # -- bookkeeping -------------------------------------------------------------

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The server's own loop when it serves from a thread other than the caller's."""
        if self._thread is None or threading.current_thread() is self._thread:
            return None
        return self._thread_loop

    def _record(self, request: web.Request, raw: bytes) -> None:
        headers = {
            name.lower(): "***" if name.lower() in MASKED_HEADERS else value
            for name, value in request.headers.items()
        }
        body: Any = None
        if raw:
            text = raw.decode("utf-8", errors="replace")
            key = _presented_key(request)
            if key:
                text = text.replace(key, "***")
            try:
                body = json.loads(text, parse_float=Decimal)
            except ValueError:
                body = text
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query.items()),
                headers=headers,
                json=body,
            )
        )
        request[_REQUEST_ID] = f"fake-req-{len(self.requests)}"
        for count, arrived in self._waiters:
            if len(self.requests) >= count and not arrived.done():
                arrived.set_result(None)

    @_on_server_thread
    def _next_action(self, path: str) -> _Action | None:
        """The first queued answer for ``path`` (or for any path), taken off the queue."""
        for index, (wanted, action) in enumerate(self._actions):
            if wanted is None or wanted == path:
                del self._actions[index]
                return action
        return None

    @_on_server_thread
    def _queue(self, n: int, action: _Action, path: str | None = None) -> None:
        if n < 0:
            raise ValueError(f"n must be 0 or more, not {n}")
        self._actions.extend([(path, action)] * n)

    def _models(self) -> list[Any]:
        data = self._catalog.setdefault("data", [])
        if not isinstance(data, list):
            raise TypeError("the catalog's 'data' is not a list; use set_catalog() instead")
        return data

    def _find(self, model_id: str) -> dict[str, Any]:
        for model in self._models():
            if isinstance(model, dict) and model.get("id") == model_id:
                return model
        raise KeyError(model_id)

    def _changed(self, *, recount: bool = True) -> None:
        """Keep meta.count right; bump Last-Modified by at least a second so each change shows."""
        meta = self._catalog.get("meta")
        data = self._catalog.get("data")
        if recount and isinstance(meta, dict) and "count" in meta and isinstance(data, list):
            meta["count"] = len(data)
        self._modified = max(int(time.time()), self._modified + 1)
        self._bodies.clear()
        self._parsed = None


def _basic(catalog: Mapping[str, Any]) -> dict[str, Any]:
    """The ``detailed=false`` shape: same envelope, models cut to their identifiers."""
    data = catalog.get("data")
    if not isinstance(data, list):
        return dict(catalog)
    items = [{k: m[k] for k in BASIC_FIELDS if k in m} if isinstance(m, dict) else m for m in data]
    return {**catalog, "data": items}


def _presented_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _not_modified(request: web.Request, etag: str, modified: int) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since counts only without it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return parsedate_to_datetime(since).timestamp() >= modified
    except (TypeError, ValueError, IndexError):
        return False


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Request-ID", request.get(_REQUEST_ID, "fake-req-0"))


def _error_envelope(
    status: int, message: str | None = None, code: str | None = None
) -> dict[str, Any]:
    phrase = _phrase(status)
    kinds = {401: "authentication_error", 403: "permission_denied_error"}
    kinds |= {404: "not_found_error", 429: "rate_limit_error"}
    kind = kinds.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return error_body(
        "openai",
        code or phrase.lower().replace(" ", "_").replace("-", "_"),
        message or phrase,
        error_type=kind,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _encode(body: Mapping[str, Any] | list[Any] | str | bytes) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        kind = "text/html" if body.lstrip().startswith("<") else "text/plain"
        return body.encode(), f"{kind}; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


def _json_response(status: int, payload: Mapping[str, Any]) -> web.Response:
    # A Decimal is written as the number it prints as (0.068, not 0.06800000000000000488).
    body = json.dumps(payload, default=_number).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def _number(value: Any) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def png_bytes(width: int = 2, height: int = 2, *, seed: int = 0) -> bytes:
    """A small, valid RGB PNG (stdlib only); ``seed`` picks its colour, so images differ."""
    red, green, blue = (seed * 67) % 256, (seed * 151 + 80) % 256, (seed * 29 + 160) % 256
    row = b"\x00" + bytes((red, green, blue)) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def _billed_500(request: web.Request) -> web.StreamResponse:
    return _json_response(500, BILLED_500_BODY)


async def _no_answer(request: web.Request) -> web.StreamResponse:
    """The request was read (and, for a generation, might have run); no answer ever comes."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()  # never sent: the connection is gone


async def _bad_http(request: web.Request) -> web.StreamResponse:
    """Bytes that are not a valid HTTP answer, written straight to the socket."""
    if request.transport is not None:
        request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
        request.transport.close()
    return web.Response()  # never sent: the connection is gone


async def _html_200(request: web.Request) -> web.StreamResponse:
    page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    page += "<body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>"
    return web.Response(text=page, content_type="text/html")


async def _oversized(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = b'{"object": "list", "data": [], "padding": "'
    sent = len(head)
    chunk = b"x" * 65536
    with contextlib.suppress(ConnectionError):  # the client may hang up once it has seen enough
        await response.write(head)
        while sent < size - 2:
            part = chunk[: size - 2 - sent]
            await response.write(part)
            sent += len(part)
        await response.write(b'"}')
        await response.write_eof()
    return response
