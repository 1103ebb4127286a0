"""The catalog as frozen, slotted attrs classes.

Each class keeps the keys it does not know in ``extras``, and also the raw
value of a known key whose value did not fit the typed field exactly (a
``null``, a string where a number was expected, a typed descriptor where a
list was expected...).  The typed field then holds the best reading of it, or
``None``.  :func:`nanogpt_images.dump_catalog` writes ``extras`` back over the
typed fields, which is what makes the round trip lossless.

No I/O and no JSON here; reading and writing live in ``_converter``, the
request checks in ``_validation``, prices in ``_pricing``, queries in
``_queries``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from . import _pricing, _queries, _validation
from ._errors import ModelNotFoundError
from ._problems import ValidationProblem

if TYPE_CHECKING:
    from decimal import Decimal

    from ._queries import SortKey
    from ._validation import ValidatedParams

__all__ = [
    "Architecture",
    "Capabilities",
    "Catalog",
    "CatalogMeta",
    "ImageModel",
    "InputImageConstraints",
    "InputImageLimits",
    "Pricing",
    "RejectedEntry",
    "SupportedParameters",
    "ValidationProblem",
]

Extras = dict[str, Any]


@attrs.frozen(hash=False)
class CatalogMeta:
    """The ``meta`` block: the server's count and when it generated the list."""

    count: int | None = None
    generated_at: str | None = None
    extras: Extras = attrs.Factory(dict)


@attrs.frozen(hash=False)
class Architecture:
    """What goes in and comes out, e.g. ``modality="text->image"``."""

    modality: str | None = None
    input_modalities: tuple[str, ...] | None = None
    output_modalities: tuple[str, ...] | None = None
    extras: Extras = attrs.Factory(dict)


@attrs.frozen(hash=False)
class Pricing:
    """USD prices as the server gives them; shapes vary by model.

    ``per_image`` maps an opaque resolution key (``1024x1024``, ``1024*1024``,
    ``1k``, ``16:9``, ``auto``...) to the price of one image, or is a single
    number for every resolution.  ``by_rendering_speed`` nests such maps by
    speed tier; ``lora`` holds the prices with a LoRA add-on.  A parsed
    catalog's maps (and every ``extras``) are read-only ``dict`` objects:
    the catalog is shared by every reader, so a change raises ``TypeError``;
    ``dict(pricing.per_image)`` is a copy to change.
    """

    currency: str | None = None
    per_image: Mapping[str, float] | float | None = None
    by_rendering_speed: Mapping[str, Mapping[str, float]] | None = None
    lora: Pricing | None = None
    extras: Extras = attrs.Factory(dict)

    @property
    def in_usd(self) -> bool:
        """Whether the prices are USD: the API's unit unless ``currency`` says otherwise."""
        currency = self.currency
        return currency is None or currency.strip().upper() in ("USD", "")  # "" says nothing


@attrs.frozen(hash=False)
class Capabilities:
    """Feature flags.  Flags the library does not name stay in ``extras``."""

    image_generation: bool | None = None
    image_to_image: bool | None = None
    inpainting: bool | None = None
    nsfw: bool | None = None
    extras: Extras = attrs.Factory(dict)

    #: The flags with typed fields; the rest are in ``extras``.
    FLAGS: ClassVar[tuple[str, ...]] = ("image_generation", "image_to_image", "inpainting", "nsfw")

    def flag(self, name: str) -> bool | None:
        """The flag ``name``, known or not; ``None`` when absent or not a boolean."""
        value = getattr(self, name, None) if name in _CAPABILITY_FIELDS else self.extras.get(name)
        return value if isinstance(value, bool) else None

    def stated(self) -> dict[str, bool]:
        """Every flag stated as a boolean, named or in ``extras``, as :meth:`flag` reads them."""
        flags = {name: value for name in self.FLAGS if type(value := getattr(self, name)) is bool}
        if self.extras:
            flags.update(
                (name, value)
                for name, value in self.extras.items()
                if type(value) is bool and name not in _CAPABILITY_FIELDS
            )
        return flags


_CAPABILITY_FIELDS = frozenset(Capabilities.FLAGS)


@attrs.frozen(hash=False)
class InputImageLimits:
    """Limits on input images from one source (``route`` checks or ``provider`` docs)."""

    min_width: int | None = None
    min_height: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_bytes: int | None = None
    formats: tuple[str, ...] | None = None
    source: str | None = None
    note: str | None = None
    extras: Extras = attrs.Factory(dict)


@attrs.frozen(hash=False)
class InputImageConstraints:
    """``supported_parameters.input_image_constraints`` (real, undocumented)."""

    max_items: int | None = None
    route: InputImageLimits | None = None
    provider: InputImageLimits | None = None
    extras: Extras = attrs.Factory(dict)


