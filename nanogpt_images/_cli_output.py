"""How the ``nanogpt-images`` command prints: model tables, fields, prices, changes, problems.

Plain functions over the public API's objects, writing to stdout (or a given
stream); the commands in ``_cli`` decide what to print and when.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from nanogpt_images import Catalog, dump_catalog

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from nanogpt_images import CatalogChange, ImageModel, ParameterValidationError

__all__ = [
    "images",
    "images_count",
    "iso_time",
    "money",
    "no_price_reason",
    "note_unknown_flags",
    "one_line",
    "or_unknown",
    "print_change",
    "print_field",
    "print_problems",
    "print_table",
    "printable",
    "raw_model",
    "table_width",
]

# Flags the table lists when true; image_generation is left out since nearly every model has it.
TABLE_FLAGS = ("image_to_image", "inpainting", "nsfw")


GAP = "  "  # between two columns


@attrs.frozen
class _Column:
    """One column of a table: its title, and how it gives way on a narrow terminal."""

    title: str
    rank: int = 0  # 0: always shown; optional columns join by rank (1 first) while they fit
    floor: int = 1  # the narrowest an optional column is shortened to, rather than left out


def print_table(
    models: Sequence[ImageModel], *, basic: bool, resolution: str | None, width: int | None
) -> tuple[str, ...]:
    """Print the models as aligned columns, one line each, within ``width`` characters.

    ``width=None`` prints every column with every cell whole (output to a file
    or a pipe).  Otherwise the id and the price stay and the other columns join
    while they fit (see :func:`_layout`).  Returns the titles of the columns
    left out.
    """
    columns: tuple[_Column, ...]
    rows: list[tuple[str, ...]]
    if basic:
        columns = (_Column("ID"), _Column("OWNER", rank=1, floor=6), _Column("CREATED"))
        rows = [(m.id, m.owned_by or "-", _date(m.created)) for m in models]
    else:
        columns = (
            _Column("ID"),
            _Column("NAME", rank=4, floor=12),
            _Column("OWNER", rank=1, floor=6),
            _Column("CAPABILITIES", rank=2, floor=16),
            _Column("RESOLUTIONS", rank=3, floor=16),
            _Column(f"PRICE @ {resolution}" if resolution else "PRICE FROM"),
        )
        rows = [
            (
                m.id,
                m.name or "-",
                m.owned_by or "-",
                ", ".join(_flags(m)) or "-",
                _short_list(m.resolutions),
                money(_price_or_none(m, resolution)),
            )
            for m in models
        ]
    cells = [tuple(_one_line(cell) for cell in row) for row in rows]
    shown, widths = _layout(columns, cells, width)
    for row in (tuple(column.title for column in columns), *cells):
        line = GAP.join(_clip(row[i], widths[i]).ljust(widths[i]) for i in shown).rstrip()
        print(line if width is None else line[:width])
    return tuple(column.title for i, column in enumerate(columns) if i not in shown)


def table_width() -> int | None:
    """The width a table must fit: the terminal's (or ``$COLUMNS``); ``None`` for a file or pipe."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _layout(
    columns: Sequence[_Column], cells: Sequence[tuple[str, ...]], width: int | None
) -> tuple[list[int], list[int]]:
    """Which columns to show, and how wide each is, for rows to fit ``width``.

    The required columns come whole; the optional ones join in rank order, each
    whole while it fits, and the first that does not fit whole is shortened to
    the room left when that is at least its floor.  So at most one column is
    shortened, and what is shown stays readable.  Only a terminal too narrow
    for the required columns shortens the first one (the id).
    """
    natural = [
        max([len(column.title)] + [len(row[i]) for row in cells])
        for i, column in enumerate(columns)
    ]
    if width is None:
        return list(range(len(columns))), natural
    widths = list(natural)
    shown = {i for i, column in enumerate(columns) if not column.rank}

    def total() -> int:
        return sum(widths[i] for i in shown) + len(GAP) * (len(shown) - 1)

    optional = sorted((i for i, c in enumerate(columns) if c.rank), key=lambda i: columns[i].rank)
    for i in optional:
        room = width - total() - len(GAP)
        if room >= min(natural[i], columns[i].floor):
            shown.add(i)
            widths[i] = min(natural[i], room)
    widths[0] = max(widths[0] - max(total() - width, 0), 1)
    return sorted(shown), widths


def _flags(model: ImageModel) -> list[str]:
    caps = model.capabilities
    if caps is None:
        return []
    names = [name for name in TABLE_FLAGS if caps.flag(name) is True]
    names += [name for name, value in caps.extras.items() if value is True]
    return names


def _short_list(values: Sequence[str] | None, shown: int = 3) -> str:
    if not values:
        return "-"
    text = ", ".join(values[:shown])
    return f"{text} +{len(values) - shown}" if len(values) > shown else text


def _one_line(text: str) -> str:
    """A cell's text on one line, control characters escaped: one line per row."""
    return printable(text.replace("\n", " ").replace("\t", " "))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: C0 and C1 control characters but newline and tab, as escapes.
