"""parse_catalog / dump_catalog: tolerant, lossless, with readable errors."""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import pickle
import sys
import traceback
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import attrs
import pytest
from conftest import load_fixture
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import BODIES, JSON_VALUES

from nanogpt_images import (
    Catalog,
    DecodeError,
    ImageModel,
    ModelNotFoundError,
    Pricing,
    dump_catalog,
    parse_catalog,
)
from nanogpt_images._converter import MAX_DEPTH, make_converter, read_catalog
from nanogpt_images._diff import diff_catalogs, diff_untracked
from nanogpt_images._problems import IdSuggester, suggest
from nanogpt_images._read_only import ReadOnlyDict
from nanogpt_images.testing import sample_catalog

# -- golden tests on real and documented data ----------------------------------


def test_real_records_load_with_typed_fields() -> None:
    """The three records observed on the live service read into typed fields."""
    catalog = parse_catalog(load_fixture("real_images_models_records.json"))
    assert catalog.ids == ("birefnet/v2", "bytedance/seedream-v5.0-pro", "gpt-image-2")
    seedream = catalog["bytedance/seedream-v5.0-pro"]
    params = seedream.supported_parameters
    assert params is not None
    assert params.resolutions == ("1:1", "16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "1k", "2k")
    assert (params.max_images, params.max_output_images, params.max_input_images) == (4, 4, 10)
    constraints = params.input_image_constraints
    assert constraints is not None
    assert constraints.route is not None
    assert constraints.route.formats == ("png", "jpeg", "webp")
    assert constraints.route.max_bytes == 31457280
    assert constraints.provider is not None
    assert constraints.provider.max_bytes == 10485760
    assert seedream.capabilities is not None
    assert seedream.capabilities.nsfw is True
    assert seedream.endpoints == "/api/v1/images/models/bytedance/seedream-v5.0-pro/endpoints"
    assert seedream.extras == {}
    assert params.extras == {}
    assert constraints.extras == {}


def test_real_records_round_trip() -> None:
    """Dumping the real records gives back exactly what was read."""
    body = load_fixture("real_images_models_records.json")
    assert dump_catalog(parse_catalog(body)) == body


@pytest.mark.parametrize("name", ["p_image_2026_05", "flux_pro_2026_01", "minimal_2026_05"])
def test_documented_examples_round_trip(name: str) -> None:
    """Every documented example body reads and dumps back unchanged."""
    body = load_fixture("doc_examples.json")[name]
    catalog = parse_catalog(body)
    assert len(catalog) == 1
    assert not catalog.rejected
    assert dump_catalog(catalog) == body


def test_doc_example_star_price_keys_are_kept_as_sent() -> None:
    """Price keys written `1024*1024` stay as the server wrote them."""
    model = parse_catalog(load_fixture("doc_examples.json")["p_image_2026_05"]).models[0]
    assert model.pricing is not None
    assert isinstance(model.pricing.per_image, dict | type(model.pricing.per_image))
    assert dict(model.pricing.per_image) == {"1024*1024": 0.005, "1376*768": 0.005}  # type: ignore[arg-type]
    assert model.created == 1778544000


def test_sample_catalog_round_trips_and_loads_every_entry() -> None:
    """The bundled ~230-model sample loads with nothing rejected and dumps back equal."""
    body = sample_catalog()
    catalog = parse_catalog(json.dumps(body).encode())
    assert len(catalog) == len(body["data"]) >= 200
    assert not catalog.rejected
    assert catalog.meta is not None
    assert catalog.meta.count == len(catalog)
    assert dump_catalog(catalog) == body


# -- odd shapes in known fields ---------------------------------------------------

ODD_MODELS: list[dict[str, Any]] = [
    {"id": "bare-price", "pricing": 0.04},
    {"id": "lines", "pricing": [{"resolution": "1k", "cost_usd": 0.045, "currency": "USD"}]},
    {"id": "string-created", "created": "1778544000"},
    {"id": "float-created", "created": 1778544000.0},
    {"id": "null-name", "name": None, "tags": None},
    {
        "id": "enum-resolutions",
        "supported_parameters": {"resolutions": {"type": "enum", "values": ["1k", "2k"]}},
    },
    {
        "id": "range-max",
        "supported_parameters": {"max_images": {"type": "range", "min": 1, "max": 4}},
    },
    {"id": "mixed-list", "supported_parameters": {"resolutions": ["1k", 2, None]}},
    {"id": "string-flag", "capabilities": {"nsfw": "true", "inpainting": 1}},
    {"id": "pricing-string", "pricing": "free"},
    {"id": "speed", "pricing": {"by_rendering_speed": {"turbo": {"1k": 0.02}, "bad": "x"}}},
    {"id": "per-image-mixed", "pricing": {"per_image": {"1k": 0.02, "2k": "n/a"}}},
    {"id": "arch-string", "architecture": "text->image"},
    {
        "id": "deep",
        "supported_parameters": {
            "input_image_constraints": {"route": {"formats": "png", "x": {"y": [1]}}}
        },
    },
]


@pytest.mark.parametrize("entry", ODD_MODELS, ids=[entry["id"] for entry in ODD_MODELS])
def test_odd_values_load_and_round_trip(entry: dict[str, Any]) -> None:
    """A known field with a surprising value never fails the entry and dumps back unchanged."""
    body = {"object": "list", "data": [entry]}
    catalog = parse_catalog(body)
    assert catalog.ids == (entry["id"],)
    assert dump_catalog(catalog) == body


def test_odd_values_read_as_the_shape_that_fits() -> None:
    """The typed field reads the best fitting value; the raw value stays in extras."""
    catalog = parse_catalog({"object": "list", "data": ODD_MODELS})
    assert catalog["bare-price"].pricing == Pricing(per_image=0.04)
    assert catalog["bare-price"].extras == {"pricing": 0.04}
    lines = catalog["lines"].pricing
    assert lines is not None
    assert lines.currency == "USD"
    assert dict(lines.per_image) == {"1k": 0.045}
    assert catalog["string-created"].created == 1778544000
    assert catalog["string-created"].extras == {"created": "1778544000"}
    assert catalog["null-name"].name is None
    assert catalog["null-name"].extras == {
        "name": None,
        "tags": None,
    }
    enum = catalog["enum-resolutions"].supported_parameters
    assert enum is not None
    assert enum.resolutions == ("1k", "2k")
    ranged = catalog["range-max"].supported_parameters
    assert ranged is not None
    assert ranged.max_images == 4
    mixed = catalog["mixed-list"].supported_parameters
    assert mixed is not None
    assert mixed.resolutions == ("1k",)
    flags = catalog["string-flag"].capabilities
    assert flags is not None
    assert flags.nsfw is True
    assert flags.inpainting is None
    assert catalog["pricing-string"].pricing is None
    speed = catalog["speed"].pricing
    assert speed is not None
    assert speed.by_rendering_speed is not None
    assert dict(speed.by_rendering_speed["turbo"]) == {"1k": 0.02}
    assert catalog["arch-string"].architecture is None


def test_unknown_keys_are_kept_at_every_depth() -> None:
    """Keys the library does not know land in the extras of the object that had them."""
    entry = {
        "id": "m",
        "brand_new": {"a": 1},
        "architecture": {"modality": "text->image", "tokenizer": "x"},
        "pricing": {
            "currency": "USD",
            "per_image": {"1k": 0.1},
            "lora": {"per_image": 0.2, "unit": "image"},
        },
        "capabilities": {"image_generation": True, "upscaling": True},
        "supported_parameters": {
            "resolutions": ["1k"],
            "quality": {"type": "enum", "values": ["low"]},
        },
    }
    model = parse_catalog(
        {"data": [entry], "meta": {"count": 1, "region": "eu"}, "next": None}
    ).models[0]
    assert model.extras == {"brand_new": {"a": 1}}
    assert model.architecture is not None
    assert model.architecture.extras == {"tokenizer": "x"}
    assert model.pricing is not None
    assert model.pricing.lora is not None
    assert model.pricing.lora.extras == {"unit": "image"}
    assert model.capabilities is not None
    assert model.capabilities.flag("upscaling") is True
    assert model.supported_parameters is not None
    assert model.supported_parameters.extras == {"quality": {"type": "enum", "values": ["low"]}}


# -- rejected entries -------------------------------------------------------------


def test_bad_entries_are_rejected_alone_and_dump_back_in_place() -> None:
    """Entries without a usable id are kept raw with a reason; the rest load; order survives."""
    data: list[Any] = [
        {"id": "a"},
        {"name": "no id"},
        7,
        {"id": 42},
        {"id": ""},
        {"id": "b"},
        {"id": "a", "name": "duplicate"},
        None,
    ]
    body = {"object": "list", "data": data}
    catalog = parse_catalog(body)
    assert catalog.ids == ("a", "b")
    assert [entry.index for entry in catalog.rejected] == [1, 2, 3, 4, 6, 7]
    reasons = [entry.reason for entry in catalog.rejected]
    assert reasons[0] == "no 'id'"
    assert reasons[1] == "expected an object, found int"
    assert "not a non-empty string: 42" in reasons[2]
    assert reasons[4] == "repeats the id 'a'"
    assert dump_catalog(catalog) == body


# -- envelope errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (
            b"<html><title>502 Bad Gateway</title></html>",
            "HTML or XML page: '<html><title>502 Bad Gateway",
        ),
        (b'{"data": [', "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[1, 2]", "got a list"),
        (b'"text"', "got a string"),
        (b"{}", "no 'data' key (keys: none)"),
        (b'{"error": "down"}', "no 'data' key (keys: error)"),
        (b'{"data": {"id": "x"}}', "expected 'data' to be a list of models, got an object"),
        (b'{"data": null}', "got null"),
    ],
)
def test_bodies_that_are_not_catalogs_raise_decode_error(body: bytes, expected: str) -> None:
    """A body that is not a catalog raises DecodeError saying what was found."""
    with pytest.raises(DecodeError, match=None) as caught:
        parse_catalog(body)
    assert expected in str(caught.value)
    assert caught.value.errors


