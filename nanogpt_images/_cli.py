"""The ``nanogpt-images`` command: browse, inspect and check NanoGPT's image models, and generate.

Built on the public API only (``nanogpt_images`` and ``nanogpt_images.testing``),
with stdlib ``argparse``.  Exit codes: 0 success, 1 a network, API or
validation failure (one line on stderr), 2 a usage error, 130 interrupted,
141 the reader of stdout went away (``| head``), as a shell reports SIGPIPE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from nanogpt_images import (
    BudgetExceededError,
    Catalog,
    ImageModelsSession,
    InputImage,
    NanoGPTError,
    ParameterValidationError,
    ValidatedParams,
    dump_catalog,
    dump_endpoints,
)

from ._cli_endpoints import describe_image, print_endpoints, read_images
from ._cli_output import (
    images,
    images_count,
    iso_time,
    money,
    no_price_reason,
    note_unknown_flags,
    one_line,
    or_unknown,
    print_change,
    print_field,
    print_problems,
    print_table,
    printable,
    raw_model,
    table_width,
)
from ._logging import env_handler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence

    from nanogpt_images import (
        CatalogChange,
        Coordinator,
        Generation,
        ImageModel,
        ValidationProblem,
    )

__all__ = ["build_parser", "main"]

PROG = "nanogpt-images"
DEFAULT_URL = "https://nano-gpt.com"
PROGRESS_AFTER = 1.0  # seconds a fetch may take before stderr says what we wait for
RETRIES = 2  # a failed attempt (timeout, refused, 5xx...) is retried this often, with backoff
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`
CONFIRM_ABOVE = Decimal("0.50")  # USD: `generate` asks before spending more than this


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        print(f"{PROG}: error: standard output is closed", file=sys.stderr)
        return 1
    try:
        with _library_warnings_to_stderr(args.command != "demo"):
            code = asyncio.run(command(args))
        sys.stdout.flush()  # a reader that left shows here when the output fit in the buffer
        return code
    except BrokenPipeError:  # `nanogpt-images models | head`: the reader has what it wanted
        _stdout_to_devnull()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        if args.command == "watch":  # Ctrl-C is how watch is meant to end
            print("stopped.", file=sys.stderr)
            return 0
        print("interrupted.", file=sys.stderr)
        return 130
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ParameterValidationError as exc:
        print_problems(exc)
        return 1
    except NanoGPTError as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # last (TimeoutError is one): a full disk behind `> file`, say
        _stdout_to_devnull()
        print(f"{PROG}: error: {exc.strerror or exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nanogpt-images`` with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Browse and check NanoGPT's image models from the terminal.",
        epilog=(
            "Try it offline first: 'nanogpt-images demo'. "
            "Run 'nanogpt-images COMMAND --help' for the options of a command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser(
        "models",
        help="list the image models as a table, optionally filtered",
        description="List the image models, filtered by any of the options below.",
    )
    _add_filters(models)
    models.add_argument(
        "--json", action="store_true", help="print the raw catalog JSON instead of a table"
    )
    models.add_argument(
        "--basic",
        action="store_true",
        help="ask for the short listing (detailed=false): ids and owners only",
    )
    models.set_defaults(run=_models)

    show = commands.add_parser(
        "show",
        help="show every field of one model",
        description="Show every field of one model, including fields this SDK does not know.",
    )
    show.add_argument("model", metavar="MODEL", help="the model id, e.g. flux-pro")
    show.add_argument("--json", action="store_true", help="print the model's raw JSON")
    show.set_defaults(run=_show)

    check = commands.add_parser(
        "check",
        help="check a generation request and show its price",
        description=(
            "Check a generation request against what the model supports and print its "
            "price. Exits with 1 and lists every problem when the request is invalid."
        ),
        epilog="example: nanogpt-images check flux-pro --resolution 1024x1024 --n 1",
    )
    _add_request_options(check)
    check.add_argument(
        "--json",
        action="store_true",
        help=(
            "print the result as JSON: valid, the normalised params, the problems with "
            "their parameter and allowed values, the price (exit code as without)"
        ),
    )
    check.add_argument(
        "--input-image",
        metavar="FILE",
        action="append",
        default=[],
        help=(
            "an image file to send with the request (repeatable); checked against the "
            "model's input-image limits (count, format, pixels, bytes)"
        ),
    )
    check.set_defaults(run=_check)

    endpoints = commands.add_parser(
        "endpoints",
        help="show a model's provider, price per resolution and input-image limits",
        description=(
            "Show the endpoint details of one model (GET /api/v1/images/models/MODEL/"
            "endpoints): the provider, the price of each resolution and the limits on "
            "input images."
        ),
    )
    endpoints.add_argument("model", metavar="MODEL", help="the model id, e.g. gpt-image-2")
    endpoints.add_argument("--json", action="store_true", help="print the raw JSON")
    endpoints.set_defaults(run=_endpoints)

    generate = commands.add_parser(
        "generate",
        help="generate images (paid): checked first, sent once, saved to files",
        description=(
            "Check the request against the catalog, then generate with NanoGPT and save the "
            "images to --out. Needs an API key (--api-key or $NANOGPT_API_KEY). Asks before "
            "spending more than --confirm-above unless --yes; with no terminal to ask, it "
            "refuses. A request that may have been billed is never sent again."
        ),
        epilog='example: nanogpt-images generate flux-pro "a red fox" --resolution 1024x1024',
    )
    _add_request_options(generate)
    generate.add_argument("prompt", metavar="PROMPT", help="what to draw")
    generate.add_argument(
        "--max-cost",
        metavar="USD",
        type=_price,
        help="refuse (sending nothing) when the estimate is above this",
    )
    generate.add_argument(
        "--out", metavar="DIR", type=Path, default=Path(), help="where to save (default: .)"
    )
    generate.add_argument(
        "--confirm-above",
        metavar="USD",
        type=_price,
        default=CONFIRM_ABOVE,
        help=f"ask before spending more than this, or an unknown price (default: {CONFIRM_ABOVE})",
    )
    generate.add_argument("--yes", "-y", action="store_true", help="do not ask; go ahead")
    generate.set_defaults(run=_generate)

    watch = commands.add_parser(
        "watch",
        help="print catalog changes as they happen, until Ctrl-C",
        description=(
            "Keep a session open and print each change (models added, removed or "
            "changed) that the background refresh finds. Stop with Ctrl-C."
        ),
    )
    watch.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_positive_float,
        default=60.0,
        help="seconds between refreshes (default: 60)",
    )
    watch.add_argument(
        "--redis",
        metavar="URL",
        help=(
            "share the catalog with a fleet through this Redis (redis://host:6379/0); "
            "needs nanogpt-images[redis]"
        ),
    )
    watch.set_defaults(run=_watch)

    demo = commands.add_parser(
        "demo",
        help="a narrated, offline tour of a session against a local fake server",
        description=(
            "Start a fake NanoGPT on 127.0.0.1 with the bundled sample catalog and "
            "narrate what a session does: cold fetch, warm reads, a change seen by the "
            "background refresh, an outage served from the cache, recovery, validation. "
            "Needs no network and no key; ignores --base-url and --api-key."
        ),
    )
    demo.set_defaults(run=_demo)
    for command in commands.choices.values():
        _add_global_options(command, repeated=True)
    return parser


# -- commands ----------------------------------------------------------------


async def _models(args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {
        name: tuple(value) if info.repeatable and value else value
        for name, info in Catalog.FILTERS.items()
        if info.metavar is not None
        for value in [getattr(args, name)]
    }
    filtered = any(value is not None for value in filters.values()) or args.sort is not None
    if args.basic:  # the short listing has ids, owners and dates only: say so, not "0 models"
        needs_detail = [
            f"--{name.replace('_', '-')}"
            for name, value in filters.items()
            if value is not None and name not in _BASIC_FILTERS
        ]
        if args.sort == "price":
            needs_detail.append("--sort price")
        if needs_detail:
            verb = "needs" if len(needs_detail) == 1 else "need"
            raise _UsageError(
                f"{', '.join(needs_detail)} {verb} the detailed listing, which --basic leaves "
                "out; drop --basic"
            )
    async with _open_session(args, detailed=not args.basic) as session:
        catalog = await _fetch_with_progress(session, args)
        try:
            matches = await session.find(sort=args.sort, **filters)
        except (TypeError, ValueError) as exc:
            raise _UsageError(str(exc)) from None
    flags = (*(args.capability or ()), *(args.exclude_capability or ()))
    if args.json:
        note_unknown_flags(flags, catalog)
        shown = catalog
        if filtered:
            shown = Catalog(
                models=matches, meta=catalog.meta, object=catalog.object, extras=catalog.extras
            )
        _print_json(dump_catalog(shown))
        return 0
    note_unknown_flags(flags, catalog)
    width = table_width()
    hidden = print_table(matches, basic=args.basic, resolution=args.resolution, width=width)
    summary = f"{len(matches)} of {len(catalog)} models"
    if catalog.rejected:
        summary += f" ({len(catalog.rejected)} unreadable entries skipped)"
    if hidden:
        summary += f"; {', '.join(hidden)} left out to fit {width} columns"
    print(summary, file=sys.stderr)
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with _open_session(args) as session:
        catalog = await _fetch_with_progress(session, args)
    model = catalog[args.model]
    raw = raw_model(model)
    if args.json:
        _print_json(raw)
        return 0
    print(printable(f"{model.id}  ({model.display_name})"))
    for key, value in raw.items():
        if key == "created":
            value = iso_time(value)
        if key != "id":
            print_field(key, value, indent=1)
    print("summary:")
    print(f"  price from: {money(model.price())}")
    print(printable(f"  resolutions: {', '.join(model.resolutions or ()) or 'not listed'}"))
    print(f"  images per request: {or_unknown(model.max_n, 'up to {}')}")
    print(f"  accepts input images: {'yes' if model.accepts_image_input else 'no'}")
    if model.extras:
        print(printable(f"  fields this SDK does not know: {', '.join(sorted(model.extras))}"))
    return 0


async def _check(args: argparse.Namespace) -> int:
    params = _request_params(args)
    try:
        input_images = read_images(args.input_image)
    except OSError as exc:
        raise _UsageError(str(exc)) from None
    async with _open_session(args) as session:
        catalog = await _fetch_with_progress(session, args)
        model = catalog[args.model]
        try:
            normalised = await session.validate(model.id, input_images=input_images, **params)
        except ParameterValidationError as exc:
            if not args.json:
                raise
            _print_json(_check_result(model, params=None, problems=exc.problems))
            return 1
        resolution = normalised.get("resolution")
        n = normalised.get("n", 1)
        try:
            cost = await session.price(model.id, resolution=resolution, n=n)
        except ValueError:
            cost = None
    if args.json:
        _print_json(_check_result(model, params=normalised, cost=cost, n=n))
        return 0
    shown = ", ".join(f"{key}={normalised[key]}" for key in normalised.checked) or "defaults"
    print(printable(f"ok: {model.id} accepts {shown}"))
    if normalised.unchecked:
        passed = ", ".join(f"{key}={normalised[key]}" for key in normalised.unchecked)
        print(printable(f"unchecked: {model.id} does not describe {passed}; passed through as is"))
    if input_images:
        print(f"input images ({len(input_images)}) within the model's limits:")
        for path, image in zip(args.input_image, input_images, strict=True):
            print(describe_image(path, image))
    where = f" at {resolution}" if resolution else " (cheapest size)"
    if cost is None:
        print(printable(f"price: unknown for {images(n, model)}{where}: {no_price_reason(model)}"))
    else:
        print(f"price: {money(cost)} for {images(n, model)}{where}")
    return 0


async def _endpoints(args: argparse.Namespace) -> int:
    async with _open_session(args) as session:
        await _fetch_with_progress(session, args)
        details = await session.endpoints(args.model)
    if args.json:
        json.dump(dump_endpoints(details), sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print_endpoints(details)
    return 0


def _check_result(
    model: ImageModel,
    *,
    params: dict[str, Any] | None,
    problems: Sequence[ValidationProblem] = (),
    cost: Decimal | None = None,
    n: int = 1,
) -> dict[str, Any]:
    """What ``check --json`` prints: the verdict, the normalised params, problems, price."""
    price: dict[str, Any] | None = None
    if params is not None:
        price = {
            "usd": None if cost is None else str(cost.normalize()),
            "images": images_count(n, model),
            "resolution": params.get("resolution"),
            "unknown_because": no_price_reason(model) if cost is None else None,
        }
    return {
        "model": model.id,
        "valid": params is not None,
        "params": params,
        "unchecked": sorted(params.unchecked) if isinstance(params, ValidatedParams) else [],
        "problems": [attrs.asdict(problem) for problem in problems],
        "price": price,
    }


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()


async def _generate(args: argparse.Namespace) -> int:
    options = _request_params(args)
    limit: Decimal | None = args.max_cost
    _check_out(args.out)  # before paying: a place the images cannot go is a usage error
    async with _open_session(args) as session:  # no key: refused before even the catalog

        async def generate(max_cost: Decimal | None) -> Generation:
            try:
                return await session.generate(args.model, args.prompt, max_cost=max_cost, **options)
            except TypeError as exc:  # --param prompt=..., --param size=... with --size
                raise _UsageError(str(exc)) from None

        if args.yes:
            result = await generate(limit)
        else:
            try:
                result = await generate(
                    args.confirm_above if limit is None else min(limit, args.confirm_above)
                )
            except BudgetExceededError as over:  # nothing was sent
                if limit is not None and (over.estimate is None or over.estimate > limit):
                    await generate(limit)  # over --max-cost itself: that refusal, in its words
                if not await _confirmed(args, over.estimate):
                    return 1
                result = await generate(limit)
        images: list[bytes] = []
        failures: list[str] = []
        for number, image in enumerate(result.images, start=1):
            try:  # each on its own: one expired link must not lose the images paid for
                images.append(await image.read())
            except (NanoGPTError, ValueError) as exc:
                failures.append(f"image {number} could not be read: {one_line(exc)}")
    try:
        paths = await asyncio.to_thread(_save, result.model, result.created, images, args.out)
    except OSError as exc:  # paid for: never lost; they go to a new temporary folder instead
        fallback = Path(tempfile.mkdtemp(prefix="nanogpt-images-"))
        failures.append(
            f"could not save to {args.out} ({exc.strerror or exc}); the images, paid for, "
            f"are in {fallback} instead"
        )
        paths = await asyncio.to_thread(_save, result.model, result.created, images, fallback)
    for path in paths:
        print(printable(str(path)))
    balance = "unknown" if result.remaining_balance is None else money(result.remaining_balance)
    print(f"cost: {money(result.cost)}; balance: {balance}")
    for failure in failures:
        print(printable(f"{PROG}: error: {failure}"), file=sys.stderr)
    return 1 if failures else 0


async def _confirmed(args: argparse.Namespace, estimate: Decimal | None) -> bool:
    """Ask on the terminal whether to spend ``estimate``; no terminal means no."""
    price = "an unknown price" if estimate is None else f"about {money(estimate)}"
    threshold = money(args.confirm_above)
    if not sys.stdin or not sys.stdin.isatty():
        print(
            f"{PROG}: error: this generation costs {price}, above --confirm-above {threshold}, "
            "and there is no terminal to ask; pass --yes to go ahead (nothing was sent)",
            file=sys.stderr,
        )
        return False
    answer = await asyncio.to_thread(input, f"Generate with {args.model} for {price}? [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("not generated; nothing was sent.", file=sys.stderr)
    return False


def _check_out(out: Path) -> None:
    """``--out`` is a folder that exists or can be made, and can be written to."""
    existing = next((folder for folder in (out, *out.parents) if folder.exists()), None)
    if existing is None or not existing.is_dir():
        raise _UsageError(f"--out {out}: {existing} is not a folder (nothing was sent)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _UsageError(f"--out {out}: {existing} cannot be written to (nothing was sent)")


def _save(model: str, created: int | None, images: list[bytes], out: Path) -> list[Path]:
    """Write each image to ``out`` as ``<model>-<created>-<i>.<ext>``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", model) + f"-{created or int(time.time())}"
    paths = []
    for number, data in enumerate(images, start=1):
        extension = _EXTENSIONS.get(InputImage.from_bytes(data).format or "", ".png")
        path = out / f"{stem}-{number}{extension}"
        copy = 1
        while path.exists():  # never overwrite what an earlier run saved
            copy += 1
            path = out / f"{stem}-{number}-{copy}{extension}"
        path.write_bytes(data)
        paths.append(path)
    return paths


