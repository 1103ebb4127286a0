"""Finding models in a catalog by keyword filters.

Each call builds one predicate per filter, cheapest first, and chains them
with the builtin ``filter`` so the models are walked once and a model stops
being tested at its first miss.  Nothing is precomputed at parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, get_args

from . import _pricing, _validation

if TYPE_CHECKING:
    from ._models import ImageModel

__all__ = ["FILTERS", "SortKey", "cheapest", "filter_models"]

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
    (USD at ``resolution``, else the lowest price), ``owned_by``, ``tag`` and
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
        return _by_price(matches, filters.get("resolution"))
    if sort == "name":
        return tuple(sorted(matches, key=lambda model: model.display_name.casefold()))
    return tuple(sorted(matches, key=_created_key))


def cheapest(models: Iterable[ImageModel], **filters: Any) -> ImageModel | None:
    """The lowest-priced model matching ``filters``; ``None`` when no match has a price."""
    if "sort" in filters:
        raise TypeError("cheapest() sorts by price itself; it takes no 'sort'")
    ranked = filter_models(models, sort="price", **filters)
    resolution = filters.get("resolution")
    if ranked and _pricing.price(ranked[0], resolution, 1) is not None:
        return ranked[0]
    return None


_SORTS: tuple[str, ...] = get_args(SortKey)


def _predicates(filters: Mapping[str, Any]) -> list[Predicate]:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError(
            f"unknown filter {', '.join(map(repr, unknown))}; "
            f"valid filters: {', '.join(sorted(FILTERS))}"
        )
    return [
        _BUILDERS[name](filters[name], filters) for name in FILTERS if filters.get(name) is not None
    ]


# -- one builder per filter: (value, all filters) -> predicate ---------------


def _owned_by(value: Any, _: Mapping[str, Any]) -> Predicate:
    owner = _text(value, "owned_by")
    folded = owner.casefold()
    return lambda m: (
        m.owned_by is not None and (m.owned_by == owner or m.owned_by.casefold() == folded)
    )


def _capability(value: Any, _: Mapping[str, Any]) -> Predicate:
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        _text(name, "capability")
    if len(names) == 1:
        (name,) = names
        return lambda m: m.capabilities is not None and m.capabilities.flag(name) is True
    return lambda m: (
        m.capabilities is not None and all(m.capabilities.flag(name) is True for name in names)
    )


def _output_modality(value: Any, _: Mapping[str, Any]) -> Predicate:
    wanted = _text(value, "output_modality").casefold()
    return lambda m: m.architecture is not None and _has(m.architecture.output_modalities, wanted)


def _input_modality(value: Any, _: Mapping[str, Any]) -> Predicate:
    wanted = _text(value, "input_modality").casefold()
    if wanted == "image":  # flags lie about image input; reconcile every source
        return _validation.accepts_image_input
    return lambda m: m.architecture is not None and _has(m.architecture.input_modalities, wanted)


def _tag(value: Any, _: Mapping[str, Any]) -> Predicate:
    wanted = _text(value, "tag").casefold()
    return lambda m: _has(m.tags, wanted)


def _resolution(value: Any, _: Mapping[str, Any]) -> Predicate:
    given = _text(value, "resolution")
    wanted = _validation.normalise_resolution(given)
    allowed_resolutions = _validation.allowed_resolutions
    index = _validation.resolution_index

    def accepts(model: ImageModel) -> bool:
        allowed = allowed_resolutions(model)
        return allowed is not None and (given in allowed or wanted in index(allowed))

    return accepts


def _search(value: Any, _: Mapping[str, Any]) -> Predicate:
    wanted = _text(value, "text").casefold()
    return lambda m: (
        wanted in m.id.casefold()
        or (m.name is not None and wanted in m.name.casefold())
        or (m.description is not None and wanted in m.description.casefold())
    )


def _max_price(value: Any, filters: Mapping[str, Any]) -> Predicate:
    limit = _decimal(value)
    resolution = filters.get("resolution")
    price = _pricing.price

    def affordable(model: ImageModel) -> bool:
        cost = price(model, resolution, 1)
        return cost is not None and cost <= limit

    return affordable


_BUILDERS: dict[str, Callable[[Any, Mapping[str, Any]], Predicate]] = {
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


def _has(values: tuple[str, ...] | None, wanted: str) -> bool:
    """Whether ``wanted`` (casefolded) is among ``values``, ignoring case."""
    if values is None:
        return False
    return wanted in values or any(value.casefold() == wanted for value in values)


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
    priced = [(_pricing.price(model, resolution, 1), model) for model in matches]
    priced.sort(key=lambda pair: (pair[0] is None, pair[0] or 0))
    return tuple(model for _, model in priced)


def _created_key(model: ImageModel) -> tuple[bool, int]:
    return model.created is None, model.created or 0
