"""The pytest plugin, used from a user's project run in a pytest subprocess."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

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
    """When pytest-asyncio cannot be imported, the plugin still loads and the fixture explains."""
    pytester.makepyfile(
        pytest_asyncio="raise ImportError('pytest-asyncio is not installed here')",
        test_user="""
        def test_wants_a_server(nanogpt_server):
            pass

        def test_does_not_use_the_plugin():
            pass
        """,
    )
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "-p", "no:asyncio", "-p", "no:cacheprovider", "-W", "error"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*need pytest-asyncio: pip install pytest-asyncio*"])
