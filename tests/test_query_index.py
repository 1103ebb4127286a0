"""The lookup tables behind Catalog.filter() give the answers of a plain scan.

``Catalog.filter`` answers from per-catalog tables (position sets, price
columns); these tests hold it to the documented meaning of each filter,
written here the obvious way over the public model API, for any combination
of filters, on the bundled sample plus records of every odd shape.
"""

from __future__ import annotations

import math
from array import array
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import BODIES, KNOWN_KEYS, SHAPED

from nanogpt_images import (
    Capabilities,
    Catalog,
    ImageModel,
    ImageModelsSession,
    _queries,
    parse_catalog,
)
from nanogpt_images._pricing import spelling_prices, unit_price
from nanogpt_images._validation import normalise_resolution
from nanogpt_images.testing import FakeNanoGPT, sample_catalog

ODD_RECORDS: list[dict[str, Any]] = [
    # both spellings of one resolution in one map: the normalised key wins
    {
        "id": "two-spellings",
        "pricing": {"per_image": {"1024*1024": 0.01, "1024x1024": 0.2}},
        "supported_parameters": {"resolutions": ["1024x1024"]},
    },
    {"id": "spelt-once", "pricing": {"per_image": {"1024*1024": 0.03, "default": 0.5}}},
    {"id": "default-only", "pricing": {"per_image": {"default": 0.04}}},
    {"id": "bad-prices", "pricing": {"per_image": {"1024x1024": -1, "512x512": "0.02"}}},
    # an entry that is not a price is absent, wherever it sits in the map
    {"id": "nan-price", "pricing": {"per_image": {"1024x1024": math.nan, "1k": 0.02}}},
    {"id": "nan-price-last", "pricing": {"per_image": {"1k": 0.02, "1024x1024": math.nan}}},
    {"id": "negative-first", "pricing": {"per_image": {"1024x1024": -1, "1k": 0.03}}},
    {"id": "negative-last", "pricing": {"per_image": {"1k": 0.03, "1024x1024": -0.5}}},
    {"id": "inf-spelling", "pricing": {"per_image": {"1024*1024": math.inf, "1024X1024": 0.01}}},
    {
        "id": "nan-speed",
        "pricing": {"by_rendering_speed": {"TURBO": {"1k": math.nan}, "SLOW": {"1k": 0.04}}},
    },
    {
        "id": "flat-with-list",
        "pricing": {"per_image": 0.02},
        "supported_parameters": {"resolutions": ["1024*1024", "16:9"]},
    },
    {
        "id": "by-speed",
        "pricing": {"by_rendering_speed": {"TURBO": {"1024x1024": 0.03}, "SLOW": {"1k": 0.01}}},
    },
    {
        "id": "fixed-four",
        "pricing": {"per_image": {"1024x1024": 0.01}},
        "supported_parameters": {"fixed_image_count": 4, "resolutions": ["1024x1024"]},
    },
    {
        "id": "Typed-Enum",
        "owned_by": "OpenAI",
        "tags": ["Text-To-Image", "Fast"],
        "capabilities": {"image_to_image": "true", "vector_output": True, "beta": False},
        "architecture": {"input_modalities": ["Text", "IMAGE"], "output_modalities": ["Image"]},
        "supported_parameters": {"size": {"type": "enum", "values": ["1024X1024", "auto"]}},
        "pricing": {"per_image": {"auto": 0.05}},
    },
    {
        "id": "numbers-say-no",
        "capabilities": {"image_to_image": True},
        "supported_parameters": {"max_input_images": 0},
    },
    {"id": "huge-int-price", "pricing": {"per_image": {"1024x1024": int("9" * 400)}}},
    {
        "id": "huge-count",
        "pricing": {"per_image": {"1024x1024": 0.01}},
        "supported_parameters": {"fixed_image_count": 10**400, "resolutions": ["1024x1024"]},
    },
    {
        "id": "free-huge-count",
        "pricing": {"per_image": {"1024x1024": 0.0}},
        "supported_parameters": {"fixed_image_count": 10**400},
    },
    {"id": "folds-long", "owned_by": "Straße"},  # casefolds to "strasse"
    {"id": "in-euros", "pricing": {"currency": "EUR", "per_image": {"1024x1024": 0.001}}},
    {"id": "bare"},
    {"id": "nulls", "capabilities": None, "architecture": None, "tags": None, "pricing": None},
]