def test_parse_catalog_rejects_other_types() -> None:
    """Passing something that is not a body is a TypeError naming the type."""
    with pytest.raises(TypeError, match="not int"):
        parse_catalog(3)  # type: ignore[arg-type]


def test_parse_catalog_copies_a_mapping() -> None:
    """Mutating the dict after parsing does not change the catalog."""
    body = {"data": [{"id": "a", "pricing": {"per_image": {"1k": 0.1}}}]}
    catalog = parse_catalog(body)
    body["data"][0]["pricing"]["per_image"]["1k"] = 9.0
    assert catalog["a"].price("1k") == Decimal("0.1")


# -- the Catalog container ------------------------------------------------------------


def test_catalog_container_protocol() -> None:
    """len, iteration, `in`, [] and get() work by id; repr stays short."""
    catalog = parse_catalog(
        {"data": [{"id": "flux-pro"}, {"id": "flux-dev"}], "meta": {"count": 2}}
    )
    assert len(catalog) == 2
    assert [model.id for model in catalog] == ["flux-pro", "flux-dev"]
    assert "flux-pro" in catalog
    assert "nope" not in catalog
    assert catalog["flux-dev"].id == "flux-dev"
    assert catalog.get("nope") is None
    assert dict(catalog.by_id) == {model.id: model for model in catalog}
    assert repr(catalog) == "Catalog(models=2, rejected=0, generated_at=None)"


