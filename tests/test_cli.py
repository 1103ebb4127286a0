"""The nanogpt-images command, run against FakeNanoGPT over loopback."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import io
import json
import os
import pty
import re
import shutil
import signal
import struct
import sys
import termios
import time
from typing import TYPE_CHECKING

import pytest

import nanogpt_images
from nanogpt_images import _cli
from nanogpt_images._cli import main
from nanogpt_images.testing import FakeNanoGPT, model_payload

if TYPE_CHECKING:
    from conftest import Run


async def cli_process(
    *argv: str, env: dict[str, str] | None = None, stdout: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """``python -m nanogpt_images ARGV`` as a child process with pipes."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nanogpt_images",
        *argv,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def gone_url() -> str:
    """The URL of a FakeNanoGPT that has shut down: nothing listens there any more."""
    async with FakeNanoGPT() as gone:
        return gone.url


def error_lines(err: str) -> list[str]:
    """Stderr without the progress lines a slow fetch (retries, backoff) may add."""
    return [line for line in err.splitlines() if not line.startswith(("fetching", "still"))]


# -- models ----------------------------------------------------------------------


async def test_models_prints_an_aligned_filtered_table(fake: FakeNanoGPT, run: Run) -> None:
    """Filters and sort apply; columns line up under their headers; the count goes to stderr."""
    code, out, err = await run(
        "models", "--capability", "inpainting", "--max-price", "0.02", "--sort", "price"
    )
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "NAME", "OWNER", "CAPABILITIES", "RESOLUTIONS", "PRICE", "FROM"]
    assert rows[0].startswith("vidu-q2-reference ")
    assert rows[0].index("shengshu") == header.index("OWNER")
    assert rows[0].rstrip().endswith("$0.00932")
    assert err.strip() == f"{len(rows)} of 232 models"


async def test_models_says_when_no_model_has_the_capability(fake: FakeNanoGPT, run: Run) -> None:
    """An unknown ``--capability`` explains the empty table and names the flags that exist."""
    code, out, err = await run("models", "--capability", "nosuch")
    assert code == 0
    assert out.split() == ["ID", "NAME", "OWNER", "CAPABILITIES", "RESOLUTIONS", "PRICE", "FROM"]
    assert err.splitlines() == [
        "note: no model in the catalog has the capability flag 'nosuch'; the flags it has: "
        "background_removal, image_generation, image_to_image, inpainting, nsfw, upscaling, "
        "vector_output",
        "0 of 232 models",
    ]
    _, _, err = await run("models", "--capability", "upscaling", "--json")
    assert "note" not in err


async def test_models_json_is_the_catalog_as_served(fake: FakeNanoGPT, run: Run) -> None:
    """``--json`` prints the raw catalog, unknown fields included, exactly as the server sent it."""
    code, out, _ = await run("models", "--json")
    assert code == 0
    assert json.loads(out) == fake.catalog


async def test_models_json_with_filters_keeps_only_the_matches(fake: FakeNanoGPT, run: Run) -> None:
    """Filtered ``--json`` is the same envelope with just the matching models."""
    code, out, _ = await run("models", "--json", "--owned-by", "openai", "--text", "mini")
    assert code == 0
    assert [model["id"] for model in json.loads(out)["data"]] == ["gpt-image-1-mini"]


async def test_models_basic_asks_for_the_short_listing(fake: FakeNanoGPT, run: Run) -> None:
    """``--basic`` requests detailed=false and shows id, owner and creation date."""
    code, out, _ = await run("models", "--basic", "--owned-by", "bfl")
    assert code == 0
    assert fake.requests[-1].query["detailed"] == "false"
    header, first, *_ = out.splitlines()
    assert header.split() == ["ID", "OWNER", "CREATED"]
    _, owner, created = first.split()
    assert owner == "bfl"
    assert len(created) == len("2024-02-01")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--capability", "inpainting"], "--capability"),
        (["--resolution", "1k", "--max-price", "1"], "--resolution, --max-price"),
        (["--tag", "text-to-image"], "--tag"),
        (["--sort", "price"], "--sort price"),
    ],
)
async def test_models_basic_refuses_filters_it_has_no_data_for(
    fake: FakeNanoGPT, run: Run, argv: list[str], named: str
) -> None:
    """The short listing has no capabilities or prices: a usage error, not an empty table."""
    code, out, err = await run("models", "--basic", *argv)
    assert code == 2
    assert out == ""
    verb = "need" if "," in named else "needs"
    assert f"{named} {verb} the detailed listing, which --basic leaves out; drop --basic" in err
    assert fake.request_count == 0


