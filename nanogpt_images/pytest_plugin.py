"""pytest fixtures for code that uses nanogpt_images, registered through ``pytest11``.

Installing the package makes these fixtures available in every pytest run;
none is autouse, so a test pays only for what it names:

``nanogpt_catalog``
    The catalog payload the server starts with: a fresh copy of the bundled
    sample.  Override it in a ``conftest.py`` to serve your own.
``nanogpt_server``
    A started :class:`~nanogpt_images.testing.FakeNanoGPT` on 127.0.0.1, for
    any test: in the test's event loop when pytest-asyncio runs the test,
    else (a plain ``def`` test, a test anyio runs) on a thread of its own.
``nanogpt_clock``
    A :class:`~nanogpt_images.testing.FakeClock` in auto-advance mode: when
    the loop is idle, time jumps to the next sleeper, so retries and refresh
    intervals never stall a test.
``nanogpt_session``
    A started :class:`~nanogpt_images.ImageModelsSession` bound to both,
    anonymous, closed after the test.
``nanogpt_paid_session``
    The same with a test API key, so ``generate()`` runs against the fake
    server's generation route (billed from ``nanogpt_server.balance``).

The async fixtures are ``pytest_asyncio`` fixtures, so they work in strict and
auto mode.  They run in the event loop pytest-asyncio gives fixtures
(``asyncio_default_fixture_loop_scope``); keep it equal to your tests' loop
scope.  pytest-asyncio is looked up when this module is imported and is not a
dependency: without it, using an async fixture fails with a message saying
what to install, and nothing else changes.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from nanogpt_images import ImageModelsSession
from nanogpt_images.testing import FakeClock, FakeNanoGPT, sample_catalog

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

__all__ = [
    "nanogpt_catalog",
    "nanogpt_clock",
    "nanogpt_paid_session",
    "nanogpt_server",
    "nanogpt_session",
]

#: The key ``nanogpt_paid_session`` sends; FakeNanoGPT takes any key unless told one.
TEST_API_KEY = "sk-nano-00000000-0000-0000-0000-test-key"

MISSING_ASYNCIO = (
    "the nanogpt_images fixtures are async and need pytest-asyncio: "
    "pip install pytest-asyncio (or install nanogpt-images with its 'testing' extra, "
    "e.g. pip install '/path/to/nanogpt-images[testing]')"
)


def _async_fixture() -> Callable[[Callable[..., Any]], Any]:
    """``pytest_asyncio.fixture`` when installed, else a fixture that explains what is missing."""
    try:
        import pytest_asyncio
    except ImportError:
        pass
    else:
        return pytest_asyncio.fixture

    def missing(function: Callable[..., Any]) -> Any:
        def explain() -> None:
            pytest.fail(MISSING_ASYNCIO, pytrace=False)

        explain.__name__ = function.__name__
        explain.__doc__ = function.__doc__
        return pytest.fixture(name=function.__name__)(explain)

    return missing


_fixture = _async_fixture()


@pytest.fixture
def nanogpt_catalog() -> dict[str, Any]:
    """The catalog payload ``nanogpt_server`` starts with (a fresh copy of the bundled sample)."""
    return sample_catalog()


@pytest.fixture
def nanogpt_server(
    request: pytest.FixtureRequest, nanogpt_catalog: dict[str, Any]
) -> Iterator[FakeNanoGPT]:
    """A started ``FakeNanoGPT`` serving ``nanogpt_catalog`` on 127.0.0.1, for any test.

    In the test's event loop when pytest-asyncio runs the test; on a thread
    of its own for a plain ``def`` test or one anyio runs.
    """
    if _run_by_pytest_asyncio(request):
        yield request.getfixturevalue("_nanogpt_server_in_loop")
    else:
        with FakeNanoGPT(nanogpt_catalog).in_thread() as server:
            yield server


@_fixture
async def _nanogpt_server_in_loop(nanogpt_catalog: dict[str, Any]) -> AsyncIterator[FakeNanoGPT]:
    """``nanogpt_server`` for a test pytest-asyncio runs: in that test's event loop."""
    async with FakeNanoGPT(nanogpt_catalog) as server:
        yield server


@_fixture
async def nanogpt_clock(request: pytest.FixtureRequest) -> AsyncIterator[FakeClock]:
    """A ``FakeClock`` in auto-advance mode, stopped after the test."""
    _require_pytest_asyncio(request, "nanogpt_clock")
    async with FakeClock(auto_advance=True) as clock:
        yield clock


@_fixture
async def nanogpt_session(
    request: pytest.FixtureRequest, nanogpt_server: FakeNanoGPT, nanogpt_clock: FakeClock
) -> AsyncIterator[ImageModelsSession]:
    """A started, anonymous ``ImageModelsSession`` on ``nanogpt_server`` and ``nanogpt_clock``."""
    _require_pytest_asyncio(request, "nanogpt_session")
    async with ImageModelsSession("", base_url=nanogpt_server.url, clock=nanogpt_clock) as session:
        yield session


@_fixture
async def nanogpt_paid_session(
    request: pytest.FixtureRequest, nanogpt_server: FakeNanoGPT, nanogpt_clock: FakeClock
) -> AsyncIterator[ImageModelsSession]:
    """A started ``ImageModelsSession`` with a test API key, for ``generate()`` on the fake."""
    _require_pytest_asyncio(request, "nanogpt_paid_session")
    async with ImageModelsSession(
        TEST_API_KEY, base_url=nanogpt_server.url, clock=nanogpt_clock
    ) as session:
        yield session


def _run_by_pytest_asyncio(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test is an ``async def`` test that anyio does not run."""
    return (
        inspect.iscoroutinefunction(request.function)
        and "anyio_backend" not in request.fixturenames
    )


def _require_pytest_asyncio(request: pytest.FixtureRequest, fixture: str) -> None:
    """Fail a test that pytest-asyncio does not run, saying why and what to use instead."""
    if _run_by_pytest_asyncio(request):
        return
    test = request.node.name
    kind = (
        "is run by anyio"
        if inspect.iscoroutinefunction(request.function)
        else "is a plain def test"
    )
    pytest.fail(
        f"{test} {kind}, and {fixture} lives in pytest-asyncio's event loop, which is not "
        "running during it; use nanogpt_server (it serves any test from a thread of its own) "
        "and open your own ImageModelsSession(base_url=nanogpt_server.url), or make the test "
        "an async def run by pytest-asyncio",
        pytrace=False,
    )