def test_unknown_id_suggests_close_ids() -> None:
    """catalog[id] for an unknown id raises ModelNotFoundError naming close ids."""
    catalog = parse_catalog(
        {"data": [{"id": "flux-pro"}, {"id": "flux-dev"}, {"id": "gpt-image-1"}]}
    )
    with pytest.raises(ModelNotFoundError) as caught:
        catalog["flux-pr"]
    assert caught.value.model_id == "flux-pr"
    assert caught.value.suggestions[0] == "flux-pro"
    assert "did you mean 'flux-pro'" in str(caught.value)
    assert isinstance(caught.value, LookupError)


def test_close_ids_in_a_big_catalog_are_found_among_the_near_ones() -> None:
    """Past 500 ids, typos at the start, middle and end still find the id (scoring ~200)."""
    ids = [f"vendor-{n:04d}/model-{n % 7}" for n in range(5_000)] + ["flux-pro", "recraft-v3"]
    catalog = Catalog(models=tuple(ImageModel(id=model_id) for model_id in ids))
    assert catalog.suggest("lux-pro")[0] == "flux-pro"  # the first character lost
    assert catalog.suggest("recrat-v3")[0] == "recraft-v3"  # one in the middle
    assert catalog.suggest("vendor-1234/model-2x")[0] == "vendor-1234/model-2"
    assert catalog.suggest("FLUX-PRO")[0] == "flux-pro"
    assert catalog.suggest("\0") == ()
    with pytest.raises(ModelNotFoundError) as caught:
        catalog["flux-pr"]
    assert caught.value.suggestions[0] == "flux-pro"