@attrs.frozen(hash=False)
class SupportedParameters:
    """What a generation request may ask for.

    Typed ``{"type": "enum" | "range" | "boolean"}`` descriptors under other
    names (``quality``, ``n``, ``seed``...) stay in ``extras`` as sent;
    :meth:`ImageModel.validate` reads them from there.
    """

    resolutions: tuple[str, ...] | None = None
    max_images: int | None = None
    max_output_images: int | None = None
    max_input_images: int | None = None
    fixed_image_count: int | None = None
    rendering_speed: tuple[str, ...] | None = None
    input_image_constraints: InputImageConstraints | None = None
    extras: Extras = attrs.Factory(dict)


@attrs.frozen(hash=False)
class ImageModel:
    """One image model of the catalog."""

    id: str
    object: str | None = None
    created: int | None = None
    owned_by: str | None = None
    name: str | None = None
    description: str | None = None
    architecture: Architecture | None = None
    pricing: Pricing | None = None
    capabilities: Capabilities | None = None
    supported_parameters: SupportedParameters | None = None
    icon_url: str | None = None
    tags: tuple[str, ...] | None = None
    category: str | None = None
    # Only on the Image API route (GET /api/v1/images/models):
    endpoints: str | None = None  # the path of the model's endpoint details
    supports_streaming: bool | None = None
    extras: Extras = attrs.Factory(dict)

    @property
    def display_name(self) -> str:
        """``name`` when the server gave one, else ``id``."""
        return self.name or self.id

    @property
    def resolutions(self) -> tuple[str, ...] | None:
        """The resolutions a request may name; ``None`` when the model does not say."""
        return _validation.allowed_resolutions(self)

    @property
    def max_n(self) -> int | None:
        """The largest ``n`` a request may ask for; ``None`` when the model does not say."""
        return _validation.max_n(self)

    @property
    def max_input_images(self) -> int | None:
        """How many input images a request may carry; ``None`` when the numbers do not say."""
        return _validation.max_input_images(self)

    @property
    def accepts_image_input(self) -> bool:
        """Whether the model takes input images, reconciling every source the server gives."""
        return _validation.accepts_image_input(self)

    def validate(self, /, **params: Any) -> ValidatedParams:
        """Check a generation request; return the normalised params.

        Raises :class:`ParameterValidationError` listing every problem at once.
        Parameters the model does not describe pass through unchanged; the
        result (a ``dict``) names them in ``unchecked``, the rest in ``checked``.
        """
        return _validation.validate(self, params)

    def price(self, resolution: str | None = None, n: int = 1) -> Decimal | None:
        """USD cost of ``n`` images at ``resolution``; the lowest price when no resolution.

        ``None`` when the pricing data gives no honest answer.  An ``n`` that
        :meth:`validate` refuses raises its :class:`ParameterValidationError`;
        the default ``n=1`` stands for a request that leaves ``n`` out (a model
        with ``fixed_image_count = k`` is priced for its k images).
        """
        return _pricing.price(self, resolution, n)


@attrs.frozen
class RejectedEntry:
    """An entry of ``data`` that could not be read as a model, kept as sent."""

    index: int
    raw: Any
    reason: str


