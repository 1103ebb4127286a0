"""``nanogpt-images generate``: files written, cost shown, confirmation above a threshold."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import pytest

from nanogpt_images._cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from nanogpt_images.testing import FakeNanoGPT

KEY = "sk-nano-22222222-cli-generation-secret"
GENERATE = "/v1/images/generations"


class Terminal(io.StringIO):
    """A stdin that says it is a terminal and answers with the text it was given."""

    def isatty(self) -> bool:
        return True


async def generate(
    capsys: pytest.CaptureFixture[str], *argv: str, key: str | None = KEY
) -> tuple[int, str, str]:
    """Run ``nanogpt-images generate ARGV`` in a thread (it owns its loop)."""
    capsys.readouterr()
    extra = ["--api-key", key] if key else []
    code = await asyncio.to_thread(main, ["generate", *argv, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def posts(fake: FakeNanoGPT) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == GENERATE)


async def test_generate_writes_the_images_and_prints_cost_and_balance(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The images land in --out as PNG files; stdout names them, then cost and balance."""
    code, out, err = await generate(
        capsys, "gpt-image-2", "a fox", "--resolution", "1024x1024", "--n", "2", "--out",
        str(tmp_path / "new"),
    )  # fmt: skip
    assert (code, err) == (0, "")
    lines = out.splitlines()
    files = sorted((tmp_path / "new").iterdir())
    assert [str(path) for path in files] == lines[:2]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in files)
    assert all(path.suffix == ".png" and "gpt-image-2" in path.name for path in files)
    assert lines[2] == "cost: $0.13102; balance: $9.86898"
    again = await generate(capsys, "gpt-image-2", "a fox", "--out", str(tmp_path / "new"))
    assert again[0] == 0
    assert len(list((tmp_path / "new").iterdir())) == 3  # nothing overwritten


async def test_above_the_threshold_without_a_terminal_nothing_is_sent(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With no terminal to ask and no --yes, a dear generation is refused, sending nothing."""
    code, _, err = await generate(
        capsys, "flux-pro", "a fox", "--resolution", "1344x768", "--confirm-above", "0.05",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert "costs about $0.102, above --confirm-above $0.05" in err
    assert "pass --yes" in err
    assert posts(fake) == 0
    assert not (tmp_path / "out").exists()


async def test_yes_goes_ahead_above_the_threshold(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--yes`` skips the question."""
    code, out, _ = await generate(
        capsys, "flux-pro", "a fox", "--resolution", "1344x768", "--confirm-above", "0.05",
        "--yes", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    assert "cost: $0.102" in out
    assert posts(fake) == 1


@pytest.mark.parametrize(("answer", "code", "sent"), [("y\n", 0, 1), ("n\n", 1, 0), ("\n", 1, 0)])
async def test_a_terminal_is_asked_first(
    fake: FakeNanoGPT,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    answer: str,
    code: int,
    sent: int,
) -> None:
    """On a terminal the user is asked; only "y" sends the request."""
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    result = await generate(
        capsys, "flux-pro", "a fox", "--resolution", "1344x768", "--confirm-above", "0.05",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result[0] == code
    assert "Generate with flux-pro for about $0.102? [y/N]" in result[1]
    assert posts(fake) == sent


async def test_max_cost_refuses_before_asking(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An estimate over --max-cost is an error naming both amounts; nothing is sent."""
    code, _, err = await generate(
        capsys, "flux-pro", "a fox", "--resolution", "1344x768", "--max-cost", "0.08",
        "--confirm-above", "0.05", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert "estimated at $0.102, more than max_cost=$0.08" in err
    assert posts(fake) == 0


async def test_without_a_key_generate_says_how_to_set_one(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No key: one line saying where to put it, and no request at all."""
    code, _, err = await generate(capsys, "flux-pro", "a fox", "--out", str(tmp_path), key=None)
    assert code == 1
    assert "NANOGPT_API_KEY" in err
    assert fake.request_count == 0


async def test_a_billed_failure_is_reported_once(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """NanoGPT's billed 500 ends the command with the warning, after exactly one request."""
    fake.fault_next("billed_500", n=5, path=GENERATE)
    code, _, err = await generate(capsys, "flux-pro", "a fox", "--yes", "--out", str(tmp_path))
    assert code == 1
    assert "may have been billed, so it was not sent again" in err
    assert KEY not in err
    assert posts(fake) == 1


async def test_a_param_that_clashes_is_a_usage_error(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--param prompt=...`` is a usage error (exit 2) saying why, not a traceback."""
    code, _, err = await generate(
        capsys, "flux-pro", "a fox", "--param", "prompt=x", "--yes", "--out", str(tmp_path)
    )
    assert code == 2
    assert "first two arguments" in err
    assert posts(fake) == 0


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
async def test_an_out_that_cannot_be_a_folder_is_refused_before_paying(
    fake: FakeNanoGPT, capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    """--out naming a file (or a path under one) is a usage error, and nothing is sent."""
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = await generate(
        capsys, "flux-pro", "a fox", "--yes", "--out", str(tmp_path / where)
    )
    assert code == 2
    assert "is not a folder (nothing was sent)" in err
    assert posts(fake) == 0