async def test_models_basic_shows_a_timestamp_that_is_not_seconds_as_sent(
    fake: FakeNanoGPT, run: Run
) -> None:
    """A ``created`` in milliseconds (or any number past year 9999) is shown, not a crash."""
    fake.add_model(model_payload("in-ms", owned_by="acme", created=1767225600000))
    code, out, _ = await run("models", "--basic", "--owned-by", "acme")
    assert code == 0
    model_id, owner, created = out.splitlines()[1].split()
    assert (model_id, owner) == ("in-ms", "acme")
    assert created.startswith("1767225600")  # the column may shorten it with an ellipsis


async def test_check_says_a_price_in_another_currency_is_not_shown(
    fake: FakeNanoGPT, run: Run
) -> None:
    """Prices are USD; a model priced in EUR gets no price, and check says why."""
    fake.add_model(
        model_payload("euro", pricing={"currency": "EUR", "per_image": {"1024x1024": 0.02}})
    )
    code, out, _ = await run("check", "euro")
    assert code == 0
    assert "its prices are in EUR, and this SDK prices in USD only" in out


async def test_check_passes_a_parameter_named_self_through(fake: FakeNanoGPT, run: Run) -> None:
    """Any parameter name is the user's: ``self`` too."""
    code, out, _ = await run("check", "flux-pro", "--param", "self=1")
    assert code == 0
    assert "ok" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("columns", "titles", "left_out"),
    [
        (80, ["ID", "OWNER"], "NAME, CAPABILITIES, RESOLUTIONS"),
        (120, ["ID", "OWNER", "CAPABILITIES"], "NAME, RESOLUTIONS"),
        (140, ["ID", "OWNER", "CAPABILITIES", "RESOLUTIONS"], "NAME"),
    ],
)
async def test_models_fits_the_table_to_the_terminal(
    fake: FakeNanoGPT,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
    titles: list[str],
    left_out: str,
) -> None:
    """No row is wider than COLUMNS; ids and prices stay whole; stderr names what is left out."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = await run("models")
    assert code == 0
    header, *rows = out.splitlines()
    assert max(len(line) for line in out.splitlines()) <= columns
    assert header.split() == [*titles, "PRICE", "FROM"]
    ids = {model["id"] for model in fake.catalog["data"]}
    assert {row.split()[0] for row in rows} == ids  # every id whole
    assert sum(re.search(r"\$[\d.]+$", row) is not None for row in rows) > 200
    assert err.strip() == f"232 of 232 models; {left_out} left out to fit {columns} columns"
    if columns == 140:  # room for part of the resolutions: shortened, not cut off at the edge
        assert "1024x1024, 1024x768, 768…" in out


async def test_models_on_a_very_narrow_terminal_shortens_the_id_last(
    fake: FakeNanoGPT, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 30 columns the price and the date still show; the id gives way, with an ellipsis."""
    monkeypatch.setenv("COLUMNS", "30")
    for argv, last in ((["models"], r"\$[\d.]+"), (["models", "--basic"], r"\d{4}-\d\d-\d\d")):
        code, out, _ = await run(*argv, "--text", "wavespeed-ai/")
        assert code == 0
        _, *rows = out.splitlines()
        assert max(len(line) for line in out.splitlines()) <= 30
        assert any("…" in row.split()[0] for row in rows)
        assert all(re.search(last + "$", row) for row in rows), out


