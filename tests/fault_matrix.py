"""The fault matrix: what a caller gets from each way the catalog endpoint can fail.

Each fault runs against a fresh ``FakeNanoGPT`` twice: with a cold cache
(the caller's ``get_model`` is the first read) and with a warm one (a good
copy is held and ``refresh()`` meets the fault).  An outcome says what the
caller got (data or the typed error), whether the good copy was kept, how
many requests reached the server, and how long the retries waited.

Retries wait on :class:`InstantClock`, the testing kit's auto-advancing
``FakeClock``: time jumps to each retry's deadline instead of being slept.
The rows (:data:`MATRIX`) and runner (:func:`run_fault`) serve
``tests/test_fault_matrix.py``, ``tests/test_secrets.py`` and the report
``benchmarks/faults.py`` writes into docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from nanogpt_images import CacheStats, ImageModelsSession, NanoGPTError
from nanogpt_images.testing import FakeClock, FakeNanoGPT, RecordedRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

CATALOG_PATH = "/api/v1/image-models"
MODEL_ID = "gpt-image-2"
#: Session options for every row: short timeouts, small body cap, no background task.
SESSION_OPTIONS: dict[str, Any] = {
    "timeout": 0.25,
    "max_retries": 2,
    "max_retry_after": 60.0,
    "max_response_bytes": 2**20,
    "refresh_interval": None,
}
SLOW_SERVER_DELAY = 0.6  # seconds of real time, above the 0.25 s timeout


class InstantClock(FakeClock):
    """``FakeClock(auto_advance=True)`` that also records each wait it is asked for."""

    def __init__(self) -> None:
        super().__init__(auto_advance=True)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """Record the wait, then wait in fake time (which jumps once the loop is idle)."""
        self.slept.append(seconds)
        await super().sleep(seconds)


@dataclass
class Env:
    """What a fault can act on: the catalog server, a second origin, the session clock."""

    server: FakeNanoGPT
    other: FakeNanoGPT
    clock: InstantClock
    warm: bool


@dataclass(frozen=True)
class Fault:
    """One row: how to break the next fetch, and what the caller must see, cold and warm.

    ``cold``/``warm`` name the outcome (``"data"`` or an error class name);
    ``*_requests`` count requests at both servers.  ``warm`` is what
    ``refresh()`` returns or raises while a good copy is held.
    """

    name: str
    inject: Callable[[Env], Any]
    cold: str
    cold_requests: int
    warm: str
    warm_requests: int


@dataclass
class Outcome:
    """What one run of one row produced."""

    fault: Fault
    warm: bool
    got: str
    detail: str
    requests: int
    server_requests: list[RecordedRequest]
    other_requests: list[RecordedRequest]
    kept: bool | None
    served_after: str
    waited: list[float]
    error: BaseException | None
    session_repr: str
    stats: CacheStats
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> tuple[str, int]:
        """The outcome and request count the row expects in this mode."""
        if self.warm:
            return self.fault.warm, self.fault.warm_requests
        return self.fault.cold, self.fault.cold_requests

    @property
    def as_expected(self) -> bool:
        """Whether the run matched the row, and a warm run kept (or replaced) its copy properly."""
        ok = (self.got, self.requests) == self.expected
        if self.warm:
            ok = ok and self.kept is True and self.served_after == "data"
        return ok


def _fail(status: int, n: int = 3, **kwargs: Any) -> Callable[[Env], None]:
    def inject(env: Env) -> None:
        env.server.fail_next(n, status, **kwargs)

    return inject


def _fault(kind: Any, n: int = 1, **kwargs: Any) -> Callable[[Env], None]:
    def inject(env: Env) -> None:
        env.server.fault_next(kind, n, **kwargs)

    return inject


def _retry_after_date(env: Env) -> None:
    when = formatdate(env.clock.time() + 3, usegmt=True)
    env.server.fail_next(3, 429, retry_after=when)


def _slow(env: Env) -> None:
    env.server.delay(SLOW_SERVER_DELAY)


async def _closed_port(env: Env) -> None:
    await env.server.close()


def _redirect_away(env: Env) -> None:
    env.server.redirect_next(f"{env.other.url}{CATALOG_PATH}?detailed=true")


def _redirect_same_origin(env: Env) -> None:
    env.server.redirect_next(f"{env.server.url}{CATALOG_PATH}?detailed=true", status=307)


def _not_modified(env: Env) -> None:
    if not env.warm:  # nothing was cached, so no validators were sent: a stray 304
        env.server.respond_next(304, b"")
    # warm: the session sends If-None-Match and the server answers 304 by itself


MATRIX: tuple[Fault, ...] = (
    Fault("500 (every try)", _fail(500), "ServerError", 3, "ServerError", 3),
    Fault("500 once, then OK", _fail(500, n=1), "data", 2, "data", 2),
    Fault("502", _fail(502), "ServerError", 3, "ServerError", 3),
    Fault("503", _fail(503), "ServerError", 3, "ServerError", 3),
    Fault("504", _fail(504), "ServerError", 3, "ServerError", 3),
    Fault(
        "429, Retry-After: 2 (seconds)",
        _fail(429, retry_after=2),
        "RateLimitError",
        3,
        "RateLimitError",
        3,
    ),
    Fault(
        "429, Retry-After: HTTP date (+3 s)",
        _retry_after_date,
        "RateLimitError",
        3,
        "RateLimitError",
        3,
    ),
    Fault(
        "429, Retry-After: 120 (above the 60 s cap)",
        _fail(429, retry_after=120),
        "RateLimitError",
        1,
        "RateLimitError",
        1,
    ),
    Fault("401", _fail(401), "AuthenticationError", 1, "AuthenticationError", 1),
    Fault("403", _fail(403), "PermissionDeniedError", 1, "PermissionDeniedError", 1),
    Fault("404", _fail(404), "NotFoundError", 1, "NotFoundError", 1),
    Fault(
        f"slow server ({SLOW_SERVER_DELAY:g} s > 0.25 s timeout)",
        _slow,
        "RequestTimeoutError",
        3,
        "RequestTimeoutError",
        3,
    ),
    Fault("closed port", _closed_port, "TransportError", 0, "TransportError", 0),
    Fault(
        "connection dropped mid-body",
        _fault("drop_connection", 3),
        "TransportError",
        3,
        "TransportError",
        3,
    ),
    Fault(
        "answer that is not HTTP (Content-Length: abc)",
        _fault("bad_http", 3),
        "TransportError",
        3,
        "TransportError",
        3,
    ),
    Fault("truncated JSON (200)", _fault("truncated_json"), "DecodeError", 1, "DecodeError", 1),
    Fault("malformed JSON (200)", _fault("malformed_json"), "DecodeError", 1, "DecodeError", 1),
    Fault("HTML error page with 200", _fault("html_200"), "DecodeError", 1, "DecodeError", 1),
    Fault("JSON array instead of object", _fault("json_array"), "DecodeError", 1, "DecodeError", 1),
    Fault(
        "body over the cap (2 MiB > 1 MiB)",
        _fault("oversized", size=2 * 2**20),
        "DecodeError",
        1,
        "DecodeError",
        1,
    ),
    Fault("redirect to another origin", _redirect_away, "APIStatusError", 1, "APIStatusError", 1),
    Fault("redirect within the origin (307)", _redirect_same_origin, "data", 2, "data", 2),
    Fault("304 Not Modified", _not_modified, "DecodeError", 1, "data", 1),
)


async def run_fault(
    fault: Fault, *, warm: bool, api_key: str | None = None, **options: Any
) -> Outcome:
    """Run one row against fresh servers and a fresh session; report what happened."""
    clock = InstantClock()
    async with clock, FakeNanoGPT() as server, FakeNanoGPT() as other:
        env = Env(server=server, other=other, clock=clock, warm=warm)
        base_url = server.url
        if fault.inject is _closed_port and not warm:
            base_url = _unused_port_url()
        session = ImageModelsSession(
            api_key, base_url=base_url, clock=clock, **{**SESSION_OPTIONS, **options}
        )
        async with session:
            good = await session.catalog() if warm else None
            server.clear_requests()
            clock.slept.clear()
            result = fault.inject(env)
            if asyncio.iscoroutine(result):
                await result
            error: BaseException | None = None
            try:
                if warm:
                    await session.refresh()
                else:
                    await session.get_model(MODEL_ID)
                got, detail = "data", ""
            except NanoGPTError as exc:
                error = exc
                got, detail = type(exc).__name__, str(exc)
            requests = server.request_count + other.request_count
            server.delay(0)
            kept: bool | None = None
            served_after = "—"
            if good is not None:  # a read after the failed refresh: the good copy, at once
                after = await session.catalog()
                served_after = "data"
                kept = after == good
            return Outcome(
                fault=fault,
                warm=warm,
                got=got,
                detail=detail,
                requests=requests,
                server_requests=list(server.requests),
                other_requests=list(other.requests),
                kept=kept,
                served_after=served_after,
                waited=list(clock.slept),
                error=error,
                session_repr=repr(session),
                stats=session.stats(),
            )


def _unused_port_url() -> str:
    """A loopback URL nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def run_matrix(
    rows: Sequence[Fault] = MATRIX, **kwargs: Any
) -> list[tuple[Outcome, Outcome]]:
    """Every row, cold then warm."""
    results = []
    for fault in rows:
        cold = await run_fault(fault, warm=False, **kwargs)
        warm = await run_fault(fault, warm=True, **kwargs)
        results.append((cold, warm))
    return results
