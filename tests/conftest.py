"""Shared fixtures: a fake clock, a small FakeNanoGPT, and sessions wired to both.

Also ``fake``: a FakeNanoGPT with the whole sample catalog, found through the
environment as a user's shell would (the CLI and docs-example tests use it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nanogpt_images import ImageModelsSession
from nanogpt_images._cli import main
from nanogpt_images.testing import FakeClock, FakeNanoGPT, catalog_payload, model_payload

MODEL_IDS = tuple(f"model-{i}" for i in range(6))

MakeSession = Callable[..., ImageModelsSession]
Settle = Callable[[ImageModelsSession], Awaitable[None]]
Run = Callable[..., Awaitable[tuple[int, str, str]]]


FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """A JSON file of ``tests/fixtures/`` (real captured bodies, the docs' examples)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def small_catalog(ids: tuple[str, ...] = MODEL_IDS) -> dict[str, Any]:
    """A catalog body with one factory model per id."""
    return catalog_payload([model_payload(model_id) for model_id in ids])


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the machine running the tests routes their loopback traffic."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def server() -> AsyncIterator[FakeNanoGPT]:
    """A FakeNanoGPT serving six small models, ETag/304 on."""
    async with FakeNanoGPT(small_catalog()) as fake:
        yield fake


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeNanoGPT]:
    """A FakeNanoGPT with the sample catalog, named by $NANOGPT_BASE_URL; no key in the env."""
    async with FakeNanoGPT() as server:
        monkeypatch.setenv("NANOGPT_BASE_URL", server.url)
        monkeypatch.delenv("NANOGPT_API_KEY", raising=False)
        yield server


@pytest.fixture
async def make_session(server: FakeNanoGPT, clock: FakeClock) -> AsyncIterator[MakeSession]:
    """Build sessions on ``server`` and ``clock`` (no retries, no background task by default).

    Every session made is closed at teardown, so a failing test leaks nothing.
    """
    made: list[ImageModelsSession] = []

    def make(**options: Any) -> ImageModelsSession:
        options.setdefault("base_url", server.url)
        options.setdefault("clock", clock)
        options.setdefault("max_retries", 0)
        options.setdefault("refresh_interval", None)
        session = ImageModelsSession(**options)
        made.append(session)
        return session

    yield make
    for session in made:
        await session.close()


@pytest.fixture
def settle(clock: FakeClock) -> Settle:
    """Wait, without moving fake time, until a session's fetch, saves and callbacks are done.

    Loopback HTTP needs real I/O, so a background refresh is not over after a
    few loop turns: ``wait_idle()`` waits for exactly that work, and the tasks
    it wakes (a refresher going back to sleep) get their turns after it.
    """

    async def settle(session: ImageModelsSession) -> None:
        for _ in range(3):  # what the woken tasks start is waited for too
            await session.wait_idle()
            await clock.run_until_idle()

    return settle


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``main(argv)`` in a thread (it owns its event loop); return code, stdout, stderr.

    Stdout is captured, so not a terminal: tables are full width unless a test sets COLUMNS.
    """
    monkeypatch.delenv("COLUMNS", raising=False)

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