def _catalog() -> Catalog:
    body = sample_catalog()
    return parse_catalog({**body, "data": [*body["data"], *ODD_RECORDS]})


CATALOG = _catalog()


def _pool(values: Any) -> list[str]:
    return sorted({value for value in values if isinstance(value, str)})


def _fold_variants(values: list[str]) -> list[str]:
    return values + [value.upper() for value in values[::7]]


OWNERS = [*_fold_variants(_pool(model.owned_by for model in CATALOG)), "STRASSE"]
FLAGS = _pool(
    name
    for model in CATALOG
    if model.capabilities is not None
    for name in (*Capabilities.FLAGS, "no_such_flag", *model.capabilities.extras)
)
MODALITIES = _fold_variants(
    _pool(
        value
        for model in CATALOG
        if model.architecture is not None
        for values in (model.architecture.input_modalities, model.architecture.output_modalities)
        for value in values or ()
    )
)
TAGS = _fold_variants(_pool(tag for model in CATALOG for tag in model.tags or ()))
RESOLUTIONS = _pool(r for model in CATALOG for r in model.resolutions or ())
RESOLUTIONS += [r.replace("x", "*") for r in RESOLUTIONS[::5]] + ["1024 X 1024", "7x7"]
PRICES = sorted({p for model in CATALOG if (p := model.price()) is not None})
LIMITS = [str(p) for p in PRICES[::3]] + ["0", "0.0300000001", "1e9"]

WHERE = [
    lambda m: m.max_n is not None and m.max_n > 1,
    lambda m: "flux" in m.id,
    lambda m: m.accepts_image_input and m.owned_by != "openai",
]

FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "owned_by": st.sampled_from(OWNERS),
        "capability": st.one_of(
            st.sampled_from(FLAGS), st.lists(st.sampled_from(FLAGS), max_size=3)
        ),
        "exclude_capability": st.one_of(
            st.sampled_from(FLAGS), st.lists(st.sampled_from(FLAGS), max_size=3)
        ),
        "where": st.sampled_from(WHERE),
        "input_modality": st.sampled_from([*MODALITIES, "image"]),
        "output_modality": st.sampled_from(MODALITIES),
        "tag": st.sampled_from(TAGS),
        "resolution": st.sampled_from(RESOLUTIONS),
        "text": st.sampled_from(["flux", "PRO", "image", "zz-nothing", "-", "enum"]),
        "max_price": st.one_of(st.sampled_from(LIMITS), st.sampled_from(PRICES), st.floats(0, 0.2)),
    },
)


def _price(model: ImageModel, filters: dict[str, Any]) -> Decimal | None:
    resolution = filters.get("resolution")
    return model.price(None if resolution is None else normalise_resolution(resolution))


def _in(value: str, values: tuple[str, ...] | None) -> bool:
    return value.casefold() in [item.casefold() for item in values or ()]


def _passes(model: ImageModel, filters: dict[str, Any]) -> bool:
    """Each filter as the docs define it, tested the slow, obvious way."""
    arch, caps = model.architecture, model.capabilities
    checks = {
        "owned_by": lambda v: (
            model.owned_by is not None and model.owned_by.casefold() == v.casefold()
        ),
        "capability": lambda v: all(
            caps is not None and caps.flag(name) is True
            for name in ([v] if isinstance(v, str) else v)
        ),
        "exclude_capability": lambda v: (
            not any(
                caps is not None and caps.flag(name) is True
                for name in ([v] if isinstance(v, str) else v)
            )
        ),
        "where": lambda v: bool(v(model)),
        "input_modality": lambda v: (
            model.accepts_image_input
            if v.casefold() == "image"
            else arch is not None and _in(v, arch.input_modalities)
        ),
        "output_modality": lambda v: arch is not None and _in(v, arch.output_modalities),
        "tag": lambda v: _in(v, model.tags),
        "resolution": lambda v: (
            normalise_resolution(v) in {normalise_resolution(r) for r in model.resolutions or ()}
        ),
        "text": lambda v: any(
            v.casefold() in (field or "").casefold()
            for field in (model.id, model.name, model.description)
        ),
        "max_price": lambda v: (
            (price := _price(model, filters)) is not None and price <= Decimal(str(v))
        ),
    }
    return all(checks[name](value) for name, value in filters.items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filters=FILTERS, sort=st.sampled_from([None, "price", "name", "created"]))