async def test_models_measures_the_terminal_stdout_is(
    fake: FakeNanoGPT, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With stdout a terminal and no COLUMNS, the terminal's own width is used."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *_: os.terminal_size((72, 24)))
    code, out, _ = await run("models")
    assert code == 0
    assert 60 < max(len(line) for line in out.splitlines()) <= 72


async def test_models_piped_prints_every_cell_whole(fake: FakeNanoGPT, run: Run) -> None:
    """To a file or pipe (no terminal, no COLUMNS) the table is full width, nothing shortened."""
    code, out, err = await run("models")
    assert code == 0
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) > 150
    assert "image_to_image, background_removal" in out
    assert err.strip() == "232 of 232 models"


async def test_models_measures_a_real_terminal(fake: FakeNanoGPT) -> None:
    """On a terminal 60 columns wide (a pty, no COLUMNS) the table fits it without wrapping."""
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    try:
        process = await cli_process("models", "--owned-by", "bfl", stdout=child_fd, env=env)
    finally:
        os.close(child_fd)
    await asyncio.wait_for(process.communicate(), 30)
    out = read_pty(main_fd)
    lines = out.replace("\r\n", "\n").splitlines()
    assert process.returncode == 0
    assert lines[0].split()[0] == "ID"
    assert lines[0].endswith("PRICE FROM")
    assert len(lines) > 3
    assert max(len(line) for line in lines) <= 60


def read_pty(fd: int) -> str:
    """Everything a finished child wrote to the pty whose main side is ``fd``; closes it."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:  # EIO: the child's side is closed and everything has been read
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


@pytest.mark.parametrize("where", ["after", "both"])
async def test_global_options_are_accepted_after_the_command(
    fake: FakeNanoGPT, run: Run, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """``models --base-url URL`` works like ``--base-url URL models``; the later one wins."""
    gone = await gone_url()
    monkeypatch.setenv("NANOGPT_BASE_URL", gone)
    before = ["--base-url", gone] if where == "both" else []
    code, out, _ = await run(*before, "show", "flux-pro", "--base-url", fake.url, "--timeout", "5")
    assert code == 0
    assert out.startswith("flux-pro  (FLUX Pro)")
    assert fake.request_count == 1


async def test_global_options_before_the_command_are_not_reset_by_it(
    fake: FakeNanoGPT, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An option given only before the command keeps its value (the command's copy is unset)."""
    monkeypatch.setenv("NANOGPT_BASE_URL", await gone_url())
    code, _, _ = await run("--base-url", fake.url, "--timeout", "5", "models", "--json")
    assert code == 0
    assert fake.request_count == 1


# -- show and check ----------------------------------------------------------------


