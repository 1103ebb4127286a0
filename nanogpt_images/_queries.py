"""Finding models in a catalog by keyword filters.

Each catalog has a :class:`QueryIndex`.  Its :class:`Tables`, built in one
walk of the models, map each filter value (folded as the filter compares it)
to the set of models that pass, as a bit set over their positions, and hold
every model's prices in flat arrays.  A query ANDs the bit sets of its
filters, reads the survivors out in catalog order, and tests only those
against the filters no set can answer (``text``, ``max_price``).  The tables
are built by the first query, or earlier by ``Catalog.prepare()``: the
session prepares each catalog it installs, in the refresh, so no request
pays for them.  Answers are remembered too: a catalog never changes, so a
repeated query costs a dict lookup.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import itertools
import math
import sys
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, ParamSpec, TypeAlias, TypeVar, get_args

from . import _pricing, _validation
from ._pace import pace
from ._problems import IdSuggester, suggest

if TYPE_CHECKING:
    from ._models import ImageModel

__all__ = [
    "FILTERS",
    "FilterInfo",
    "QueryIndex",
    "SortKey",
    "Tables",
    "filter_names_checked",
    "first_priced",
    "query_key",
]

SortKey = Literal["price", "name", "created"]
Positions: TypeAlias = int
"""A set of models, as a bit set over their positions in the catalog."""
Test: TypeAlias = Callable[[int], bool]
"""A filter no table answers: tests the model at one position."""
Step: TypeAlias = "Positions | Test"


class FilterInfo(NamedTuple):
    """What one filter of ``find()`` does, as the docs and the command line show it."""

    help: str
    metavar: str | None  # the command line's placeholder; None: from Python only
    repeatable: bool = False  # takes one name or several


#: Every filter of ``find()`` / ``Catalog.filter()`` / ``Catalog.cheapest()``, with its help.
FILTERS: Mapping[str, FilterInfo] = MappingProxyType(
    {
        "capability": FilterInfo(
            "has this capability flag set to true, e.g. inpainting (repeatable: all of them)",
            "FLAG",
            repeatable=True,
        ),
        "exclude_capability": FilterInfo(
            "does not have this capability flag set to true, e.g. nsfw (repeatable: none of them)",
            "FLAG",
            repeatable=True,
        ),
        "input_modality": FilterInfo("takes this input modality, e.g. image", "M"),
        "output_modality": FilterInfo("makes this output modality, e.g. image", "M"),
        "resolution": FilterInfo("supports this resolution, e.g. 1024x1024", "R"),
        "max_price": FilterInfo(
            "costs at most this many USD per image (at the resolution filter, else the cheapest "
            "size)",
            "USD",
        ),
        "owned_by": FilterInfo("the provider, e.g. openai", "OWNER"),
        "tag": FilterInfo("has this tag, e.g. text-to-image", "TAG"),
        "text": FilterInfo("case-insensitive text in id, name or description", "WORDS"),
        "where": FilterInfo("a function ImageModel -> bool, for anything else", None),
    }
)

P = ParamSpec("P")
R = TypeVar("R")


def filter_names_checked(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` (keyword-only filters), whose unknown keyword is a TypeError naming a close one.

    Python's own error names the unknown keyword only; this one also says
    which valid name is close (``capabilty`` -> ``capability``) and lists them.
    """
    names = tuple(
        name
        for name, parameter in inspect.signature(method).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except TypeError:
            unknown = [name for name in kwargs if name not in names]
            if not unknown:
                raise
            close = suggest(unknown[0], names, 1)
            hint = f"; did you mean {close[0]!r}?" if close else ";"
            filters = ", ".join(name for name in names if name != "sort")
            also = ", and sort" if "sort" in names else " (it sorts by price itself)"
            raise TypeError(
                f"{method.__name__}() got an unknown filter {unknown[0]!r}{hint} "
                f"valid filters: {filters}{also}"
            ) from None

    return call


#: How many distinct queries a catalog remembers the answers to.
REMEMBERED_QUERIES = 256


class QueryIndex:
    """The lookup tables and remembered answers of one catalog's queries, and its id suggester."""

    __slots__ = ("_answers", "_models", "_suggester", "_tables")

    def __init__(self, models: tuple[ImageModel, ...]) -> None:
        self._models = models
        self._tables: Tables | None = None
        self._suggester: IdSuggester | None = None
        self._answers: dict[Hashable, tuple[ImageModel, ...]] = {}

    def suggester(self) -> IdSuggester:
        """Close ids for an id that is not there, built on first use."""
        if self._suggester is None:
            self._suggester = IdSuggester(model.id for model in self._models)
        return self._suggester

    def tables(self) -> Tables:
        """The lookup tables, built on first use."""
        if self._tables is None:
            self._tables = Tables(self._models)
        return self._tables

    def find(self, sort: SortKey | None, filters: Mapping[str, Any]) -> tuple[ImageModel, ...]:
        """Models matching every filter of :data:`FILTERS`, in catalog order or sorted by ``sort``.

        ``filters`` maps filter names to values; ``None`` is no filter.
        ``sort="price"`` puts models without a price last; ``"created"`` is
        oldest first.  Ties keep catalog order.  A query with ``where`` (a
        function, maybe with state) is never remembered.
        """
        key = query_key(sort, filters)
        if key is not None:
            found = self._answers.get(key)
            if found is not None:
                return found
        found = self._search(sort, filters)
        if key is not None:
            if len(self._answers) >= REMEMBERED_QUERIES:
                self._answers.clear()
            self._answers[key] = found
        return found

    def _search(self, sort: SortKey | None, filters: Mapping[str, Any]) -> tuple[ImageModel, ...]:
        if sort is not None and sort not in _SORTS:
            raise ValueError(f"sort must be one of {', '.join(map(repr, _SORTS))}, not {sort!r}")
        tables = self.tables()
        chosen = tables.everyone
        tests: list[Test] = []
        for step in self._steps(filters):
            if isinstance(step, int):
                chosen &= step
            else:
                tests.append(step)
        positions: Iterable[int] = _positions(chosen)
        for test in tests:
            positions = filter(test, positions)
        models = self._models
        if sort == "price":
            cost = self.cost(_price_key(filters))
            ranked = sorted(positions, key=lambda i: _LAST if (c := cost(i)) is None else c)
            return tuple(models[i] for i in ranked)
        matches = [models[i] for i in positions]
        if sort == "name":
            matches.sort(key=lambda model: model.display_name.casefold())
        elif sort == "created":
            matches.sort(key=_created_key)
        return tuple(matches)

    def _steps(self, filters: Mapping[str, Any]) -> list[Step]:
        """One or more steps per filter; the cheap tests first, ``where`` last."""
        return [
            step
            for name, build in _STEPS.items()
            if filters.get(name) is not None
            for step in build(self, filters[name], filters)
        ]

    def cost(self, resolution: str | None) -> Callable[[int], float | None]:
        """The price of a one-image request from the model at a position, for ranking.

        ``resolution`` is normalised, as :func:`_price_key` gives it.
        """
        tables = self.tables()
        models = self._models
        read = tables.lowest_price if resolution is None else tables.price_reader(resolution)

        def cost(position: int) -> float | None:
            unit = read(position)
            if unit == unit:  # not NaN: the table has it
                return unit
            return _cost(models[position], resolution)  # the general reading

        return cost

    def model(self, position: int) -> ImageModel:
        """The model at ``position``."""
        return self._models[position]


def first_priced(ranked: tuple[ImageModel, ...], resolution: str | None) -> ImageModel | None:
    """The first of models ranked by price (unpriced last), if it has a price at all."""
    if not ranked:
        return None
    key = None if resolution is None else _validation.normalise_resolution(resolution)
    return ranked[0] if _cost(ranked[0], key) is not None else None


_SORTS: tuple[str, ...] = get_args(SortKey)
_LAST = float("inf")  # the sort key of a model without a price


def query_key(sort: str | None, filters: Mapping[str, Any]) -> Hashable | None:
    """A hashable key naming this query, or ``None`` when it is not to be remembered.

    ``None`` when a value cannot be hashed, or for a ``where`` function:
    its answers may change, and each call may pass a new one.
    """
    if filters.get("where") is not None:
        return None
    try:
        key = (
            sort,
            frozenset(
                (name, _frozen(value)) for name, value in filters.items() if value is not None
            ),
        )
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Hashable:
    if isinstance(value, list | tuple | set | frozenset):
        return (type(value).__name__, tuple(value))
    return (type(value).__name__, value)


# -- tables --------------------------------------------------------------------
# A set of models is an int used as a bit set: bit p is set when the model at
# position p is in it.  Intersecting is one `&`, and reading the set out keeps
# catalog order.  A value few models have is kept as their positions instead
# (a bit set costs a bit per model of the catalog), so that the tables stay
# linear in the size of the catalog however many distinct values it holds;
# the same goes for prices at a spelling few price maps name.

Keyed: TypeAlias = "dict[str, Positions | tuple[int, ...]]"
"""A folded filter value -> the models that have it: a bit set, or their positions."""

PriceColumn: TypeAlias = "array[float] | tuple[array[int], array[float]]"
"""Prices by position (NaN where unknown), or the positions that have one and their prices."""

#: The filters answered by a keyed table.
KEYED = ("owned_by", "capability", "output_modality", "input_modality", "tag", "resolution")

#: A bit set is kept when at least this share of the models is in it...
_DENSE_SET = 1 / 64
#: ...and a price column is kept whole when at least this share has a price in it.
_DENSE_PRICES = 1 / 8


class Tables:
    """Every table the filters read, filled in one walk of the models.

    Prices are those :func:`_cost` reads, as doubles; where a table has none
    (NaN) the query asks ``_cost`` itself.  They are flat arrays: a query
    reads a few thousand of them, and float objects spread over the heap
    would cost a cache miss each.
    """

    __slots__ = ("everyone", "image_input", "keyed", "lowest", "price_at")

    def __init__(self, models: Sequence[ImageModel]) -> None:
        size = len(models)
        self.everyone: Positions = (1 << size) - 1
        self.lowest = array("d", [math.nan]) * size  # the "from" price
        found: dict[str, dict[str, list[int]]] = {name: {} for name in KEYED}
        image_input: list[int] = []  # the reconciled "takes an input image"
        prices: dict[str, tuple[array[int], array[float]]] = {}  # spelling -> its prices
        for position, model in enumerate(models):
            pace()
            self._add(position, model, found, prices)
            if _validation.accepts_image_input(model):
                image_input.append(position)
        self.keyed: dict[str, Keyed] = {
            name: {key: _bit_set(positions, size) for key, positions in table.items()}
            for name, table in found.items()
        }
        self.image_input = _as_bits(_bit_set(image_input, size))
        self.price_at: dict[str, PriceColumn] = {
            key: _price_column(column, size) for key, column in prices.items()
        }

    def lowest_price(self, position: int) -> float:
        """The model's "from" price; NaN when the table does not have it."""
        return self.lowest[position]

    def price_reader(self, resolution: str) -> Callable[[int], float]:
        """The price at a normalised spelling by position; NaN when the table does not have it."""
        column = self.price_at.get(resolution)
        if column is None:
            return _no_price
        if isinstance(column, array):
            return column.__getitem__
        positions, prices = column

        def read(position: int) -> float:
            at = bisect.bisect_left(positions, position)
            return prices[at] if at < len(positions) and positions[at] == position else math.nan

        return read

    def _add(
        self,
        position: int,
        model: ImageModel,
        found: dict[str, dict[str, list[int]]],
        prices: dict[str, tuple[array[int], array[float]]],
    ) -> None:
        if model.owned_by is not None:
            _file(found["owned_by"], (model.owned_by.casefold(),), position)
        caps = model.capabilities
        if caps is not None:  # flag name -> the models with it set to true
            stated = caps.stated()
            _file(found["capability"], (name for name, value in stated.items() if value), position)
        arch = model.architecture
        if arch is not None:
            _file(found["output_modality"], _folded(arch.output_modalities), position)
            _file(found["input_modality"], _folded(arch.input_modalities), position)
        _file(found["tag"], _folded(model.tags), position)
        allowed = _validation.allowed_resolutions(model)
        if allowed is not None:  # normalised spelling -> the models that accept it
            _file(found["resolution"], _validation.resolution_index(allowed), position)
        self.lowest[position] = _double(_cost(model, None))
        spellings = _pricing.spelling_prices(model)
        if spellings:
            count = _pricing.image_count(model, 1)
            for key, unit in spellings.items():
                price = _double(_cost_of(unit, count) if _pricing.valid_price(unit) else None)
                if price == price:  # else the general reading has the answer
                    column = prices.get(key)
                    if column is None:
                        column = prices[key] = (array("q"), array("d"))
                    column[0].append(position)
                    column[1].append(price)


def _file(table: dict[str, list[int]], keys: Iterable[str], position: int) -> None:
    for key in keys:
        found = table.get(key)
        if found is None:
            table[key] = [position]
        else:
            found.append(position)


def _folded(values: tuple[str, ...] | None) -> Iterable[str]:
    return () if values is None else map(str.casefold, values)


def _double(price: float | None) -> float:
    """``price`` as a double for a table; NaN for none, or one too large for a double."""
    if price is None:
        return math.nan
    try:
        return float(price)
    except OverflowError:  # a huge integer: leave it to the general reading
        return math.nan


def _no_price(_: int) -> float:
    return math.nan


def _price_column(column: tuple[array[int], array[float]], size: int) -> PriceColumn:
    positions, prices = column
    if len(positions) < size * _DENSE_PRICES:
        return column
    dense = array("d", [math.nan]) * size
    for position, price in zip(positions, prices, strict=True):
        dense[position] = price
    return dense


def _bit_set(positions: list[int], size: int) -> Positions | tuple[int, ...]:
    """``positions`` as a bit set, or as they are when few (a bit set costs ``size`` bits).

    The bit set is written as a base-2 numeral: linear, where ``|=`` per
    position would copy the growing integer each time.
    """
    if not positions:
        return 0
    if len(positions) < size * _DENSE_SET:
        return tuple(positions)
    digits = bytearray(b"0") * size
    for position in positions:
        digits[size - 1 - position] = _ONE
    return int(digits, 2)


def _as_bits(entry: Positions | tuple[int, ...]) -> Positions:
    """A bit set, from either form of a keyed table's entry."""
    if isinstance(entry, int):
        return entry
    return sum(1 << position for position in entry)  # few positions: cheap


def _positions(bits: Positions) -> Iterable[int]:
    """The positions in a bit set, lowest first."""
    digits = format(bits, "b").encode()[::-1].translate(_AS_FLAGS)  # bit p at index p
    return itertools.compress(range(len(digits)), digits)


_ONE = ord("1")
_AS_FLAGS = bytes.maketrans(b"01", b"\x00\x01")


# -- one step builder per filter: (index, value, all filters) -> steps --------


def _owned_by(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    return [_lookup(index, "owned_by", _text(value, "owned_by").casefold())]


def _capability(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    return [_lookup(index, "capability", name) for name in _flag_names(value, "capability")]


def _exclude_capability(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    excluded = 0
    for name in _flag_names(value, "exclude_capability"):
        excluded |= _lookup(index, "capability", name)
    return [index.tables().everyone & ~excluded]  # the difference of two bit sets


def _flag_names(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, Mapping):  # {"nsfw": False} would read as its keys: the opposite
        raise TypeError(
            f"filter {name!r} takes flag names, not a mapping of flags to values; to leave "
            "out models with a flag use exclude_capability, e.g. exclude_capability='nsfw'"
        )
    if isinstance(value, str):
        names: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable):
        names = tuple(value)
    else:
        raise TypeError(
            f"filter {name!r} takes a flag name such as 'inpainting', or a list of names; "
            f"not {type(value).__name__}"
        )
    return tuple(_text(flag, name) for flag in names)


def _output_modality(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    wanted = _text(value, "output_modality").casefold()
    return [_lookup(index, "output_modality", wanted)]


def _input_modality(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    wanted = _text(value, "input_modality").casefold()
    if wanted == "image":  # flags lie about image input; reconcile every source
        return [index.tables().image_input]
    return [_lookup(index, "input_modality", wanted)]


def _tag(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    return [_lookup(index, "tag", _text(value, "tag").casefold())]


def _resolution(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    wanted = _validation.normalise_resolution(_text(value, "resolution"))
    return [_lookup(index, "resolution", wanted)]


def _text_filter(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    wanted = _text(value, "text").casefold()
    model = index.model

    def mentions(position: int) -> bool:
        m = model(position)
        return (
            wanted in m.id.casefold()
            or (m.name is not None and wanted in m.name.casefold())
            or (m.description is not None and wanted in m.description.casefold())
        )

    return [mentions]


def _max_price(index: QueryIndex, value: Any, filters: Mapping[str, Any]) -> list[Step]:
    limit = _decimal(value)
    resolution = _price_key(filters)
    cost, model, price = index.cost(resolution), index.model, _pricing.price
    # Compare floats, and exactly (in Decimal) only when they are too close to tell.
    margin = abs(float(limit)) * 1e-9 + 1e-12
    below, above = float(limit) - margin, float(limit) + margin

    def affordable(position: int) -> bool:
        found = cost(position)
        if found is None or found > above:
            return False
        if found < below:
            return True
        exact = price(model(position), resolution, 1)
        return exact is not None and exact <= limit

    return [affordable]


def _where(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
    if not callable(value):
        raise TypeError(
            f"filter 'where' takes a function ImageModel -> bool, not {type(value).__name__}"
        )
    model = index.model
    return [lambda position: bool(value(model(position)))]


#: The step builders, in the order a query applies them: sets first, then the cheap tests.
_STEPS: dict[str, Callable[[QueryIndex, Any, Mapping[str, Any]], list[Step]]] = {
    "owned_by": _owned_by,
    "capability": _capability,
    "exclude_capability": _exclude_capability,
    "output_modality": _output_modality,
    "input_modality": _input_modality,
    "tag": _tag,
    "resolution": _resolution,
    "text": _text_filter,
    "max_price": _max_price,
    "where": _where,
}


# -- helpers -----------------------------------------------------------------


def _lookup(index: QueryIndex, table: str, key: str) -> Positions:
    return _as_bits(index.tables().keyed[table].get(key, 0))


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"filter {name!r} takes a string, not {type(value).__name__}")
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise TypeError(f"max_price takes a number, not {type(value).__name__}")
    try:
        limit = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"max_price must be a number, not {value!r}") from None
    if not limit.is_finite():
        raise ValueError(f"max_price must be a finite number, not {value!r}")
    return limit


def _cost(model: ImageModel, resolution: str | None) -> float | None:
    """The price of a one-image request as a float: for ranking only, never shown."""
    unit = _pricing.unit_price(model, resolution)
    return None if unit is None else _cost_of(unit, _pricing.image_count(model, 1))


def _cost_of(unit: float, count: int) -> float:
    try:
        return unit * count
    except OverflowError:  # a count beyond a double: exact, then the nearest double
        return min(float(Decimal(str(unit)) * count), sys.float_info.max)  # below "no price"


def _price_key(filters: Mapping[str, Any]) -> str | None:
    """The ``resolution`` filter as price maps usually spell it (``1024x1024``), or ``None``."""
    resolution = filters.get("resolution")
    return None if resolution is None else _validation.normalise_resolution(resolution)


def _created_key(model: ImageModel) -> tuple[bool, int]:
    return model.created is None, model.created or 0
