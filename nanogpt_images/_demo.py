"""``nanogpt-images demo``: a narrated tour of a session against a local fake server.

Fully offline: :class:`~nanogpt_images.testing.FakeNanoGPT` serves the bundled
sample catalog on 127.0.0.1 and the session runs with short intervals on the
real clock, so the whole tour takes a few seconds.  Public API only.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from nanogpt_images import (
    CatalogChange,
    ImageModelsSession,
    ModelNotFoundError,
    ParameterValidationError,
)
from nanogpt_images.testing import FakeNanoGPT, model_payload

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import TextIO

__all__ = ["run_demo"]

TTL = 1.0
REFRESH_INTERVAL = 0.5
OUTAGE_FAILURES = 4
STEP_TIMEOUT = 5.0
WARM_READS = 100_000
NEW_MODEL = "acme/sketch-1"


class DemoError(Exception):
    """A step of the tour did not happen in time."""


async def run_demo(out: TextIO) -> int:
    """Run the tour, writing the narration to ``out``; 0 when every step happened."""
    started = time.perf_counter()

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    async with FakeNanoGPT() as server:
        say(f"A fake NanoGPT is serving the bundled sample catalog at {server.url}")
        say("(no network, no key: everything below happens on this machine)")
        session = ImageModelsSession(
            "",  # anonymous, whatever $NANOGPT_API_KEY says
            base_url=server.url,
            ttl=TTL,
            refresh_interval=REFRESH_INTERVAL,
            max_retries=0,  # so each failed refresh shows in the stats
        )
        say(f"Session: ttl={TTL:g} s, background refresh every {REFRESH_INTERVAL:g} s.\n")
        async with session:
            try:
                await _tour(session, server, say)
            except DemoError as exc:
                say(f"demo: {exc}")
                return 1
    say(f"\nDone in {time.perf_counter() - started:.1f} s. Next: 'nanogpt-images models --help'.")
    return 0


async def _tour(session: ImageModelsSession, server: FakeNanoGPT, say: Callable[..., None]) -> None:
    say("1. Cold start: the first read waits for one HTTP request.")
    t0 = time.perf_counter()
    catalog = await session.catalog()
    say(f"   {len(catalog)} models in {_ms(time.perf_counter() - t0)}, {_requests(server)}.")

    say("\n2. Warm reads come from memory.")
    t0 = time.perf_counter()
    for _ in range(WARM_READS):
        await session.get_model("flux-pro")
    elapsed = time.perf_counter() - t0
    say(
        f"   {WARM_READS:,} get_model('flux-pro') calls: {_ms(elapsed)} "
        f"({elapsed / WARM_READS * 1e6:.2f} µs each); still {_requests(server)}."
    )
    t0 = time.perf_counter()
    matches = await session.find(capability="inpainting", resolution="1024x1024", sort="price")
    cheapest = ", ".join(f"{m.id} (${m.price('1024x1024')})" for m in matches[:3])
    took = _ms(time.perf_counter() - t0)
    say(f"   find(capability='inpainting', resolution='1024x1024', sort='price'): {took},")
    say(f"   {len(matches)} models; cheapest: {cheapest}.")

    say("\n3. A model appears on the server; the background refresh notices it.")
    changes: asyncio.Queue[CatalogChange] = asyncio.Queue()
    unsubscribe = session.subscribe(changes.put_nowait)
    t0 = time.perf_counter()
    server.add_model(model_payload(NEW_MODEL, name="Acme Sketch 1", owned_by="acme"))
    change = await _within(changes.get(), "the new model was not seen")
    unsubscribe()
    say(f"   subscribe() callback after {_ms(time.perf_counter() - t0)}: {change}")

    say(f"\n4. Outage: the server answers 503 to the next {OUTAGE_FAILURES} requests.")
    errors_before = session.stats().errors
    server.fail_next(OUTAGE_FAILURES, 503)
    await _until(lambda: session.stats().errors > errors_before, "no refresh failed")
    await _until(lambda: session.stats().source == "stale", "the copy never went stale")
    t0 = time.perf_counter()
    model = await session.get_model(NEW_MODEL)
    stats = session.stats()
    say(f"   get_model({NEW_MODEL!r}) still answers in {_us(time.perf_counter() - t0)},")
    say(f"   from the last good copy: source={stats.source}, age {stats.age or 0:.1f} s,")
    say(f"   refresh errors so far: {stats.errors}, last error: {stats.last_error}")

    say("\n5. The server recovers; the next refresh renews the copy.")
    t0 = time.perf_counter()
    await _until(
        lambda: session.stats().source in ("network", "not_modified"), "no recovery was seen"
    )
    stats = session.stats()
    say(
        f"   back after {_ms(time.perf_counter() - t0)}: source={stats.source} "
        f"(ETag matched, so a 304 with no body), {stats.fetches} fetches in all."
    )

    say("\n6. Checking a user's '/imagine --size 7x7 --n 3' before paying for it.")
    model = await session.get_model("flux-pro")
    try:
        model.validate(resolution="7x7", n=3)
    except ParameterValidationError as exc:
        for line in str(exc).splitlines():
            say(f"   {line}")
    params = model.validate(resolution="1024X1024")
    say(f"   validate(resolution='1024X1024') -> {params}, price ${model.price(**params)}")
    try:
        await session.get_model("flux-pr")
    except ModelNotFoundError as exc:
        say(f"   get_model('flux-pr') -> {exc}")


async def _within(awaitable: Awaitable[CatalogChange], failure: str) -> CatalogChange:
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except TimeoutError:
        raise DemoError(f"{failure} within {STEP_TIMEOUT:g} s") from None


async def _until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError(f"{failure} within {STEP_TIMEOUT:g} s")
        await asyncio.sleep(0.02)


def _requests(server: FakeNanoGPT) -> str:
    count = server.request_count
    return f"{count} request{'' if count == 1 else 's'} to the server so far"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"