def test_any_query_equals_a_plain_scan(filters: dict[str, Any], sort: str | None) -> None:
    """Same models, same order, whatever the filters and sort, on a fresh catalog each time."""
    expected = [model for model in CATALOG if _passes(model, filters)]
    if sort == "price":
        expected.sort(key=lambda m: math.inf if (p := _price(m, filters)) is None else p)
    elif sort == "name":
        expected.sort(key=lambda m: m.display_name.casefold())
    elif sort == "created":
        expected.sort(key=lambda m: (m.created is None, m.created or 0))
    fresh = Catalog(models=CATALOG.models)
    assert [m.id for m in fresh.filter(sort=sort, **filters)] == [m.id for m in expected]  # type: ignore[arg-type]


def test_prepared_and_unprepared_catalogs_answer_alike() -> None:
    """prepare() only moves the work: answers do not depend on when the tables were built."""
    queries: list[dict[str, Any]] = [
        {"capability": "image_to_image", "resolution": "1024*1024", "max_price": "0.05"},
        {"input_modality": "image", "output_modality": "image", "max_price": 0.05},
        {"resolution": "1024x1024", "sort": "price"},
    ]
    prepared = Catalog(models=CATALOG.models).prepare()
    for query in queries:
        assert prepared.filter(**query) == Catalog(models=CATALOG.models).filter(**query)


def test_an_empty_catalog_answers_every_filter_with_nothing() -> None:
    catalog = Catalog().prepare()
    assert catalog.filter(capability="nsfw", resolution="1k", max_price=1, sort="price") == ()
    assert catalog.cheapest() is None


@given(
    table=st.dictionaries(
        st.sampled_from(
            ["1024x1024", "1024*1024", "1024X1024", " 1024 x 1024", "1k", "1K", "default"]
        ),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
        min_size=1,
    )
)
def test_spelling_prices_read_a_map_as_unit_price_does(table: dict[str, float]) -> None:
    """The precomputed price of each spelling is what unit_price() says for it."""
    (model,) = parse_catalog({"data": [{"id": "m", "pricing": {"per_image": table}}]})
    prices = spelling_prices(model)
    if prices is None:  # a value did not fit: the map went to extras whole
        return
    for key, unit in prices.items():
        expected = unit_price(model, key)
        valid = unit if 0 <= unit < math.inf else None
        assert valid == expected


async def test_the_session_prepares_the_catalog_it_installs() -> None:
    """A request's first find() does not build tables: the refresh already did."""
    async with (
        FakeNanoGPT() as server,
        ImageModelsSession(base_url=server.url, refresh_interval=None) as session,
    ):
        catalog = await session.catalog()
        assert catalog._lookup._tables is not None
        server.update_model(catalog.models[0].id, name="renamed")
        renewed = await session.refresh()
        assert renewed is not catalog
        assert renewed._lookup._tables is not None


@pytest.mark.parametrize("resolution", ["1024*1024", "1024x1024"])
def test_both_spellings_in_one_map_price_the_normalised_one(resolution: str) -> None:
    """A map naming 1024*1024 and 1024x1024 prices a 1024x1024 query by the latter."""
    found = CATALOG.filter(resolution=resolution, max_price="0.1", text="two-spellings")
    assert found == ()
    assert CATALOG.filter(resolution=resolution, max_price="0.2", text="two-spellings")


