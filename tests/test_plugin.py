"""The pytest plugin: used from a user's project in a pytest subprocess, and by this suite."""

from __future__ import annotations

import asyncio
import re
import textwrap
import tomllib
from http.client import HTTPConnection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from nanogpt_images import ImageModelsSession
    from nanogpt_images.testing import FakeNanoGPT

USER_TESTS = """
    import pytest
    from nanogpt_images import ImageModelsSession
    from nanogpt_images.testing import FakeClock, FakeNanoGPT, model_payload


    @pytest.mark.asyncio
    async def test_session_reads_the_sample(nanogpt_session):
        catalog = await nanogpt_session.catalog()
        assert len(catalog) > 200
        assert (await nanogpt_session.get_model("flux-pro")).name == "FLUX Pro"


    @pytest.mark.asyncio
    async def test_server_changes_reach_the_session(nanogpt_server, nanogpt_session):
        assert isinstance(nanogpt_server, FakeNanoGPT)
        await nanogpt_session.catalog()
        nanogpt_server.add_model(model_payload("my-model"))
        catalog = await nanogpt_session.refresh()
        assert "my-model" in catalog


    @pytest.mark.asyncio
    async def test_retries_do_not_stall(nanogpt_server, nanogpt_session, nanogpt_clock):
        assert isinstance(nanogpt_clock, FakeClock)
        nanogpt_server.fail_next(2, 503)
        before = nanogpt_clock.monotonic()
        catalog = await nanogpt_session.catalog()
        assert len(catalog) > 200
        assert nanogpt_server.request_count == 3
        assert nanogpt_clock.monotonic() >= before


    @pytest.mark.asyncio
    async def test_fake_time_jumps(nanogpt_clock):
        await nanogpt_clock.sleep(3600)
        assert nanogpt_clock.monotonic() >= 3600


    def test_nothing_is_autouse(request):
        assert not [name for name in request.fixturenames if name.startswith("nanogpt")]
"""


def test_fixtures_work_in_a_strict_mode_project(pytester: pytest.Pytester) -> None:
    """A user's pytest-asyncio (strict mode) tests get a server, a clock and a started session."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_fixtures_work_in_auto_mode(pytester: pytest.Pytester) -> None:
    """With ``asyncio_mode = auto``, unmarked async tests get the fixtures too."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    tests = USER_TESTS.replace("    @pytest.mark.asyncio\n", "")
    pytester.makepyfile(test_user=textwrap.dedent(tests))
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_overriding_the_catalog_fixture_changes_what_is_served(pytester: pytest.Pytester) -> None:
    """A ``nanogpt_catalog`` fixture in conftest.py replaces the sample the server starts with."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest(
        """
        import pytest
        from nanogpt_images.testing import catalog_payload, model_payload

        @pytest.fixture
        def nanogpt_catalog():
            return catalog_payload([model_payload("only-model")])
        """
    )
    pytester.makepyfile(
        test_user="""
        async def test_only_my_model(nanogpt_session):
            assert (await nanogpt_session.catalog()).ids == ("only-model",)
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows the four fixtures with a line saying what each is."""
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    for name, doc in [
        ("nanogpt_catalog", "The catalog payload"),
        ("nanogpt_clock", "A ``FakeClock`` in auto-advance mode"),
        ("nanogpt_server", "A started ``FakeNanoGPT``"),
        ("nanogpt_session", "A started, anonymous ``ImageModelsSession``"),
    ]:
        result.stdout.fnmatch_lines([f"{name} -- *pytest_plugin.py:*", f"    {doc}*"])


def test_without_pytest_asyncio_a_fixture_says_what_to_install(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio the server still serves def tests; an async fixture explains."""
    pytester.makepyfile(
        pytest_asyncio="raise ImportError('pytest-asyncio is not installed here')",
        test_user="""
        import http.client

        def test_wants_a_server(nanogpt_server):
            host, port = nanogpt_server.url.removeprefix("http://").split(":")
            connection = http.client.HTTPConnection(host, int(port))
            connection.request("GET", "/api/v1/image-models")
            assert connection.getresponse().status == 200
            connection.close()

        async def test_wants_a_session(nanogpt_session):
            pass

        def test_does_not_use_the_plugin():
            pass
        """,
    )
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "no:asyncio", "-p", "no:cacheprovider", "-W", "error"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*need pytest-asyncio: pip install pytest-asyncio (*"
            "pip install '/path/to/nanogpt-images[[]testing[]]')"
        ]
    )


# -- web apps: plain def tests, httpx, anyio ------------------------------------------------

DOCS = Path(__file__).parent.parent / "docs" / "testing.md"
NAMED_FILE = re.compile(r"^```(?:python|ini)\n# (?P<name>[\w.]+)\n(?P<body>.*?)^```", re.M | re.S)
#: A pytest subprocess that hangs (a fake server whose loop is not running) fails in this time.
RUN_LIMIT = 60