#: File extensions by InputImage.format; PNG (and what is not read) is saved as .png.
_EXTENSIONS = {"jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}


async def _watch(args: argparse.Namespace) -> int:
    # Until the first catalog arrives, a failed fetch is this command's error; the background
    # refresh, which made that same fetch, would only repeat it as a warning.
    with _library_warnings_muted() as unmute:
        coordinator = _coordinator(args.redis) if args.redis else None
        async with _open_session(
            args, refresh_interval=args.interval, coordinator=coordinator
        ) as session:
            catalog = await _fetch_with_progress(session, args)
            unmute()
            fleet = f", sharing through {coordinator!r}" if coordinator is not None else ""
            print(
                f"watching {len(catalog)} models at {_base_url(args)}, "
                f"refreshing every {args.interval:g} s{fleet}; Ctrl-C to stop",
                flush=True,
            )
            # The session calls subscribers and logs what they raise, so a reader that
            # went away (`watch | grep -m1 acme`) is passed back here to end the command.
            stdout_failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def show(change: CatalogChange) -> None:
                try:
                    print_change(change)
                except OSError as exc:
                    if not stdout_failed.done():
                        stdout_failed.set_exception(exc)

            session.subscribe(show)
            await stdout_failed  # until Ctrl-C cancels us, or stdout fails
    return 0  # pragma: no cover - only Ctrl-C or an error ends the wait


async def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return await run_demo(sys.stdout)


# -- sessions and fetching ---------------------------------------------------


def _coordinator(url: str) -> Coordinator:
    """A RedisCoordinator for ``--redis``; a usage error when redis-py or the URL is wrong."""
    try:
        from nanogpt_images.redis import RedisCoordinator
    except ImportError as exc:
        raise _UsageError(str(exc)) from None
    try:
        return RedisCoordinator(url)
    except ValueError as exc:
        raise _UsageError(f"--redis: {exc}") from None


@contextlib.asynccontextmanager
async def _open_session(
    args: argparse.Namespace,
    *,
    detailed: bool = True,
    refresh_interval: float | None = None,
    coordinator: Coordinator | None = None,
) -> AsyncIterator[ImageModelsSession]:
    try:
        session = ImageModelsSession(
            args.api_key,
            base_url=args.base_url,
            detailed=detailed,
            timeout=args.timeout,
            max_retries=RETRIES,
            ttl=refresh_interval or 300.0,
            refresh_interval=refresh_interval,
            allow_insecure_http=args.allow_insecure_http,
            route=args.route,
            proxy=args.proxy,
            coordinator=coordinator,
        )
    except ValueError as exc:
        message = str(exc).replace("allow_insecure_http=True", "--allow-insecure-http")
        raise _UsageError(message) from None
    async with session:
        yield session


async def _fetch_with_progress(session: ImageModelsSession, args: argparse.Namespace) -> Catalog:
    """The catalog; after :data:`PROGRESS_AFTER` seconds stderr says what we are waiting for."""
    started = time.monotonic()

    async def announce() -> None:
        await asyncio.sleep(PROGRESS_AFTER)
        print(
            f"fetching the catalog from {_base_url(args)} … (Ctrl-C to cancel)",
            file=sys.stderr,
            flush=True,
        )
        while True:
            await asyncio.sleep(5.0)
            waited = time.monotonic() - started
            print(f"still waiting ({waited:.0f} s)…", file=sys.stderr, flush=True)

    progress = asyncio.create_task(announce())
    try:
        return await session.catalog()
    finally:
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress


def _base_url(args: argparse.Namespace) -> str:
    url = args.base_url or os.environ.get("NANOGPT_BASE_URL", "").strip() or DEFAULT_URL
    return str(url).rstrip("/")


@contextlib.contextmanager
def _library_warnings_to_stderr(enabled: bool) -> Any:
    """Show the library's warnings (e.g. a failed background refresh) as one line each.

    Not when ``NANOGPT_IMAGES_LOG`` already shows them (and more) on stderr.
    """
    logger = logging.getLogger("nanogpt_images")
    handler: logging.Handler = logging.NullHandler()
    if enabled and env_handler() is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
        handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def _library_warnings_muted() -> Iterator[Callable[[], None]]:
    """Drop the library's log records until the function this yields is called."""
    logger = logging.getLogger("nanogpt_images")

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield lambda: logger.removeFilter(drop)
    finally:
        logger.removeFilter(drop)


def _version() -> str:
    import nanogpt_images

    return str(nanogpt_images.__version__)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file descriptor (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


# -- argument types ----------------------------------------------------------


def _add_global_options(parser: argparse.ArgumentParser, *, repeated: bool = False) -> None:
    """The options of every command, before the command name or (``repeated``) after it.

    After it their default is ``SUPPRESS``: an option not given there leaves the
    value given before the command, or the program's default, alone.
    """
    target: argparse._ActionsContainer = parser
    if repeated:
        target = parser.add_argument_group("global options (also accepted before COMMAND)")

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if repeated else value

    target.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help=f"the NanoGPT server (default: $NANOGPT_BASE_URL, else {DEFAULT_URL})",
    )
    target.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help=(
            "API key (default: $NANOGPT_API_KEY; the catalog is public, so only generate needs one)"
        ),
    )
    target.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=default(False),
        help="send the key over plain http:// to a host other than this machine (unsafe)",
    )
    target.add_argument(
        "--proxy",
        metavar="URL",
        default=default(None),
        help=(
            "an HTTP proxy such as http://proxy.example:3128 (default: $HTTPS_PROXY or "
            "$HTTP_PROXY, unless $NO_PROXY names the host)"
        ),
    )
    target.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=default(30.0),
        help=(
            f"time limit per attempt (default: 30); a failed attempt is retried up to "
            f"{RETRIES} times after a short backoff, so giving up can take about "
            f"{RETRIES + 1} times this long"
        ),
    )
    target.add_argument(
        "--route",
        choices=("image-models", "images"),
        default=default("image-models"),
        help=(
            "the catalog route: image-models (GET /api/v1/image-models, the default) or "
            "images (GET /api/v1/images/models, which has no prices: they come from each "
            "model's endpoint details, one request per model)"
        ),
    )