@pytest.mark.parametrize("argv", [["models", "--owned-by", "acme"], ["show", "sneaky"]])
async def test_control_characters_from_the_server_are_shown_not_obeyed(
    fake: FakeNanoGPT, run: Run, argv: list[str]
) -> None:
    """A name carrying terminal escapes cannot recolour or retitle the user's terminal."""
    fake.add_model(
        model_payload(
            "sneaky",
            name="\x1b]0;pwned\x07\x1b[31mRed\nfake-row",
            owned_by="acme",
            **{"\x1b]0;key\x07": "x"},
        )
    )
    code, out, _ = await run(*argv)
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b[31mRed" in out
    if argv[0] == "models":
        assert len(out.splitlines()) == 2  # a newline in a name adds no row


async def test_show_prints_every_field_including_unknown_ones(fake: FakeNanoGPT, run: Run) -> None:
    """``show`` lists the model's fields, nested ones indented, and names the unknown ones."""
    code, out, _ = await run("show", "birefnet/v2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "birefnet/v2  (Birefnet V2)"
    assert "    background_removal: true" in lines
    assert "  endpoints: /api/v1/images/models/birefnet/v2/endpoints" in lines
    assert "  price from: $0.01" in lines
    code, out, _ = await run("show", "flux-2-pro")
    assert "  fields this SDK does not know: label" in out.splitlines()


async def test_show_json_is_the_entry_as_served(fake: FakeNanoGPT, run: Run) -> None:
    """``show --json`` prints the model's raw entry unchanged."""
    code, out, _ = await run("show", "gpt-image-2", "--json")
    assert code == 0
    served = next(model for model in fake.catalog["data"] if model["id"] == "gpt-image-2")
    assert json.loads(out) == served


async def test_show_prints_dates_not_epochs(fake: FakeNanoGPT, run: Run) -> None:
    """``created`` shows as an ISO 8601 UTC time; ``--json`` keeps the raw number."""
    code, out, _ = await run("show", "flux-pro")
    assert code == 0
    assert "  created: 2024-02-01T00:00:00Z" in out.splitlines()
    assert "1706745600" not in out
    _, out, _ = await run("show", "flux-pro", "--json")
    assert json.loads(out)["created"] == 1706745600


async def test_check_json_gives_params_and_price(fake: FakeNanoGPT, run: Run) -> None:
    """``check --json`` prints valid, the normalised params and the exact price, exit 0.

    ``unchecked`` lists parameters the model does not describe (passed through as is).
    """
    code, out, err = await run("check", "gpt-image-2", "--size", "1024*1024", "--n", "2", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "model": "gpt-image-2",
        "valid": True,
        "params": {"resolution": "1024x1024", "n": 2},
        "unchecked": [],
        "problems": [],
        "price": {
            "usd": "0.13102",
            "images": 2,
            "resolution": "1024x1024",
            "unknown_because": None,
        },
    }


async def test_check_json_lists_problems_with_their_fields(fake: FakeNanoGPT, run: Run) -> None:
    """An invalid request under ``--json`` is JSON on stdout naming each parameter; exit 1."""
    code, out, err = await run("check", "flux-pro", "--size", "7x7", "--n", "3", "--json")
    assert (code, err) == (1, "")
    result = json.loads(out)
    assert (result["valid"], result["params"], result["price"]) == (False, None, None)
    [resolution, n] = result["problems"]
    assert resolution["parameter"] == "resolution"
    assert resolution["value"] == "7x7"
    assert "1024x1024" in resolution["allowed"]
    assert resolution["message"].startswith("`7x7` is not a resolution of `flux-pro`")
    assert (n["parameter"], n["value"], n["allowed"]) == ("n", 3, [1])


async def test_check_json_says_why_a_price_is_unknown(fake: FakeNanoGPT, run: Run) -> None:
    """A valid request with no price has ``usd: null`` and the reason."""
    code, out, _ = await run("check", "auto-image-selection", "--json")
    assert code == 0
    assert json.loads(out)["price"] == {
        "usd": None,
        "images": 1,
        "resolution": None,
        "unknown_because": "the catalog gives no prices for this model",
    }


async def test_check_accepts_and_prices_a_valid_request(fake: FakeNanoGPT, run: Run) -> None:
    """A valid request exits 0 with the normalised parameters and the price."""
    code, out, _ = await run(
        "check", "gpt-image-2", "--size", "1024*1024", "--n", "2", "--param", "quality=high"
    )
    assert code == 0
    assert out.splitlines() == [
        "ok: gpt-image-2 accepts resolution=1024x1024, n=2",
        "unchecked: gpt-image-2 does not describe quality=high; passed through as is",
        "price: $0.13102 for 2 images at 1024x1024",
    ]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["boogu-image", "--resolution", "1k"],
            "at 1k: its pricing lists only square_hd, square, portrait_4_3, portrait_16_9, "
            "landscape_4_3, landscape_16_9",
        ),
        (["auto-image-selection"], "(cheapest size): the catalog gives no prices for this model"),
    ],
    ids=["size-not-priced", "no-prices"],
)
async def test_check_says_why_a_price_is_unknown(
    fake: FakeNanoGPT, run: Run, argv: list[str], reason: str
) -> None:
    """A valid request with no price says why instead of printing ``price: -``."""
    code, out, _ = await run("check", *argv)
    assert code == 0
    assert out.splitlines()[1] == f"price: unknown for 1 image {reason}"