def test_documented_app_tests_pass_in_a_new_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files docs/testing.md shows (app, TestClient and httpx tests, pytest.ini) pass as is."""
    monkeypatch.delenv("NANOGPT_API_KEY", raising=False)
    files = {match["name"]: match["body"] for match in NAMED_FILE.finditer(DOCS.read_text())}
    assert {"pytest.ini", "app.py", "test_app_sync.py", "test_app_async.py"} <= set(files)
    for name, body in files.items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "-W", "error", "-p", "no:cacheprovider", timeout=RUN_LIMIT
    )
    tests = sum(len(re.findall(r"^(?:async )?def test_", body, re.M)) for body in files.values())
    result.assert_outcomes(passed=tests)


APP_SUITE = """
    import asyncio
    import contextlib
    import threading

    import httpx
    import pytest
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from nanogpt_images import ImageModelsSession


    def make_app(base_url):
        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with ImageModelsSession("", base_url=base_url, refresh_interval=None) as session:
                app.state.session = session
                yield

        async def names(request):
            catalog = await request.app.state.session.catalog()
            return JSONResponse({model.id: model.display_name for model in catalog})

        return Starlette(routes=[Route("/names", names)], lifespan=lifespan)


    async def ask(app):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return (await client.get("/names")).json()


    def test_plain_def_with_testclient(nanogpt_server):
        assert threading.current_thread() is threading.main_thread()
        nanogpt_server.update_model("flux-pro", name="Renamed")
        with TestClient(make_app(nanogpt_server.url)) as client:
            assert client.get("/names").json()["flux-pro"] == "Renamed"
        assert nanogpt_server.requests[0].path == "/api/v1/image-models"


    def test_plain_def_gets_a_fresh_server(nanogpt_server):
        assert nanogpt_server.request_count == 0
        assert "Renamed" not in str(nanogpt_server.catalog)


    async def test_async_def_with_httpx(nanogpt_server):
        assert len(await ask(make_app(nanogpt_server.url))) > 200
        assert nanogpt_server.request_count == 1


    @pytest.mark.anyio
    async def test_anyio_with_httpx(nanogpt_server):
        assert len(await ask(make_app(nanogpt_server.url))) > 200
        assert nanogpt_server.request_count == 1


    async def test_async_def_still_gets_a_session(nanogpt_session, nanogpt_server):
        assert len(await nanogpt_session.catalog()) > 200
        assert nanogpt_server._thread is None  # served from this test's own loop
"""


def test_server_fixture_serves_def_async_and_anyio_tests_side_by_side(
    pytester: pytest.Pytester,
) -> None:
    """In auto mode with anyio's plugin loaded, def, async and anyio tests all reach the server."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_app=textwrap.dedent(APP_SUITE))
    result = pytester.runpytest_subprocess(
        "-W", "error", "-p", "no:cacheprovider", timeout=RUN_LIMIT
    )
    result.assert_outcomes(passed=5)


def test_session_fixture_in_a_plain_def_test_says_why_not(pytester: pytest.Pytester) -> None:
    """A def or anyio test asking for nanogpt_session fails at once, saying what to use instead."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_user="""
        import pytest

        def test_sync(nanogpt_session):
            pass

        @pytest.mark.anyio
        async def test_anyio(nanogpt_clock):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-W", "error", "-p", "no:cacheprovider", timeout=RUN_LIMIT
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*test_sync is a plain def test*use nanogpt_server*", "*test_anyio*is run by anyio*"]
    )


def test_the_testing_extra_is_what_the_plugin_needs_and_docs_say_how_to_get_it() -> None:
    """The ``testing`` extra is pytest and pytest-asyncio; no page installs from an index."""
    root = Path(__file__).parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    testing = project["optional-dependencies"]["testing"]
    assert sorted(re.split(r"[<>=\[]", requirement)[0] for requirement in testing) == [
        "pytest",
        "pytest-asyncio",
    ]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    unpublished = [page.name for page in pages if "pip install nanogpt-images" in page.read_text()]
    assert unpublished == []  # not on an index yet: install from a checkout or a wheel
    assert (
        "pip install '/path/to/nanogpt-images[testing]'" in (root / "docs/testing.md").read_text()
    )


async def test_this_suite_gets_the_server_in_its_own_loop(
    nanogpt_server: FakeNanoGPT, nanogpt_session: ImageModelsSession
) -> None:
    """In an async test the fixture server shares the test's loop: a held fetch stays in flight."""
    nanogpt_server.hold()
    reading = asyncio.create_task(nanogpt_session.refresh())
    await nanogpt_server.wait_for_requests(nanogpt_server.request_count + 1)
    assert not reading.done()
    nanogpt_server.release()
    assert "flux-pro" in await reading


def test_this_suite_gets_a_threaded_server_in_a_def_test(nanogpt_server: FakeNanoGPT) -> None:
    """In a plain def test the fixture server answers a blocking client at once."""
    host, port = nanogpt_server.url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/api/v1/image-models")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    assert nanogpt_server.request_count == 1