class _UsageError(Exception):
    """A bad option value found after parsing (exit code 2)."""


#: The filters the short listing (--basic) has the data for.
_BASIC_FILTERS = frozenset({"owned_by", "text"})


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    """MODEL, --resolution, --n and --param: a generation request, for check and generate."""
    parser.add_argument("model", metavar="MODEL", help="the model id, e.g. flux-pro")
    parser.add_argument(
        "--resolution", "--size", metavar="R", help="the image size, e.g. 1024x1024 or 1k"
    )
    parser.add_argument("--n", metavar="N", type=int, help="how many images (default: 1)")
    parser.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        type=_key_value,
        help="any other request parameter (repeatable); VALUE is read as JSON when it can be",
    )


def _request_params(args: argparse.Namespace) -> dict[str, Any]:
    """The request the options of :func:`_add_request_options` describe."""
    params: dict[str, Any] = dict(args.param)
    if args.resolution is not None:
        params["resolution"] = args.resolution
    if args.n is not None:
        params["n"] = args.n
    return params


def _add_filters(parser: argparse.ArgumentParser) -> None:
    """One option per filter of ``Catalog.FILTERS`` that the command line can give."""
    group = parser.add_argument_group("filters (all must match)")
    for name, info in Catalog.FILTERS.items():
        if info.metavar is None:  # a Python function, e.g. `where`
            continue
        options: dict[str, Any] = {"metavar": info.metavar, "help": info.help}
        if info.repeatable:
            options["action"] = "append"
        if name == "max_price":
            options["type"] = _price
        group.add_argument(f"--{name.replace('_', '-')}", **options)
    parser.add_argument(
        "--sort", choices=("price", "name", "created"), help="order of the rows (default: catalog)"
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _price(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a price in USD: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not a price in USD: {text!r}")
    return value


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value
