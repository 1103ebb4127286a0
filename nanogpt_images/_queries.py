"""Finding models in a catalog by keyword filters.

Each call builds one predicate per filter, cheapest first, and chains them
with the builtin ``filter`` so the models are walked once and a model stops
being tested at its first miss.  Nothing is precomputed at parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

from . import _pricing, _validation

if TYPE_CHECKING:
    from ._models import ImageModel

__all__ = ["FILTERS", "SortKey", "filter_models", "first_priced", "query_key"]

SortKey = Literal["price", "name", "created"]
Predicate = Callable[["ImageModel"], bool]

#: Every filter name, in the order the predicates run (cheapest first).
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


def filter_models(
    models: Iterable[ImageModel], *, sort: SortKey | None = None, **filters: Any
) -> tuple[ImageModel, ...]:
    """Models matching every filter, in catalog order or sorted by ``sort``.

    Filters: ``capability`` (a flag name or several, all required),
    ``input_modality``, ``output_modality``, ``resolution``, ``max_price``
    (USD for one image at ``resolution``, else the lowest price; unpriced
    models never pass), ``owned_by``, ``tag`` and
    ``text`` (case-insensitive substring of id, name or description).  A
    filter given as ``None`` is ignored; an unknown name is a ``TypeError``.
    ``sort="price"`` puts models without a price last; ``"created"`` is
    oldest first.  Ties keep catalog order.
    """
    if sort is not None and sort not in _SORTS:
        raise ValueError(f"sort must be one of {', '.join(map(repr, _SORTS))}, not {sort!r}")
    matches: Iterable[ImageModel] = models
    for predicate in _predicates(filters):
        matches = filter(predicate, matches)
    if sort is None:
        return tuple(matches)
    if sort == "price":
        return _by_price(matches, _price_key(filters))
    if sort == "name":
        return tuple(sorted(matches, key=lambda model: model.display_name.casefold()))
    return tuple(sorted(matches, key=_created_key))


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


def _predicates(filters: Mapping[str, Any]) -> list[Predicate]:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError(
            f"unknown filter {', '.join(map(repr, unknown))}; "
            f"valid filters: {', '.join(sorted(FILTERS))}"
        )
    return [
        predicate
        for name in FILTERS
        if filters.get(name) is not None
        for predicate in _BUILDERS[name](filters[name], filters)
    ]


# -- one builder per filter: (value, all filters) -> predicates -------------
# Predicates run once per model, so they read attributes directly, try the
# exact spelling before folding case, and call as little as possible.


def _owned_by(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    owner = _text(value, "owned_by")
    folded, size = owner.casefold(), len(owner)
    return [
        lambda m: (
            (o := m.owned_by) == owner
            or (o is not None and len(o) == size and o.casefold() == folded)
        )
    ]


def _capability(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    if isinstance(value, str):
        names: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable):
        names = tuple(value)
    else:
        raise TypeError(
            "filter 'capability' takes a flag name such as 'inpainting', or a list of names; "
            f"not {type(value).__name__}"
        )
    return [_flag(_text(name, "capability")) for name in names]


def _flag(name: str) -> Predicate:
    known = _KNOWN_FLAGS.get(name)
    if known is not None:
        return known
    return lambda m: (c := m.capabilities) is not None and c.extras.get(name) is True


#: Plain attribute reads for the flags the library names: the fastest predicates.
_KNOWN_FLAGS: dict[str, Predicate] = {
    "image_generation": lambda m: (c := m.capabilities) is not None and c.image_generation is True,
    "image_to_image": lambda m: (c := m.capabilities) is not None and c.image_to_image is True,
    "inpainting": lambda m: (c := m.capabilities) is not None and c.inpainting is True,
    "nsfw": lambda m: (c := m.capabilities) is not None and c.nsfw is True,
}


def _output_modality(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    wanted = _text(value, "output_modality").casefold()
    return [
        lambda m: (
            (a := m.architecture) is not None
            and (v := a.output_modalities) is not None
            and (wanted in v or wanted in map(str.casefold, v))
        )
    ]


def _input_modality(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    wanted = _text(value, "input_modality").casefold()
    if wanted == "image":  # flags lie about image input; reconcile every source
        return [_validation.accepts_image_input]
    return [
        lambda m: (
            (a := m.architecture) is not None
            and (v := a.input_modalities) is not None
            and (wanted in v or wanted in map(str.casefold, v))
        )
    ]


def _tag(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    wanted = _text(value, "tag").casefold()
    return [lambda m: (v := m.tags) is not None and (wanted in v or wanted in map(str.casefold, v))]


def _resolution(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    given = _text(value, "resolution")
    wanted = _validation.normalise_resolution(given)
    allowed_resolutions = _validation.allowed_resolutions
    index = _validation.resolution_index

    def accepts(model: ImageModel) -> bool:
        params = model.supported_parameters
        if params is None:
            return False
        allowed = params.resolutions or allowed_resolutions(model)
        return allowed is not None and (given in allowed or wanted in index(allowed))

    return [accepts]


def _search(value: Any, _: Mapping[str, Any]) -> list[Predicate]:
    wanted = _text(value, "text").casefold()
    return [
        lambda m: (
            wanted in m.id.casefold()
            or (m.name is not None and wanted in m.name.casefold())
            or (m.description is not None and wanted in m.description.casefold())
        )
    ]


def _max_price(value: Any, filters: Mapping[str, Any]) -> list[Predicate]:
    limit = _decimal(value)
    resolution = _price_key(filters)
    price = _pricing.price
    # Compare floats, and exactly (in Decimal) only when they are too close to tell.
    margin = abs(float(limit)) * 1e-9 + 1e-12
    below, above = float(limit) - margin, float(limit) + margin

    def affordable(model: ImageModel) -> bool:
        # The usual shape first, read inline (this runs once per model): a price map
        # with the asked key (or any key, for the "from" price), no fixed image count.
        pricing = model.pricing
        if pricing is not None:
            table = pricing.per_image
            if type(table) is MappingProxyType and table:
                unit = min(table.values()) if resolution is None else table.get(resolution)
                if unit is not None and 0 <= unit < _LAST:
                    if unit > above:
                        return False  # a fixed image count only multiplies it up
                    params = model.supported_parameters
                    if unit < below and (params is None or params.fixed_image_count is None):
                        return True
        # Everything else: the general reading, exact near the limit.
        cost = _cost(model, resolution)
        if cost is None or cost > above:
            return False
        if cost < below:
            return True
        exact = price(model, resolution, 1)
        return exact is not None and exact <= limit

    return [affordable]


_BUILDERS: dict[str, Callable[[Any, Mapping[str, Any]], list[Predicate]]] = {
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


def _by_price(matches: Iterable[ImageModel], resolution: Any) -> tuple[ImageModel, ...]:
    costs = [(_cost(model, resolution), model) for model in matches]
    costs.sort(key=_cost_or_last)
    return tuple(model for _, model in costs)


def _cost_or_last(pair: tuple[float | None, ImageModel]) -> float:
    return _LAST if pair[0] is None else pair[0]


def _cost(model: ImageModel, resolution: str | None) -> float | None:
    """The price of a one-image request as a float: for ranking only, never shown."""
    unit = _pricing.unit_price(model, resolution)
    if unit is None:
        return None
    params = model.supported_parameters
    fixed = params.fixed_image_count if params is not None else None
    return unit * fixed if fixed is not None and fixed > 1 else unit


def _price_key(filters: Mapping[str, Any]) -> str | None:
    """The ``resolution`` filter as price maps usually spell it (``1024x1024``), or ``None``."""
    resolution = filters.get("resolution")
    return None if resolution is None else _validation.normalise_resolution(resolution)


def _created_key(model: ImageModel) -> tuple[bool, int]:
    return model.created is None, model.created or 0
