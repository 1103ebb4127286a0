"""The ``nanogpt-images`` command: browse, inspect and check NanoGPT's image models.

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
import sys
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from nanogpt_images import (
    Catalog,
    ImageModelsSession,
    NanoGPTError,
    ParameterValidationError,
    RequestTimeoutError,
    dump_catalog,
    dump_endpoints,
)

from ._cli_endpoints import describe_image, print_endpoints, read_images
from ._cli_output import (
    images,
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
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence

    from nanogpt_images import CatalogChange

__all__ = ["build_parser", "main"]

PROG = "nanogpt-images"
DEFAULT_URL = "https://nano-gpt.com"
PROGRESS_AFTER = 1.0  # seconds a fetch may take before stderr says what we wait for
RETRIES = 2  # a failed attempt (timeout, refused, 5xx...) is retried this often, with backoff
BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`


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
    started = time.monotonic()
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
    except RequestTimeoutError as exc:  # its text names the limit of one attempt only
        waited = time.monotonic() - started
        print(
            f"{PROG}: error: {one_line(exc)} per attempt; "
            f"gave up after {RETRIES + 1} attempts ({waited:.1f} s in all)",
            file=sys.stderr,
        )
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
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the NanoGPT server (default: $NANOGPT_BASE_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: $NANOGPT_API_KEY; the catalog is public, so none is needed)",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="send the key over plain http:// to a host other than this machine (unsafe)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=30.0,
        help=(
            f"time limit per attempt (default: 30); a failed attempt is retried up to "
            f"{RETRIES} times after a short backoff, so giving up can take about "
            f"{RETRIES + 1} times this long"
        ),
    )
    parser.add_argument(
        "--route",
        choices=("image-models", "images"),
        default="image-models",
        help=(
            "the catalog route: image-models (GET /api/v1/image-models, the default) or "
            "images (GET /api/v1/images/models, which has no prices: they come from each "
            "model's endpoint details, one request per model)"
        ),
    )
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
    check.add_argument("model", metavar="MODEL", help="the model id, e.g. flux-pro")
    check.add_argument(
        "--resolution", "--size", metavar="R", help="the image size, e.g. 1024x1024 or 1k"
    )
    check.add_argument("--n", metavar="N", type=int, help="how many images (default: 1)")
    check.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        type=_key_value,
        help="any other request parameter (repeatable); VALUE is read as JSON when it can be",
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
    return parser


# -- commands ----------------------------------------------------------------


async def _models(args: argparse.Namespace) -> int:
    filters = {
        "capability": tuple(args.capability) if args.capability else None,
        "input_modality": args.input_modality,
        "output_modality": args.output_modality,
        "resolution": args.resolution,
        "max_price": args.max_price,
        "owned_by": args.owned_by,
        "tag": args.tag,
        "text": args.text,
    }
    filtered = any(value is not None for value in filters.values()) or args.sort is not None
    if args.basic:  # the short listing has ids, owners and dates only: say so, not "0 models"
        needs_detail = [
            f"--{name.replace('_', '-')}"
            for name in (
                "capability",
                "input_modality",
                "output_modality",
                "resolution",
                "max_price",
                "tag",
            )
            if filters[name] is not None
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
    if args.json:
        note_unknown_flags(args.capability or (), catalog)
        shown = catalog
        if filtered:
            shown = Catalog(
                models=matches, meta=catalog.meta, object=catalog.object, extras=catalog.extras
            )
        json.dump(dump_catalog(shown), sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    note_unknown_flags(args.capability or (), catalog)
    print_table(matches, basic=args.basic, resolution=args.resolution)
    summary = f"{len(matches)} of {len(catalog)} models"
    if catalog.rejected:
        summary += f" ({len(catalog.rejected)} unreadable entries skipped)"
    print(summary, file=sys.stderr)
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with _open_session(args) as session:
        catalog = await _fetch_with_progress(session, args)
    model = catalog[args.model]
    raw = raw_model(model)
    if args.json:
        json.dump(raw, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(printable(f"{model.id}  ({model.display_name})"))
    for key, value in raw.items():
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
    params: dict[str, Any] = dict(args.param)
    if args.resolution is not None:
        params["resolution"] = args.resolution
    if args.n is not None:
        params["n"] = args.n
    try:
        input_images = read_images(args.input_image)
    except OSError as exc:
        raise _UsageError(str(exc)) from None
    async with _open_session(args) as session:
        catalog = await _fetch_with_progress(session, args)
        model = catalog[args.model]
        normalised = await session.validate(model.id, input_images=input_images, **params)
        resolution = normalised.get("resolution")
        n = normalised.get("n", 1)
        try:
            cost = await session.price(model.id, resolution=resolution, n=n)
        except ValueError:
            cost = None
    shown = ", ".join(f"{key}={value}" for key, value in normalised.items()) or "defaults"
    print(printable(f"ok: {model.id} accepts {shown}"))
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


async def _watch(args: argparse.Namespace) -> int:
    # Until the first catalog arrives, a failed fetch is this command's error; the background
    # refresh, which made that same fetch, would only repeat it as a warning.
    with _library_warnings_muted() as unmute:
        async with _open_session(args, refresh_interval=args.interval) as session:
            catalog = await _fetch_with_progress(session, args)
            unmute()
            print(
                f"watching {len(catalog)} models at {_base_url(args)}, "
                f"refreshing every {args.interval:g} s; Ctrl-C to stop",
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


@contextlib.asynccontextmanager
async def _open_session(
    args: argparse.Namespace, *, detailed: bool = True, refresh_interval: float | None = None
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
    """Show the library's warnings (e.g. a failed background refresh) as one line each."""
    logger = logging.getLogger("nanogpt_images")
    handler: logging.Handler = logging.NullHandler()
    if enabled:
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


class _UsageError(Exception):
    """A bad option value found after parsing (exit code 2)."""


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (all must match)")
    group.add_argument(
        "--capability",
        metavar="FLAG",
        action="append",
        help="a capability flag such as inpainting or image_to_image (repeatable)",
    )
    group.add_argument("--input-modality", metavar="M", help="an input modality, e.g. image")
    group.add_argument("--output-modality", metavar="M", help="an output modality, e.g. image")
    group.add_argument("--resolution", metavar="R", help="supports this resolution, e.g. 1024x1024")
    group.add_argument(
        "--max-price",
        metavar="USD",
        type=_price,
        help="costs at most this per image (at --resolution, else the cheapest size)",
    )
    group.add_argument("--owned-by", metavar="OWNER", help="the provider, e.g. openai")
    group.add_argument("--tag", metavar="TAG", help="has this tag, e.g. text-to-image")
    group.add_argument(
        "--text", metavar="WORDS", help="case-insensitive text in id, name or description"
    )
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
