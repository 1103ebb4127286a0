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

import itertools
import math
from array import array
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from . import _models, _pricing, _validation

if TYPE_CHECKING:
    from ._models import ImageModel

__all__ = ["FILTERS", "QueryIndex", "SortKey", "Tables", "first_priced", "query_key"]

SortKey = Literal["price", "name", "created"]
Positions: TypeAlias = int
"""A set of models, as a bit set over their positions in the catalog."""
Test: TypeAlias = Callable[[int], bool]
"""A filter no table answers: tests the model at one position."""
Step: TypeAlias = "Positions | Test"

#: Every filter name, in the order their steps are built.
FILTERS = (
    "owned_by",
    "capability",
    "output_modality",
    "input_modality",
    "tag",
    "resolution",
    "text",
    "max_price",
)

#: How many distinct queries a catalog remembers the answers to.
REMEMBERED_QUERIES = 256


class QueryIndex:
    """The lookup tables and remembered answers of one catalog's queries."""

    __slots__ = ("_answers", "_models", "_tables")

    def __init__(self, models: tuple[ImageModel, ...]) -> None:
        self._models = models
        self._tables: Tables | None = None
        self._answers: dict[Hashable, tuple[ImageModel, ...]] = {}

    def tables(self) -> Tables:
        """The lookup tables, built on first use."""
        if self._tables is None:
            self._tables = Tables(self._models)
        return self._tables

    def find(self, sort: SortKey | None, filters: Mapping[str, Any]) -> tuple[ImageModel, ...]:
        """Models matching every filter, in catalog order or sorted by ``sort``.

        Filters: ``capability`` (a flag name or several, all required),
        ``input_modality``, ``output_modality``, ``resolution``, ``max_price``
        (USD for one image at ``resolution``, else the lowest price; unpriced
        models never pass), ``owned_by``, ``tag`` and ``text``
        (case-insensitive substring of id, name or description).  A filter
        given as ``None`` is ignored; an unknown name is a ``TypeError``.
        ``sort="price"`` puts models without a price last; ``"created"`` is
        oldest first.  Ties keep catalog order.
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
        unknown = sorted(set(filters) - set(FILTERS))
        if unknown:
            raise TypeError(
                f"unknown filter {', '.join(map(repr, unknown))}; "
                f"valid filters: {', '.join(sorted(FILTERS))}"
            )
        return [
            step
            for name in FILTERS
            if filters.get(name) is not None
            for step in _STEPS[name](self, filters[name], filters)
        ]

    def cost(self, resolution: str | None) -> Callable[[int], float | None]:
        """The price of a one-image request from the model at a position, for ranking.

        ``resolution`` is normalised, as :func:`_price_key` gives it.
        """
        tables = self.tables()
        models = self._models
        column = tables.lowest if resolution is None else tables.price_at.get(resolution)

        def cost(position: int) -> float | None:
            if column is not None:
                unit = column[position]
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
    """A hashable key naming this query, or ``None`` when a value cannot be one."""
    try:
        key = (sort, frozenset((name, _frozen(value)) for name, value in filters.items()))
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
# position p is in it.  Intersecting is one `&`, a few hundred bytes for
# thousands of models, and reading the set out keeps catalog order.

Keyed: TypeAlias = "dict[str, Positions]"
"""A folded filter value -> the models that have it."""

#: The filters answered by a keyed table.
KEYED = ("owned_by", "capability", "output_modality", "input_modality", "tag", "resolution")


class Tables:
    """Every table the filters read, filled in one walk of the models."""

    __slots__ = ("everyone", "image_input", "keyed", "lowest", "price_at")

    def __init__(self, models: Sequence[ImageModel]) -> None:
        size = len(models)
        self.everyone: Positions = (1 << size) - 1
        # Prices by position, as _cost reads them; NaN where it must be asked instead.
        # Flat arrays of doubles: a query reads a few thousand of them, and a list
        # of float objects spread over the heap costs a cache miss each.
        self.lowest = _unknown_prices(size)  # the "from" price
        self.price_at: dict[str, array[float]] = {}  # normalised spelling -> its price
        found: dict[str, dict[str, list[int]]] = {name: {} for name in KEYED}
        image_input: list[int] = []  # the reconciled "takes an input image"
        for position, model in enumerate(models):
            self._add(position, model, found)
            if _validation.accepts_image_input(model):
                image_input.append(position)
        self.keyed: dict[str, Keyed] = {
            name: {key: _bits(positions, size) for key, positions in table.items()}
            for name, table in found.items()
        }
        self.image_input = _bits(image_input, size)

    def _add(
        self, position: int, model: ImageModel, found: dict[str, dict[str, list[int]]]
    ) -> None:
        if model.owned_by is not None:
            _file(found["owned_by"], (model.owned_by.casefold(),), position)
        caps = model.capabilities
        if caps is not None:  # flag name -> the models with it set to true
            flags = _models.CAPABILITY_FLAGS  # read here: _models imports this module
            _file(found["capability"], (f for f in flags if getattr(caps, f) is True), position)
            if caps.extras:
                extra = (name for name, value in caps.extras.items() if value is True)
                _file(found["capability"], extra, position)
        arch = model.architecture
        if arch is not None:
            _file(found["output_modality"], _folded(arch.output_modalities), position)
            _file(found["input_modality"], _folded(arch.input_modalities), position)
        _file(found["tag"], _folded(model.tags), position)
        allowed = _validation.allowed_resolutions(model)
        if allowed is not None:  # normalised spelling -> the models that accept it
            _file(found["resolution"], _validation.resolution_index(allowed), position)
        lowest = _cost(model, None)
        if lowest is not None:
            self.lowest[position] = lowest
        prices = _pricing.spelling_prices(model)
        if prices:
            count = _billed_images(model)
            for key, unit in prices.items():
                if _pricing.valid(unit) is not None:  # else the general reading says None
                    column = self.price_at.get(key)
                    if column is None:
                        column = self.price_at[key] = _unknown_prices(len(self.lowest))
                    column[position] = unit * count


def _file(table: dict[str, list[int]], keys: Iterable[str], position: int) -> None:
    for key in keys:
        found = table.get(key)
        if found is None:
            table[key] = [position]
        else:
            found.append(position)


def _folded(values: tuple[str, ...] | None) -> Iterable[str]:
    return () if values is None else map(str.casefold, values)


def _unknown_prices(size: int) -> array[float]:
    return array("d", [math.nan]) * size


def _bits(positions: Iterable[int], size: int) -> Positions:
    """The bit set of ``positions``, written as a base-2 numeral (linear, unlike ``|=``)."""
    digits = bytearray(b"0") * size
    for position in positions:
        digits[size - 1 - position] = _ONE
    return int(digits or b"0", 2)


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
    if isinstance(value, str):
        names: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable):
        names = tuple(value)
    else:
        raise TypeError(
            "filter 'capability' takes a flag name such as 'inpainting', or a list of names; "
            f"not {type(value).__name__}"
        )
    return [_lookup(index, "capability", _text(name, "capability")) for name in names]


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


def _search(index: QueryIndex, value: Any, _: Mapping[str, Any]) -> list[Step]:
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


_STEPS: dict[str, Callable[[QueryIndex, Any, Mapping[str, Any]], list[Step]]] = {
    "owned_by": _owned_by,
    "capability": _capability,
    "output_modality": _output_modality,
    "input_modality": _input_modality,
    "tag": _tag,
    "resolution": _resolution,
    "text": _search,
    "max_price": _max_price,
}


# -- helpers -----------------------------------------------------------------


def _lookup(index: QueryIndex, table: str, key: str) -> Positions:
    return index.tables().keyed[table].get(key, 0)


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
    return None if unit is None else unit * _billed_images(model)


def _billed_images(model: ImageModel) -> int:
    """How many images a one-image request is billed for: its ``fixed_image_count``, if over 1."""
    params = model.supported_parameters
    fixed = params.fixed_image_count if params is not None else None
    return fixed if fixed is not None and fixed > 1 else 1


def _price_key(filters: Mapping[str, Any]) -> str | None:
    """The ``resolution`` filter as price maps usually spell it (``1024x1024``), or ``None``."""
    resolution = filters.get("resolution")
    return None if resolution is None else _validation.normalise_resolution(resolution)


def _created_key(model: ImageModel) -> tuple[bool, int]:
    return model.created is None, model.created or 0
