"""Every example in docs/*.md and README.md runs, against FakeNanoGPT, as a reader would run it.

Rules for writing examples (also in docs/index.md's contributor note):

* ```` ```python ```` blocks of one page run in order in one namespace, like
  a notebook, with ``NANOGPT_BASE_URL`` pointing at a fresh FakeNanoGPT that
  serves the bundled sample catalog, and no ``NANOGPT_API_KEY``; so write
  ``ImageModelsSession()`` with no arguments, as a user would.
* A block may use top-level ``await`` (as in ``python -m asyncio``); it runs
  in the test's event loop.  A block without it runs in a worker thread, so
  ``asyncio.run(main())`` works.
* ```` ```console ```` lines ``$ nanogpt-images ...`` run through the CLI's
  ``main()`` and must exit 0, or the code a trailing ``# exit N`` names.
* Lines after a ``$`` line, up to the next one, are what that command prints
  (stdout, then stderr), exactly; none means the output is not shown.  The
  examples are shown at ``COLUMNS=100``.
* A ```` ```text ```` block marked ``<!-- docs-test: output -->`` is what the
  block before it prints, exactly (trailing spaces and blank lines aside).
* ``<!-- docs-test: skip REASON -->`` on the line before a fence skips that
  block; keep it for what truly cannot run here (a Discord token...).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import html
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import nanogpt_images
import nanogpt_images.testing
from nanogpt_images import ImageModelsSession, pytest_plugin
from nanogpt_images._cli import main as cli_main
from nanogpt_images.testing import FakeClock, FakeNanoGPT

ROOT = Path(__file__).parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(
    r"^(?P<marker><!-- docs-test: (?P<verb>\w+)[^>]*-->\n)?"
    r"(?P<indent>[ \t]*)```(?P<lang>python|console|text)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
    re.MULTILINE | re.DOTALL,
)
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")


@attrs.frozen
class Block:
    """One fenced example of a page."""

    page: Path
    line: int
    lang: str
    code: str
    skip: bool
    output: bool = False  # a text block: what the block before it prints

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The ``python`` and ``console`` blocks of a page (and marked outputs), dedented."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        output = match["verb"] == "output"
        if match["lang"] == "text" and not output:
            continue  # a plain text block: prose, not checked
        indent = match["indent"]
        body = "\n".join(line.removeprefix(indent) for line in match["body"].splitlines())
        line = text.count("\n", 0, match.start("body")) + 1
        found.append(Block(page, line, match["lang"], body, match["verb"] == "skip", output))
    return found


@pytest.mark.parametrize(
    "page", [page for page in PAGES if page.exists()], ids=lambda page: page.name
)
async def test_page_examples_run(
    page: Path,
    fake: FakeNanoGPT,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each python and console example of the page runs, and prints what the page says."""
    monkeypatch.setenv("COLUMNS", "100")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    printed = ""
    try:
        for block in blocks(page):
            if block.skip:
                continue
            if block.output:
                assert _lines(printed) == _lines(block.code), f"{block.where}: printed {printed!r}"
                continue
            capsys.readouterr()
            if block.lang == "python":
                await run_python(block, namespace)
            else:
                await run_console(block, capsys)
            printed = capsys.readouterr().out
    finally:
        await close_leftovers(namespace)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def test_the_example_extractor_sees_markers_and_indented_fences(tmp_path: Path) -> None:
    """Fences inside list items are found, and a skip marker applies to the next block only."""
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n<!-- docs-test: skip needs discord -->\n```python\nimport discord\n```\n\n"
        "1. Step\n\n    ```python\n    x = 1\n    ```\n\n```console\n$ nanogpt-images demo\n```\n"
    )
    found = blocks(page)
    assert [(b.lang, b.code, b.skip, b.line) for b in found] == [
        ("python", "import discord", True, 5),
        ("python", "x = 1", False, 11),
        ("console", "$ nanogpt-images demo", False, 15),
    ]