@given(st.lists(st.text(min_size=1, max_size=6), max_size=40), st.text(max_size=6))
def test_close_ids_in_a_small_catalog_are_exactly_difflibs(ids: list[str], word: str) -> None:
    """Up to 500 ids every one is scored: the answer is suggest()'s over all of them."""
    assert IdSuggester(ids)(word) == suggest(word, ids)


def test_models_are_frozen_and_unhashable() -> None:
    """Models cannot be changed in place, and hashing says why it cannot work."""
    model = ImageModel(id="m")
    with pytest.raises(AttributeError):
        model.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="unhashable"):
        hash(model)
    assert Catalog() == Catalog()


def test_parsed_objects_are_the_public_frozen_classes() -> None:
    """Parsing builds objects without their __init__; they must be the same as if built by it."""

    def walk(obj: Any) -> list[Any]:
        found = [obj]
        for value in attrs.astuple(obj, recurse=False):
            if attrs.has(type(value)):
                found += walk(value)
        return found

    for model in parse_catalog(sample_catalog()):
        for obj in walk(model):
            assert type(obj).__module__ == "nanogpt_images._models"
            assert obj == attrs.evolve(obj)
            assert repr(obj) == repr(attrs.evolve(obj))
            with pytest.raises(AttributeError):
                obj.extras = {}


ANNOTATIONS = {"size": "int | None", "extras": "dict[str, Any]"}


@pytest.mark.parametrize(
    ("field", "hooks", "named"),
    [
        (attrs.field(default=None, validator=attrs.validators.instance_of(int)), {}, "size"),
        (attrs.field(default=None, converter=int), {}, "size"),
        (attrs.field(default=0), {}, "size"),
        (attrs.field(default=None), {"__attrs_post_init__": lambda self: None}, "no field"),
        (attrs.field(default=None), {"__attrs_pre_init__": lambda self: None}, "no field"),
    ],
)
def test_classes_whose_init_does_more_are_refused(
    field: Any, hooks: dict[str, Any], named: str
) -> None:
    """The generated code does not run __init__, so it must not be used where that matters."""
    namespace = {"size": field, "extras": attrs.Factory(dict), **hooks}
    checked = attrs.frozen(type("Checked", (), {"__annotations__": ANNOTATIONS, **namespace}))
    with pytest.raises(TypeError, match=f"Checked has work in its __init__.*{named}"):
        make_converter().structure({"size": 1}, checked)


def test_an_error_mid_object_leaves_no_half_built_object_in_the_traceback() -> None:
    """A reader failing half-way must not leave a mutable stand-in for debuggers to find."""

    @attrs.frozen
    class Outer:
        name: str | None = None
        inner: Pricing | None = None
        extras: dict[str, Any] = attrs.Factory(dict)

    converter = make_converter()
    boom = RuntimeError("boom")

    def fail(raw: Any, _: Any) -> Pricing:
        raise boom

    converter.register_structure_hook(Pricing, fail)
    with pytest.raises(RuntimeError) as caught:
        converter.structure({"name": "x", "inner": {}}, Outer)
    frames = [tb.tb_frame for tb in _tracebacks(caught.value.__traceback__)]
    assert not [v for frame in frames for v in frame.f_locals.values() if isinstance(v, Outer)]


def _tracebacks(tb: Any) -> Any:
    while tb is not None:
        yield tb
        tb = tb.tb_next


# -- properties ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(BODIES)
def test_round_trip_is_lossless_for_any_body(body: dict[str, Any]) -> None:
    """dump_catalog(parse_catalog(x)) == x for any JSON object with a data list."""
    assert dump_catalog(parse_catalog(body)) == body
    assert dump_catalog(parse_catalog(json.dumps(body))) == body


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_parse_raises_only_decode_error_on_any_json(value: Any) -> None:
    """Any JSON document gives a Catalog or a DecodeError, nothing else."""
    try:
        catalog = parse_catalog(json.dumps(value))
    except DecodeError:
        return
    assert isinstance(catalog, Catalog)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_parse_raises_only_decode_error_on_any_bytes(body: bytes) -> None:
    """Any bytes give a Catalog or a DecodeError, nothing else."""
    with contextlib.suppress(DecodeError):
        parse_catalog(body)