_CONTROLS = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\n\t"
}


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``: a name from the server cannot
    move the cursor, recolour or retitle the user's terminal."""
    return text.translate(_CONTROLS)


def _price_or_none(model: ImageModel, resolution: str | None) -> Decimal | None:
    try:
        return model.price(resolution=resolution)
    except ValueError:
        return None


def money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"${value.normalize():f}"


def images(n: int, model: ImageModel) -> str:
    count = images_count(n, model)
    return f"{count} image" + ("" if count == 1 else "s")


def images_count(n: int, model: ImageModel) -> int:
    """How many images a request for ``n`` makes: a model with a fixed count makes that many."""
    fixed = model.supported_parameters.fixed_image_count if model.supported_parameters else None
    return fixed if fixed else n


def _date(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    when = _utc(timestamp)
    return when.date().isoformat() if when else str(timestamp)


def iso_time(value: Any) -> Any:
    """Seconds since the epoch as ISO 8601 in UTC (``2024-02-01T00:00:00Z``); else ``value``."""
    when = _utc(value)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else value


def _utc(timestamp: Any) -> datetime.datetime | None:
    """A UTC time for a whole number of seconds; ``None`` for anything else."""
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return None
    try:
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    except (ValueError, OverflowError, OSError):  # not seconds (milliseconds, say): as sent
        return None


def or_unknown(value: int | None, template: str) -> str:
    return "not stated" if value is None else template.format(value)


def raw_model(model: ImageModel) -> dict[str, Any]:
    """The model exactly as the server sent it, unknown fields included."""
    data: list[dict[str, Any]] = dump_catalog(Catalog(models=(model,)))["data"]
    return data[0]


def print_field(key: str, value: Any, indent: int) -> None:
    pad = "  " * indent
    key = printable(key)
    if isinstance(value, dict) and value:
        print(f"{pad}{key}:")
        for sub_key, sub_value in value.items():
            print_field(str(sub_key), sub_value, indent + 1)
    elif isinstance(value, list) and value and all(not isinstance(v, dict | list) for v in value):
        print(f"{pad}{key}: {', '.join(_scalar(v) for v in value)}")
    elif isinstance(value, list) and value:
        print(f"{pad}{key}:")
        for index, item in enumerate(value):
            print_field(f"[{index}]", item, indent + 1)
    else:
        print(f"{pad}{key}: {_scalar(value)}")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return printable(value)
    return json.dumps(value, ensure_ascii=False)


def print_change(change: CatalogChange) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    for model in change.added:
        print(printable(f"{stamp}  + {model.id}  ({model.display_name})"), flush=True)
    for model in change.removed:
        print(printable(f"{stamp}  - {model.id}"), flush=True)
    for changed in change.changed:
        print(printable(f"{stamp}  ~ {changed.id}: {', '.join(changed.fields)}"), flush=True)


def print_problems(exc: ParameterValidationError, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    print(printable(f"invalid request for {exc.model_id}:"), file=stream)
    for problem in exc.problems:
        print(printable(f"  - {problem.message}"), file=stream)


def note_unknown_flags(wanted: Sequence[str], catalog: Catalog) -> None:
    """Say on stderr which ``--capability`` names no model has, so an empty table is explained."""
    present = _flags_present(catalog)
    for name in wanted:
        if name not in present:
            known = ", ".join(sorted(present)) or "none at all"
            print(
                printable(
                    f"note: no model in the catalog has the capability flag {name!r}; "
                    f"the flags it has: {known}"
                ),
                file=sys.stderr,
            )


def _flags_present(catalog: Catalog) -> set[str]:
    """Every capability flag that some model states, true or false."""
    present: set[str] = set()
    for model in catalog:
        caps = model.capabilities
        if caps is not None:
            present.update(caps.stated())
    return present


def no_price_reason(model: ImageModel) -> str:
    """Why ``model.price()`` gave nothing: no prices at all, or which sizes the prices are for."""
    pricing = model.pricing
    if pricing is None or (
        pricing.per_image is None and not pricing.by_rendering_speed and not pricing.extras
    ):
        return "the catalog gives no prices for this model"
    if pricing.currency is not None and not pricing.in_usd:
        return f"its prices are in {pricing.currency}, and this SDK prices in USD only"
    keys: dict[str, None] = {}  # ordered and without repeats
    if isinstance(pricing.per_image, Mapping):
        keys.update(dict.fromkeys(pricing.per_image))
    for table in (pricing.by_rendering_speed or {}).values():
        keys.update(dict.fromkeys(table))
    if keys:
        return f"its pricing lists only {_short_list(tuple(keys), shown=6)}"
    return f"its pricing is in a form this SDK cannot read (see 'nanogpt-images show {model.id}')"


def one_line(exc: BaseException) -> str:
    return printable(" ".join(str(exc).split())) or type(exc).__name__
