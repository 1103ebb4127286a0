"""What the package logs reaches stderr only when the application, or NANOGPT_IMAGES_LOG, asks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from typing import TYPE_CHECKING

from nanogpt_images import _logging

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

KEY = "sk-log-secret-1234567890"

# A session that logs at every level: a corrupt cache file (WARNING), a 503 then a retry
# (INFO), and its requests (DEBUG); it sends a key, which must never show.
SCRIPT = f"""
import asyncio, sys
from nanogpt_images import ImageModelsSession
from nanogpt_images.testing import FakeNanoGPT

async def main():
    async with FakeNanoGPT(require_key={KEY!r}) as fake:
        fake.fail_next(1, 503)
        session = ImageModelsSession({KEY!r}, base_url=fake.url, cache_path=sys.argv[1])
        async with session:
            await session.catalog()
    print("done")

asyncio.run(main())
"""


def run_session(tmp_path: Path, log: str | None) -> subprocess.CompletedProcess[str]:
    """Run SCRIPT in a fresh interpreter with ``NANOGPT_IMAGES_LOG`` set to ``log`` (or unset)."""
    cache = tmp_path / "catalog.json"
    cache.write_text("not json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOGPT_")}
    if log is not None:
        env[_logging.ENV_VAR] = log
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-W", "error", "-c", SCRIPT, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_without_logging_set_up_nothing_reaches_stderr(tmp_path: Path) -> None:
    """An application that never configures logging sees no library lines, even warnings."""
    result = run_session(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_the_env_var_turns_debug_logging_on_without_the_key(tmp_path: Path) -> None:
    """``NANOGPT_IMAGES_LOG=debug`` shows requests, retries and warnings; never the key."""
    result = run_session(tmp_path, "debug")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(" DEBUG nanogpt_images: GET http://127.0.0.1:" in line for line in lines)
    assert any(" INFO nanogpt_images: retrying the catalog fetch" in line for line in lines)
    assert any(" WARNING nanogpt_images: ignoring the catalog cache file" in line for line in lines)
    assert KEY not in result.stderr
    assert KEY[-8:] not in result.stderr


def test_info_leaves_the_requests_out(tmp_path: Path) -> None:
    """``NANOGPT_IMAGES_LOG=INFO`` (any case) shows retries and warnings but not each request."""
    result = run_session(tmp_path, "INFO")
    assert result.returncode == 0, result.stderr
    assert "retrying the catalog fetch" in result.stderr
    assert " DEBUG " not in result.stderr


def test_an_unknown_level_is_one_line_and_is_ignored(tmp_path: Path) -> None:
    """``NANOGPT_IMAGES_LOG=verbose`` is one stderr line naming the right values, even under
    ``-W error`` (a warning there would break the import); nothing is logged."""
    result = run_session(tmp_path, "verbose")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "NANOGPT_IMAGES_LOG" in line]
    assert line == (
        "nanogpt_images: ignoring NANOGPT_IMAGES_LOG='verbose'; "
        "use one of debug, info, warning, error"
    )
    assert "nanogpt_images:" not in result.stderr.replace(line, "")


def test_warning_shows_only_warnings_and_errors(tmp_path: Path) -> None:
    """``NANOGPT_IMAGES_LOG=warning`` shows the library's warnings, not its retries or requests."""
    result = run_session(tmp_path, "warning")
    assert result.returncode == 0, result.stderr
    assert " WARNING nanogpt_images: ignoring the catalog cache file" in result.stderr
    assert " INFO " not in result.stderr
    assert " DEBUG " not in result.stderr


def test_configuring_again_adds_no_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-up is idempotent: one NullHandler, and one stderr handler however often it runs."""
    logger = logging.getLogger(_logging.LOGGER_NAME)
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setenv(_logging.ENV_VAR, "debug")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _logging.configure_logging()
        _logging.configure_logging()
    kinds = [type(handler).__name__ for handler in logger.handlers]
    assert kinds == ["NullHandler", "_EnvHandler"]
    assert logger.level == logging.DEBUG
    assert _logging.env_handler() is logger.handlers[1]