def test_parsing_leaves_the_garbage_collector_as_it_found_it() -> None:
    """The collector paused during a parse is running again after it, error or not."""
    assert gc.isenabled()
    parse_catalog(b'{"data": [{"id": "a"}]}')
    assert gc.isenabled()
    with pytest.raises(DecodeError):
        parse_catalog(b"not json")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_catalog(b'{"data": []}')
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_parses_in_many_threads_restore_the_collector() -> None:
    """Overlapping parses in threads resume the collector once the last one ends."""
    body = json.dumps(sample_catalog()).encode()
    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(pool.map(lambda _: len(parse_catalog(body)), range(24)))
    assert set(sizes) == {len(sample_catalog()["data"])}
    assert gc.isenabled()


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's collector")
def test_what_the_session_reads_is_left_out_of_the_collectors_walks() -> None:
    """A catalog the session reads is untracked (a full collection skips it), as tuples are."""
    catalog, _ = read_catalog(json.dumps(sample_catalog()), {})
    model = catalog["flux-pro"]
    assert model.pricing is not None
    assert model.supported_parameters is not None
    parts = [model, model.pricing, model.pricing.per_image, model.capabilities, model.tags]
    parts += [model.architecture, model.supported_parameters, catalog.meta]
    assert not any(gc.is_tracked(part) for part in parts)
    assert gc.is_tracked(catalog)  # it holds the query tables and memo, which may change
    assert catalog == parse_catalog(json.dumps(sample_catalog()))


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's collector")
def test_the_changes_told_to_subscribers_are_left_out_of_the_collectors_walks() -> None:
    """diff_untracked gives what diff_catalogs gives, its objects untracked (and freed)."""
    before, _ = read_catalog(json.dumps(sample_catalog()), {})
    body = sample_catalog()
    for entry in body["data"]:
        entry["name"] = "renamed"
    after, _ = read_catalog(json.dumps(body), {})
    change = diff_untracked(before, after)
    assert change == diff_catalogs(before, after)
    assert len(change.changed) == len(after)
    parts = [change, change.changed, change.added, change.changed[0], change.changed[0].fields]
    assert not any(gc.is_tracked(part) for part in parts)
    first = weakref.ref(change.changed[0])
    del change, parts
    assert first() is None


def test_a_dropped_catalog_is_freed_without_the_collector() -> None:
    """Reference counting alone frees the models of a catalog nobody holds: nothing leaks."""
    catalog, known = read_catalog(json.dumps(sample_catalog()), {})
    refs = [weakref.ref(model) for model in catalog.models]
    refs.append(weakref.ref(catalog.models[0].pricing))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del catalog, known
        assert all(ref() is None for ref in refs)
    finally:
        if was_enabled:
            gc.enable()


def test_price_maps_are_read_only_dicts() -> None:
    """A price map refuses changes (saying how to get a copy), and reads, pickles and encodes."""
    table = parse_catalog(json.dumps(sample_catalog()))["flux-pro"].pricing.per_image
    assert isinstance(table, ReadOnlyDict)
    changes = [
        lambda: table.__setitem__("1024x1024", 0.0),
        lambda: table.__delitem__("1024x1024"),
        lambda: table.update({"a": 1.0}),
        table.clear,
        lambda: table.pop("1024x1024"),
        table.popitem,
        lambda: table.setdefault("a", 1.0),
    ]
    for change in changes:
        with pytest.raises(
            TypeError, match=r"read-only \(every reader shares it\); dict\(table\) makes a copy"
        ):
            change()
    twin = pickle.loads(pickle.dumps(table))  # noqa: S301 - our own bytes
    assert twin == table
    assert type(twin) is ReadOnlyDict
    assert copy.deepcopy(table) is table
    assert json.loads(json.dumps(table)) == dict(table)
    changed = dict(table)
    changed["1024x1024"] = 0.0
    assert changed != table


def test_price_lines_with_odd_currencies_still_read() -> None:
    """A currency that is not a string (even an unhashable list) is dropped, not fatal."""
    body = {
        "data": [
            {"id": "a", "pricing": [{"resolution": "1k", "cost_usd": 0.1, "currency": []}]},
            {"id": "b", "pricing": [{"resolution": "1k", "cost_usd": 0.1, "currency": "USD"}]},
        ]
    }
    catalog = parse_catalog(body)
    assert catalog["a"].pricing is not None
    assert catalog["a"].pricing.currency is None
    assert catalog["b"].pricing is not None
    assert catalog["b"].pricing.currency == "USD"
    assert catalog["a"].price("1k") == Decimal("0.1")
    assert dump_catalog(catalog) == body