#: Entries with an id, so that they load as models, and known keys of odd shapes.
ODD_MODELS = st.lists(
    st.builds(
        lambda fields, model_id: {**fields, "id": model_id},
        st.dictionaries(KNOWN_KEYS, SHAPED, max_size=10),
        st.text(max_size=3),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(BODIES, ODD_MODELS.map(lambda data: {"data": data})))
def test_no_catalog_the_parser_accepts_breaks_the_tables(body: dict[str, Any]) -> None:
    """Whatever shapes the server sends, building the tables and querying never raise.

    The session builds them while installing a catalog, so an error here
    would turn one odd entry into a failed refresh.
    """
    catalog = parse_catalog(body).prepare()
    queries: list[dict[str, Any]] = [
        {"capability": ["image_to_image", "nsfw", "type"]},
        {"input_modality": "image", "output_modality": "image"},
        {"input_modality": "text", "tag": "a", "owned_by": "", "text": "1"},
        {"resolution": "1024x1024", "max_price": 1, "sort": "price"},
        {"max_price": "0", "sort": "created"},
        {"sort": "name"},
    ]
    for query in queries:
        found = catalog.filter(**query)
        assert {model.id for model in found} <= set(catalog.ids)
    catalog.cheapest(resolution="1024*1024")


def test_owned_by_folds_case_fully() -> None:
    """ "STRASSE" is "Straße" in another case, though not as long."""
    assert [m.id for m in CATALOG.filter(owned_by="STRASSE")] == ["folds-long"]


def test_rare_values_are_kept_as_positions_and_common_ones_as_bit_sets() -> None:
    """Tables stay linear in the catalog: a value of a few models costs a few positions."""
    entries = [
        {
            "id": f"m{i}",
            "tags": ["common", f"only-{i}"],
            "pricing": {"per_image": {"1024x1024": 0.01 * i, f"{i}x{i}": 0.5}},
            "supported_parameters": {"resolutions": ["1024x1024", f"{i}x{i}"]},
        }
        for i in range(1, 300)
    ]
    catalog = parse_catalog({"data": entries}).prepare()
    tables = catalog._lookup.tables()
    assert isinstance(tables.keyed["tag"]["common"], int)
    assert tables.keyed["tag"]["only-7"] == (6,)
    assert isinstance(tables.price_at["1024x1024"], array)
    assert isinstance(tables.price_at["7x7"], tuple)
    for query in [
        {"tag": "only-7"},
        {"tag": "ONLY-7", "resolution": "7*7", "max_price": "0.5"},
        {"resolution": "7x7", "max_price": "0.49"},
        {"tag": "common", "resolution": "1024x1024", "max_price": "0.05", "sort": "price"},
    ]:
        expected = [
            m.id for m in catalog if _passes(m, {k: v for k, v in query.items() if k != "sort"})
        ]
        if query.get("sort") == "price":
            expected.sort(key=lambda i: catalog[i].price("1024x1024") or math.inf)
        assert [m.id for m in Catalog(models=catalog.models).filter(**query)] == expected


async def test_a_failure_to_build_tables_does_not_fail_the_refresh(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The tables are an optimisation: a bug in them must not cost the session its catalog."""

    def broken(self: Any, models: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(_queries.Tables, "__init__", broken)
    async with (
        FakeNanoGPT() as server,
        ImageModelsSession(base_url=server.url, refresh_interval=None) as session,
    ):
        model = await session.get_model("gpt-image-2")
        assert model.id == "gpt-image-2"
        assert session.stats().errors == 0
    assert "could not prepare the catalog's query tables" in caplog.text


def test_prices_that_are_not_prices_are_absent_in_the_tables_too() -> None:
    """Prepared tables and price() agree on maps holding NaN or negative entries, in any order."""
    catalog = Catalog(models=CATALOG.models).prepare()
    ids = ["nan-price", "nan-price-last", "negative-first", "negative-last"]
    assert [m.id for m in catalog.filter(max_price="0.03", text="-") if m.id in ids] == ids
    assert [m.id for m in catalog.filter(max_price="0.02", text="-") if m.id in ids] == ids[:2]
    assert catalog["inf-spelling"].price("1024*1024") == Decimal("0.01")
    found = catalog.filter(max_price="0.01", text="inf-spelling")
    assert [m.id for m in found] == ["inf-spelling"]
    assert catalog.cheapest(text="nan-speed") == catalog["nan-speed"]
    assert catalog["nan-speed"].price() == Decimal("0.04")