async def test_check_lists_every_problem_and_exits_1(fake: FakeNanoGPT, run: Run) -> None:
    """An invalid request exits 1 listing each problem on stderr."""
    code, out, err = await run("check", "flux-pro", "--resolution", "7x7", "--n", "3")
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "invalid request for flux-pro:"
    assert lines[1].startswith("  - `7x7` is not a resolution of `flux-pro`; allowed: 1024x1024")
    assert "always makes 1 image" in lines[2]


async def test_unknown_model_is_one_line_with_suggestions(fake: FakeNanoGPT, run: Run) -> None:
    """A mistyped id exits 1 with one stderr line naming close ids."""
    code, _, err = await run("show", "flux-pr")
    assert code == 1
    assert err == (
        "nanogpt-images: error: no image model with id 'flux-pr'; "
        "did you mean 'flux-pro', 'flux-2-pro', 'flux-lora'?\n"
    )


# -- errors, keys and progress -------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["models", "--sort", "size"],
        ["models", "--max-price", "cheap"],
        ["check", "flux-pro", "--param", "quality"],
        ["--timeout", "0", "models"],
        ["fly"],
    ],
    ids=["no-command", "bad-sort", "bad-price", "bad-param", "bad-timeout", "bad-command"],
)
async def test_usage_errors_exit_2(fake: FakeNanoGPT, run: Run, argv: list[str]) -> None:
    """Bad command lines exit 2 with argparse's usage message and never reach the server."""
    code, _, err = await run(*argv)
    assert code == 2
    assert "usage: nanogpt-images" in err
    assert fake.request_count == 0


async def test_server_errors_are_one_line_and_exit_1(fake: FakeNanoGPT, run: Run) -> None:
    """A 5xx after the retries prints one readable line, no traceback."""
    fake.fail_next(3, 503)
    code, out, err = await run("models")
    assert code == 1
    assert out == ""
    errors = [line for line in err.splitlines() if "error" in line]  # retries may add progress
    assert len(errors) == 1
    assert errors[0].startswith("nanogpt-images: error: HTTP 503")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["models", "watch"])
async def test_connection_refused_is_one_line(run: Run, command: str) -> None:
    """With nothing listening the command says so in one line, and exits 1; ``watch`` too."""
    url = await gone_url()
    code, _, err = await run("--base-url", url, "--timeout", "2", command)
    assert code == 1
    assert error_lines(err) == [
        f"nanogpt-images: error: could not fetch {url}/api/v1/image-models: "
        f"connection refused by {url.removeprefix('http://')}"
    ]


async def test_a_timeout_names_the_attempts_and_the_whole_wait(fake: FakeNanoGPT, run: Run) -> None:
    """``--timeout`` is per attempt: the error says so, how many attempts, and the total wait."""
    fake.delay(5.0)
    code, _, err = await run("--timeout", "0.2", "show", "flux-pro")
    assert code == 1
    [line] = error_lines(err)
    expected = (
        rf"nanogpt-images: error: no complete answer from {re.escape(fake.url)}\S+ after "
        r"3 attempts over (\d+\.\d) s \(timeout=0\.2 s per attempt\)"
    )
    match = re.fullmatch(expected, line)
    assert match is not None, line
    assert float(match[1]) >= 0.6
    assert fake.request_count == 3


async def test_the_api_key_is_sent_but_never_printed(fake: FakeNanoGPT, run: Run) -> None:
    """``--api-key`` reaches the server; a rejected key does not appear in the error."""
    fake.require_key = "sk-right"
    code, _, _ = await run("--api-key", "sk-right", "models")
    assert code == 0
    assert fake.requests[-1].headers["authorization"] == "***"
    code, out, err = await run("--api-key", "sk-wrong-secret", "models")
    assert code == 1
    assert err.splitlines()[-1].startswith("nanogpt-images: error: HTTP 401")
    assert "sk-wrong-secret" not in out + err


async def test_a_key_over_plain_http_is_refused(run: Run) -> None:
    """A key with a non-loopback http:// URL is a usage error that does not echo the key."""
    code, out, err = await run("--base-url", "http://example.com", "--api-key", "sk-123", "models")
    assert code == 2
    assert "refusing to send an API key over plain http" in err
    assert "pass --allow-insecure-http if you really mean it" in err
    assert "sk-123" not in out + err