def test_every_public_name_is_in_the_api_reference() -> None:
    """Each exported name has a ``:::`` entry on one of the docs/reference pages."""
    text = "\n".join(page.read_text("utf-8") for page in (ROOT / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", text, re.MULTILINE))
    public = {
        f"{module.__name__}.{name}"
        for module in (nanogpt_images, nanogpt_images.testing, pytest_plugin)
        for name in module.__all__
    }
    assert sorted(public - documented) == []


def test_the_site_builds_offline_with_a_real_api_reference(tmp_path: Path) -> None:
    """The strict build works and loads no script, style or font from another host."""
    pytest.importorskip("mkdocstrings", reason="needs the docs extra")
    subprocess.run(  # noqa: S603 - our own interpreter, our own arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", tmp_path],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
    )
    remote = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    css_remote = re.compile(r"(?:url\(|@import)\s*[\"']?(?:https?:)?//", re.I)
    pages = sorted(tmp_path.rglob("*.html"))
    assert len(pages) > len(list((ROOT / "docs").glob("*.md")))
    for page in pages:
        assert not remote.findall(page.read_text("utf-8")), page
    for sheet in tmp_path.rglob("*.css"):
        assert not css_remote.findall(sheet.read_text("utf-8")), sheet
    session = text_of(tmp_path / "reference" / "session" / "index.html")
    assert 'auth_header: str = "authorization",' in session  # a valid signature, quotes kept
    assert re.search(r"^\s*catalog\s+async\s", session, re.MULTILINE)  # async methods say so
    errors = text_of(tmp_path / "reference" / "errors" / "index.html")
    assert re.search(r"^\s*retry_after\s+instance-attribute", errors, re.MULTILINE)
    assert "retry_after: float | None" in errors  # typed, not `retry_after = retry_after`
    models = text_of(tmp_path / "reference" / "models" / "index.html")
    assert re.search(r"Catalog\(\s*models: tuple\[ImageModel, \.\.\.\] = \(\),", models)  # attrs


def text_of(page: Path) -> str:
    """The text a reader sees on a built page: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text("utf-8")))


async def run_python(block: Block, namespace: dict[str, Any]) -> None:
    """Run one python block in ``namespace``; top-level await runs in this loop."""
    source = "\n" * (block.line - 1) + block.code  # so tracebacks show the page's line numbers
    code = compile(source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)  # noqa: S307 - running our own docs is the point
    else:
        await asyncio.to_thread(exec, code, namespace)


async def run_console(block: Block, capsys: pytest.CaptureFixture[str]) -> None:
    """Run the ``$ nanogpt-images ...`` lines of a console block through ``main()``."""
    for line, shown in _commands(block.code):
        command = line.removeprefix("$ nanogpt-images ")
        expected = 0
        if match := EXIT.search(command):
            expected = int(match[1])
            command = command[: match.start()]
        capsys.readouterr()
        code = await asyncio.to_thread(cli_main, shlex.split(command))
        assert code == expected, f"{block.where}: '{line}' exited {code}"
        if shown:
            out, err = capsys.readouterr()
            assert _lines(out + err) == _lines("\n".join(shown)), f"{block.where}: '{line}'"


def _commands(code: str) -> list[tuple[str, list[str]]]:
    """Each ``$ nanogpt-images`` line of a console block with the lines shown after it."""
    commands: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            commands.append((line, []))
        elif commands:
            commands[-1][1].append(line)
    return [(line, shown) for line, shown in commands if line.startswith("$ nanogpt-images ")]


async def close_leftovers(namespace: dict[str, Any]) -> None:
    """Close what a REPL-style example left open, so one page cannot leak into the next."""
    for value in list(namespace.values()):
        if isinstance(value, ImageModelsSession | FakeNanoGPT):
            with contextlib.suppress(RuntimeError):  # its loop was an asyncio.run()'s, now closed
                await value.close()
        elif isinstance(value, FakeClock):
            value.close()