@attrs.frozen(hash=False, repr=False)
class Catalog:
    """The image-model list: ordered, indexed by id, with what could not be read."""

    models: tuple[ImageModel, ...] = ()
    meta: CatalogMeta | None = None
    object: str | None = None
    rejected: tuple[RejectedEntry, ...] = ()
    extras: Extras = attrs.Factory(dict)
    _index: dict[str, ImageModel] = attrs.field(init=False, eq=False)
    _by_id: Mapping[str, ImageModel] = attrs.field(init=False, eq=False)
    _lookup: _queries.QueryIndex = attrs.field(init=False, eq=False)

    #: Every filter of :meth:`filter`, ``find()`` and :meth:`cheapest`: name -> its help,
    #: its command-line placeholder (``None``: Python only) and whether it takes several values.
    FILTERS: ClassVar[Mapping[str, _queries.FilterInfo]] = _queries.FILTERS

    @_index.default
    def _build_index(self) -> dict[str, ImageModel]:
        return {model.id: model for model in self.models}

    @_by_id.default
    def _build_view(self) -> Mapping[str, ImageModel]:
        return types.MappingProxyType(self._index)

    @_lookup.default
    def _build_lookup(self) -> _queries.QueryIndex:
        return _queries.QueryIndex(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[ImageModel]:
        return iter(self.models)

    def __contains__(self, model_id: Any) -> bool:
        return model_id in self._index

    def __getitem__(self, model_id: str) -> ImageModel:
        try:
            return self._index[model_id]
        except (KeyError, TypeError):  # TypeError: an unhashable key
            if not isinstance(model_id, str):
                raise TypeError(
                    f"a model id is a string such as 'flux-pro', not {type(model_id).__name__}"
                ) from None
            raise ModelNotFoundError(model_id, self.suggest(model_id)) from None

    def __reduce__(self) -> tuple[Any, ...]:
        # The lookup tables and views are rebuilt from the fields, not pickled.
        return Catalog, (self.models, self.meta, self.object, self.rejected, self.extras)

    def __repr__(self) -> str:
        generated = self.meta.generated_at if self.meta else None
        return (
            f"Catalog(models={len(self.models)}, rejected={len(self.rejected)}, "
            f"generated_at={generated!r})"
        )

    @property
    def by_id(self) -> Mapping[str, ImageModel]:
        """The models keyed by id (a read-only view)."""
        return self._by_id

    @property
    def ids(self) -> tuple[str, ...]:
        """Every model id, in catalog order."""
        return tuple(self._index)

    def get(self, model_id: str, default: ImageModel | None = None) -> ImageModel | None:
        """The model with this id, or ``default``."""
        return self._index.get(model_id, default)

    def suggest(self, model_id: str, limit: int = 3) -> tuple[str, ...]:
        """Up to ``limit`` ids close to ``model_id`` (case-insensitive), closest first.

        A few milliseconds at most, however big the catalog: past 500 models
        only the ids near ``model_id`` in sorted orders are compared, so a
        request for a missing id cannot stall a service.
        """
        return self._lookup.suggester()(model_id, limit)

    @_queries.filter_names_checked
    def filter(
        self,
        /,
        *,
        capability: str | Iterable[str] | None = None,
        exclude_capability: str | Iterable[str] | None = None,
        input_modality: str | None = None,
        output_modality: str | None = None,
        resolution: str | None = None,
        max_price: Decimal | float | str | None = None,
        owned_by: str | None = None,
        tag: str | None = None,
        text: str | None = None,
        where: Callable[[ImageModel], bool] | None = None,
        sort: SortKey | None = None,
    ) -> tuple[ImageModel, ...]:
        """Models matching every filter, in catalog order (or by ``sort``).

        See :func:`nanogpt_images.ImageModelsSession.find` for the filters
        (:attr:`FILTERS` lists them with their help).  A catalog never
        changes, so it keeps lookup tables for the filters, built on first
        use (or by :meth:`prepare`), and remembers the answers to the last
        few hundred distinct queries (not those with ``where``): a bot asking
        the same question on every request pays for the search once per
        catalog.
        """
        filters = {
            "capability": capability,
            "exclude_capability": exclude_capability,
            "input_modality": input_modality,
            "output_modality": output_modality,
            "resolution": resolution,
            "max_price": max_price,
            "owned_by": owned_by,
            "tag": tag,
            "text": text,
            "where": where,
        }
        return self._lookup.find(sort, filters)

    def prepare(self) -> Catalog:
        """Build the lookup tables of :meth:`filter` (and of :meth:`suggest`) now; returns it.

        Otherwise the first query builds them, in one walk of the models
        (a few milliseconds for the real catalog).  The session prepares
        every catalog it installs, in the refresh rather than in a request.
        """
        self._lookup.tables()
        self._lookup.suggester()
        return self

    @_queries.filter_names_checked
    def cheapest(
        self,
        /,
        *,
        capability: str | Iterable[str] | None = None,
        exclude_capability: str | Iterable[str] | None = None,
        input_modality: str | None = None,
        output_modality: str | None = None,
        resolution: str | None = None,
        max_price: Decimal | float | str | None = None,
        owned_by: str | None = None,
        tag: str | None = None,
        text: str | None = None,
        where: Callable[[ImageModel], bool] | None = None,
    ) -> ImageModel | None:
        """The lowest-priced model passing the filters of :meth:`filter`, or ``None``.

        ``None`` when no match has a price.  Prices are at ``resolution`` when
        given, else the "from" prices.  The cheapest safe-for-work inpainter
        is ``catalog.cheapest(capability="inpainting", exclude_capability="nsfw")``.
        """
        ranked = self.filter(  # remembered like any other query
            capability=capability,
            exclude_capability=exclude_capability,
            input_modality=input_modality,
            output_modality=output_modality,
            resolution=resolution,
            max_price=max_price,
            owned_by=owned_by,
            tag=tag,
            text=text,
            where=where,
            sort="price",
        )
        return _queries.first_priced(ranked, resolution)