async def test_a_slow_fetch_says_what_it_waits_for(
    fake: FakeNanoGPT, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a fetch is slow, stderr names the URL being fetched; the result still arrives."""
    monkeypatch.setattr(_cli, "PROGRESS_AFTER", 0.05)
    fake.delay(0.5)
    code, out, err = await run("show", "flux-pro")
    assert code == 0
    assert f"fetching the catalog from {fake.url}" in err
    assert out.startswith("flux-pro")


async def test_version_prints_the_package_version(
    run: Run,
) -> None:
    """``--version`` answers offline, with the installed version."""
    code, out, _ = await run("--version")
    assert code == 0
    assert out == f"nanogpt-images {nanogpt_images.__version__}\n"


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        ([], "Browse and check NanoGPT's image models"),
        (["models"], "filters (all must match)"),
        (["show"], "including fields this SDK does not know"),
        (["check"], "--resolution R, --size R"),
        (["watch"], "Stop with Ctrl-C"),
        ([], "time limit per attempt (default: 30)"),
        (["demo"], "Needs no network and no key"),
    ],
)
async def test_every_command_has_help(run: Run, argv: list[str], phrase: str) -> None:
    """``--help`` of the program and of each command exits 0 and explains it."""
    code, out, _ = await run(*argv, "--help")
    assert code == 0
    assert phrase in " ".join(out.split())


# -- pipes, watch and demo (child processes) --------------------------------------


async def test_the_log_switch_works_for_the_command_too(fake: FakeNanoGPT) -> None:
    """``NANOGPT_IMAGES_LOG=info`` shows the command's retries on stderr; the result still comes."""
    fake.fail_next(1, 503)
    env = {**os.environ, "NANOGPT_BASE_URL": fake.url, "NANOGPT_IMAGES_LOG": "info"}
    process = await cli_process("show", "flux-pro", env=env)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert out.startswith(b"flux-pro  (FLUX Pro)")
    [retry] = [line for line in err.decode().splitlines() if "retrying" in line]
    assert " INFO nanogpt_images: retrying the catalog fetch in " in retry
    assert "HTTP 503" in retry


@pytest.mark.parametrize("argv", [["models"], ["models", "--json"]], ids=["table", "json"])
async def test_a_reader_that_leaves_early_ends_quietly_with_141(
    fake: FakeNanoGPT, argv: list[str]
) -> None:
    """``... | head`` closing the pipe exits 141 (as for SIGPIPE) with nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line is written
    try:
        process = await cli_process(*argv, stdout=write_end)
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert err == b""
    assert process.returncode == 141


async def test_a_broken_pipe_in_process_returns_141(
    fake: FakeNanoGPT, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``main()`` turns a BrokenPipeError from stdout into exit code 141, not a traceback."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert await asyncio.to_thread(main, ["show", "flux-pro"]) == 141


async def test_watch_prints_changes_and_stops_cleanly_on_ctrl_c(fake: FakeNanoGPT) -> None:
    """``watch`` prints added, removed and changed models, and Ctrl-C exits 0 with no traceback."""
    process = await cli_process("--base-url", fake.url, "watch", "--interval", "0.2")
    assert process.stdout is not None
    try:
        banner = await asyncio.wait_for(process.stdout.readline(), 10)
        assert banner.startswith(b"watching 232 models at " + fake.url.encode())
        fake.add_model(model_payload("brand-new", name="Brand New"))
        fake.remove_model("dall-e-3")
        fake.update_model("flux-pro", name="FLUX Pro 2")
        lines = {
            (await asyncio.wait_for(process.stdout.readline(), 10)).decode()[10:] for _ in range(3)
        }
        assert lines == {
            "+ brand-new  (Brand New)\n",
            "- dall-e-3\n",
            "~ flux-pro: name\n",
        }
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert err.decode() == "stopped.\n"


async def test_watch_ends_with_141_when_its_reader_leaves(fake: FakeNanoGPT) -> None:
    """``watch | grep -m1 acme``: once the reader has gone, the next change ends watch quietly."""
    read_end, write_end = os.pipe()
    try:
        process = await cli_process(
            "--base-url", fake.url, "watch", "--interval", "0.2", stdout=write_end
        )
    finally:
        os.close(write_end)
    try:
        banner = await asyncio.to_thread(os.read, read_end, 4096)
        assert banner.startswith(b"watching 232 models")
    finally:
        os.close(read_end)  # the reader goes away
    fake.add_model(model_payload("brand-new", name="Brand New"))
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert err == b""
    assert process.returncode == 141


async def test_output_that_cannot_be_written_is_one_line(
    fake: FakeNanoGPT, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk behind ``> file`` is an error line and exit 1, not a traceback."""

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", FullDisk())
    assert await asyncio.to_thread(main, ["show", "flux-pro"]) == 1
    assert capsys.readouterr().err == "nanogpt-images: error: No space left on device\n"


async def test_a_closed_stdout_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started with ``>&-``: say so, exit 1."""
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["models"]) == 1
    assert capsys.readouterr().err == "nanogpt-images: error: standard output is closed\n"


async def test_demo_narrates_the_tour_offline_in_under_15_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``python -m nanogpt_images demo`` tells the whole story quickly, even with a bogus env."""
    monkeypatch.setenv("NANOGPT_BASE_URL", "https://nano-gpt.invalid")
    monkeypatch.setenv("NANOGPT_API_KEY", "sk-should-not-matter")
    started = time.monotonic()
    process = await cli_process("demo")
    out, err = await asyncio.wait_for(process.communicate(), 30)
    elapsed = time.monotonic() - started
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert elapsed < 15
    for phrase in [
        "A fake NanoGPT is serving the bundled sample catalog at http://127.0.0.1:",
        "232 models in",
        "100,000 get_model('flux-pro') calls",
        "subscribe() callback after",
        "+acme/sketch-1",
        "from the last good copy: source=stale",
        "HTTP 503",
        "`7x7` is not a resolution of `flux-pro`",
        "did you mean 'flux-pro'",
        "Done in",
    ]:
        assert phrase in text
    assert "sk-should-not-matter" not in text + err.decode()
    assert err == b""


async def test_check_says_which_params_it_passed_through_unchecked(
    fake: FakeNanoGPT, run: Run
) -> None:
    """A parameter the model does not describe is reported as unchecked, not as accepted."""
    code, out, _ = await run("check", "flux-pro", "--param", "quality=ultra", "--n", "1")
    assert code == 0
    assert out.splitlines()[:2] == [
        "ok: flux-pro accepts n=1",
        "unchecked: flux-pro does not describe quality=ultra; passed through as is",
    ]


async def test_models_exclude_capability_drops_flagged_models(fake: FakeNanoGPT, run: Run) -> None:
    """``--exclude-capability nsfw`` (repeatable) lists only models without those flags."""
    code, out, _ = await run(
        "models", "--json", "--capability", "inpainting", "--exclude-capability", "nsfw",
        "--exclude-capability", "image_to_image",
    )  # fmt: skip
    assert code == 0
    models = json.loads(out)["data"]
    assert models
    for model in models:
        flags = model["capabilities"]
        assert flags["inpainting"] is True
        assert flags.get("nsfw") is not True
        assert flags.get("image_to_image") is not True
    code, _, err = await run("models", "--basic", "--exclude-capability", "nsfw")
    assert code == 2
    assert "--exclude-capability needs the detailed listing" in err


async def test_check_json_names_parameters_passed_through_unchecked(
    fake: FakeNanoGPT, run: Run
) -> None:
    """A parameter the model does not describe is listed under ``unchecked``, not as accepted."""
    code, out, _ = await run("check", "gpt-image-2", "--param", "quality=ultra", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["unchecked"] == ["quality"]
    assert result["params"]["quality"] == "ultra"