# -- nesting depth: one limit for parsing and everything done with the result --


def _nest(levels: int, kinds: list[str]) -> Any:
    """A JSON value nesting exactly ``levels`` levels, each a list or an object by ``kinds``."""
    value: Any = 1
    for level in range(levels):
        value = [value] if kinds[level % len(kinds)] == "list" else {"k": value}
    return value


def _deep_body(levels: int, where: str, kinds: list[str]) -> dict[str, Any]:
    """A body holding, at ``where``, a value the catalog keeps that nests exactly ``levels``."""
    deep = _nest(levels, kinds)
    if where == "lora":  # typed all the way down: a chain of LoRA prices
        lora: Any = {"per_image": {"1k": 0.01}}  # 2 levels
        for _ in range(levels - 2):
            lora = {"lora": lora}
        return {"data": [{"id": "m", "pricing": {"per_image": {"1k": 0.02}, "lora": lora}}]}
    if where == "model extras":
        return {"data": [{"id": "m", "odd": deep}]}
    if where == "nested extras":
        return {"data": [{"id": "m", "supported_parameters": {"quality": deep}}]}
    if where == "rejected entry":
        return {"data": [{"id": "m"}, deep]}
    return {"data": [], "extra": deep}  # the envelope's extras


DEEP_PLACES = st.sampled_from(
    ["lora", "model extras", "nested extras", "rejected entry", "envelope extras"]
)
KINDS = st.lists(st.sampled_from(["list", "object"]), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(where=DEEP_PLACES, kinds=KINDS, as_bytes=st.booleans())
def test_everything_works_on_a_body_at_the_depth_limit(
    where: str, kinds: list[str], as_bytes: bool
) -> None:
    """A kept value at MAX_DEPTH: parse, dump, pickle, deepcopy, repr, == and diff all work."""
    body = _deep_body(MAX_DEPTH, where, kinds)
    catalog = parse_catalog(json.dumps(body).encode() if as_bytes else body)
    assert dump_catalog(catalog) == body
    twin = pickle.loads(pickle.dumps(catalog))  # noqa: S301 - our own bytes
    assert twin == catalog
    assert dump_catalog(twin) == body
    assert copy.deepcopy(catalog) == catalog
    assert repr(catalog.models)
    assert repr(catalog.rejected)
    assert diff_catalogs(catalog, twin).changed == ()


@settings(max_examples=40, deadline=None)
@given(where=DEEP_PLACES, kinds=KINDS, as_bytes=st.booleans())
def test_a_body_one_level_past_the_limit_is_a_decode_error(
    where: str, kinds: list[str], as_bytes: bool
) -> None:
    """One level past MAX_DEPTH, parse_catalog refuses the body with a DecodeError saying so."""
    body = _deep_body(MAX_DEPTH + 1, where, kinds)
    with pytest.raises(DecodeError, match=f"a value nesting deeper than {MAX_DEPTH} levels"):
        parse_catalog(json.dumps(body).encode() if as_bytes else body)


def test_a_body_nesting_as_deep_as_json_allows_is_a_decode_error() -> None:
    """Far past the limit (where dump_catalog used to hit RecursionError) the answer is the same."""
    body = _deep_body(900, "lora", ["object"])
    with pytest.raises(DecodeError, match="nesting deeper than"):
        parse_catalog(json.dumps(body))
    with pytest.raises(DecodeError, match="nesting deeper than"):
        parse_catalog(b"[" * 5000 + b"]" * 5000)
    with pytest.raises(DecodeError, match="nesting deeper than"):
        parse_catalog(_deep_body(5000, "envelope extras", ["list"]))


def test_a_parsed_catalog_pickles_and_still_answers_queries() -> None:
    """pickle and deepcopy keep every field, read-only price maps included, and the tables work."""
    catalog = parse_catalog(sample_catalog())
    twin = pickle.loads(pickle.dumps(catalog))  # noqa: S301 - our own bytes
    assert twin == catalog
    assert dump_catalog(twin) == sample_catalog()
    assert twin.filter(capability="inpainting", max_price="0.02") == catalog.filter(
        capability="inpainting", max_price="0.02"
    )
    priced = next(m for m in twin if isinstance(m.pricing and m.pricing.per_image, Mapping))
    assert priced.pricing is not None
    with pytest.raises(TypeError):
        priced.pricing.per_image["1k"] = 0  # type: ignore[index]
    assert copy.deepcopy(catalog) == catalog


# -- bytes that are not UTF-8 ------------------------------------------------------


def test_an_entry_with_bytes_that_are_not_utf8_is_rejected_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One bad byte costs its entry only: the rest load, the reason names the byte."""
    body = (
        b'{"object": "list", "data": [{"id": "a", "name": "fine"},'
        b' {"id": "b", "name": "caf\xe9 \xff"}, {"id": "c", "tags": ["\xc3("]}],'
        b' "meta": {"note": "m\xc3"}}'
    )
    catalog = parse_catalog(body)
    assert catalog.ids == ("a",)
    first, second = catalog.rejected
    assert (first.index, second.index) == (1, 2)
    assert first.reason == (
        "holds bytes that are not UTF-8 (0xe9, 0xff); they read as U+FFFD in this raw entry"
    )
    assert first.raw == {"id": "b", "name": "caf\ufffd \ufffd"}
    assert "0xc3" in second.reason
    assert catalog.meta is not None
    assert catalog.meta.extras == {"note": "m\ufffd"}
    assert "the catalog's 'meta' held bytes that are not UTF-8 (0xc3)" in caplog.text
    dumped = dump_catalog(catalog)
    assert [entry["id"] for entry in dumped["data"]] == ["a", "b", "c"]
    json.dumps(dumped, ensure_ascii=False).encode()  # nothing unencodable is kept


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=5), st.data())
def test_only_the_entries_holding_bad_bytes_are_rejected(names: list[str], data: Any) -> None:
    """Whichever entries get a stray byte, exactly those are rejected, in place, and no other."""
    bad = set(data.draw(st.sets(st.integers(0, len(names) - 1))))
    byte = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\xf0\x9f"]))
    entries = [
        b'{"id": "m%d", "name": %s}' % (index, json.dumps(name).encode()[:-1] + byte + b'"')
        if index in bad
        else json.dumps({"id": f"m{index}", "name": name}).encode()
        for index, name in enumerate(names)
    ]
    catalog = parse_catalog(b'{"data": [' + b", ".join(entries) + b"]}")
    assert [entry.index for entry in catalog.rejected] == sorted(bad)
    assert catalog.ids == tuple(f"m{i}" for i in range(len(names)) if i not in bad)
    assert [m.name for m in catalog] == [n for i, n in enumerate(names) if i not in bad]


def test_a_body_in_utf16_with_a_bad_code_unit_is_still_a_decode_error() -> None:
    """Only UTF-8 bodies are rescued entry by entry; other encodings fail as before."""
    body = '{"data": [{"id": "a"}]}'.encode("utf-16-le") + b"\x00\xd8"
    with pytest.raises(DecodeError, match="invalid JSON"):
        parse_catalog(body)


def test_a_traceback_through_generated_code_shows_its_lines() -> None:
    """The generated structure code is in linecache: a traceback quotes the line that failed."""

    @attrs.frozen
    class Outer:
        inner: Pricing | None = None
        extras: dict[str, Any] = attrs.Factory(dict)

    converter = make_converter()

    def fail(raw: Any, _: Any) -> Pricing:
        raise RuntimeError("boom")

    converter.register_structure_hook(Pricing, fail)
    with pytest.raises(RuntimeError) as caught:
        converter.structure({"inner": {}}, Outer)
    text = "".join(traceback.format_exception(caught.value))
    assert "<nanogpt_images generated structure" in text
    assert "obj.inner = _hook0(v, None)" in text


@pytest.mark.parametrize("value", ["+-5", "-+1", "²", "9" * 5000])
def test_integer_like_strings_never_fail_the_catalog(value: str) -> None:
    """A number field holding a string int() cannot read is kept raw; the catalog loads."""
    body = {"data": [{"id": "m", "created": value}], "meta": {"count": value}}
    catalog = parse_catalog(body)
    assert catalog["m"].created is None
    assert catalog["m"].extras == {"created": value}
