"""Catalog.filter() and Catalog.cheapest() over real, documented and odd records."""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from conftest import load_fixture

from nanogpt_images import Capabilities, Catalog, ImageModel, ImageModelsSession, parse_catalog
from nanogpt_images.testing import sample_catalog

if TYPE_CHECKING:
    from conftest import MakeSession


def _catalog() -> Catalog:
    docs = load_fixture("doc_examples.json")
    entries = [entry for example in docs.values() for entry in example["data"]]
    for record in load_fixture("real_images_models_records.json")["data"]:
        route = load_fixture(f"real_endpoints/{record['id'].replace('/', '-')}.json")
        entries.append({**record, "pricing": route["endpoints"][0]["pricing"]})
    entries += [
        {
            "id": "ideogram-v3",
            "name": "Ideogram V3",
            "owned_by": "Ideogram",
            "created": 1730000000,
            "tags": ["Text-To-Image"],
            "capabilities": {"image_generation": True, "inpainting": True},
            "pricing": {
                "by_rendering_speed": {
                    "TURBO": {"1024x1024": 0.03},
                    "QUALITY": {"1024x1024": 0.09},
                }
            },
            "supported_parameters": {"resolutions": ["1024x1024"]},
        },
        {
            "id": "recraft-ai/recraft-v4.1/text-to-vector",
            "name": "Recraft V4.1 Vector",
            "architecture": {"output_modalities": ["svg"]},
            "capabilities": {"image_generation": True, "vector_output": True},
            "pricing": {"per_image": 0.08},
            "supported_parameters": {"resolutions": ["1024*1024"]},
        },
        {
            "id": "nano-banana-pro-ultra",
            "name": "Nano Banana Pro Ultra",
            "created": 1704067200,
            "architecture": {"input_modalities": ["text"]},
            "capabilities": {"image_generation": True, "image_to_image": False},
            "pricing": {"per_image": {"1k": 0.15}},
            "supported_parameters": {"resolutions": ["1k"], "max_input_images": 10},
        },
    ]
    return parse_catalog({"object": "list", "data": entries})


CATALOG = _catalog()
FLUX = "flux-pro"
PIMG = "pruna-ai/p-image/text-to-image"
MINIMAL = "model-id"
BIREF = "birefnet/v2"
SEED = "bytedance/seedream-v5.0-pro"
GPT = "gpt-image-2"
IDEO = "ideogram-v3"
RECRAFT = "recraft-ai/recraft-v4.1/text-to-vector"
BANANA = "nano-banana-pro-ultra"
ALL = [PIMG, FLUX, MINIMAL, BIREF, SEED, GPT, IDEO, RECRAFT, BANANA]


def _ids(models: tuple[ImageModel, ...]) -> list[str]:
    return [model.id for model in models]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ALL),
        ({"capability": "image_to_image"}, [BIREF, SEED, GPT]),
        ({"capability": ["image_to_image", "nsfw"]}, [SEED]),
        ({"capability": "vector_output"}, [RECRAFT]),  # a flag the library does not name
        ({"capability": "inpainting"}, [IDEO]),
        ({"input_modality": "image"}, [BIREF, SEED, GPT, IDEO, BANANA]),  # flags reconciled
        ({"input_modality": "text"}, [PIMG, FLUX, MINIMAL, BANANA]),
        ({"output_modality": "IMAGE"}, [PIMG, FLUX, MINIMAL]),
        ({"output_modality": "svg"}, [RECRAFT]),
        ({"resolution": "1024*1024"}, [PIMG, FLUX, GPT, IDEO, RECRAFT]),
        ({"resolution": "16:9"}, [SEED]),
        ({"resolution": "8k"}, []),
        ({"max_price": "0.01"}, [PIMG, BIREF]),
        ({"max_price": 0.05, "resolution": "1024x1024"}, [PIMG, FLUX, IDEO]),
        ({"owned_by": "bfl"}, [FLUX]),
        ({"owned_by": "ideogram"}, [IDEO]),
        ({"tag": "text-to-image"}, [PIMG, IDEO]),
        ({"text": "pruna"}, [PIMG]),
        ({"text": "LOW-COST"}, [PIMG]),  # description
        ({"text": "display"}, [MINIMAL]),  # name
        ({"text": "seedream"}, [SEED]),  # id
        ({"capability": "image_to_image", "resolution": "1024x1024", "max_price": 0.07}, [GPT]),
        ({"input_modality": "image", "max_price": 0.05}, [BIREF, SEED, IDEO]),
        ({"text": "pro", "owned_by": "bfl"}, [FLUX]),
        ({"tag": "text-to-image", "capability": "inpainting", "resolution": "1024x1024"}, [IDEO]),
        ({"resolution": None, "max_price": None}, ALL),
    ],
)
def test_each_filter_alone_and_combined(filters: dict[str, Any], expected: list[str]) -> None:
    """Every filter must hold; the result keeps catalog order; None means no filter."""
    result = CATALOG.filter(**filters)
    assert isinstance(result, tuple)
    assert _ids(result) == expected


@pytest.mark.parametrize(
    "flag", [field.name for field in attrs.fields(Capabilities) if field.name != "extras"]
)
def test_every_named_flag_filters_by_its_own_value(flag: str) -> None:
    """Each flag `Capabilities` names is a capability filter reading that flag only."""
    entries = [
        {"id": "yes", "capabilities": {flag: True}},
        {"id": "no", "capabilities": {flag: False}},
        {"id": "text", "capabilities": {flag: "true"}},  # read as True, kept raw in extras
        {"id": "other", "capabilities": {"something_else": True}},
        {"id": "none"},
    ]
    catalog = parse_catalog({"data": entries})
    assert _ids(catalog.filter(capability=flag)) == ["yes", "text"]


@pytest.mark.parametrize("limit", [Decimal("0.01"), 0.01, "0.01", " 0.01 "])
def test_max_price_takes_any_number_form(limit: Any) -> None:
    """`max_price` compares exactly whether given as Decimal, float or string."""
    assert _ids(CATALOG.filter(max_price=limit)) == [PIMG, BIREF]


@pytest.mark.parametrize(("limit", "matches"), [("0.3", True), ("0.2999999", False)])
def test_max_price_is_exact_at_the_boundary(limit: str, matches: bool) -> None:
    """0.1 x fixed_image_count 3 costs 0.3 exactly, not the float 0.30000000000000004."""
    entry = {
        "id": "m",
        "pricing": {"per_image": 0.1},
        "supported_parameters": {"fixed_image_count": 3},
    }
    catalog = parse_catalog({"data": [entry]})
    assert bool(catalog.filter(max_price=limit)) is matches


@pytest.mark.parametrize(
    ("sort", "filters", "expected"),
    [
        ("price", {}, [PIMG, BIREF, IDEO, FLUX, SEED, GPT, RECRAFT, BANANA, MINIMAL]),
        ("price", {"resolution": "1024x1024"}, [PIMG, IDEO, FLUX, GPT, RECRAFT]),
        ("name", {}, [BIREF, SEED, MINIMAL, FLUX, GPT, IDEO, BANANA, PIMG, RECRAFT]),
        ("created", {}, [BANANA, FLUX, IDEO, PIMG, MINIMAL, BIREF, SEED, GPT, RECRAFT]),
    ],
)
def test_sort_orders(sort: Any, filters: dict[str, Any], expected: list[str]) -> None:
    """By price (unpriced last), display name, or created (oldest first, unknown last)."""
    assert _ids(CATALOG.filter(sort=sort, **filters)) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, PIMG),
        ({"capability": "image_to_image"}, BIREF),
        ({"resolution": "16:9"}, SEED),
        ({"resolution": "1024x1024", "input_modality": "image"}, IDEO),
        ({"owned_by": "nobody"}, None),
        ({"text": "display"}, None),  # matches, but has no price
    ],
)
def test_cheapest(filters: dict[str, Any], expected: str | None) -> None:
    """The lowest-priced match at the requested resolution, or None."""
    model = CATALOG.cheapest(**filters)
    assert (model.id if model is not None else None) == expected


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: CATALOG.filter(colour="red"),
            TypeError,
            "filter() got an unknown filter 'colour'; valid filters: capability, "
            "exclude_capability, input_modality, output_modality, resolution, max_price, "
            "owned_by, tag, text, where, and sort",
        ),
        (lambda: CATALOG.cheapest(size="1k"), TypeError, "unknown filter 'size'"),
        (lambda: CATALOG.cheapest(sort="name"), TypeError, "(it sorts by price itself)"),
        (
            lambda: CATALOG.filter(capabilty="nsfw"),
            TypeError,
            "unknown filter 'capabilty'; did you mean 'capability'? valid filters:",
        ),
        (
            lambda: CATALOG.cheapest(exclude_capabilities="nsfw"),
            TypeError,
            "did you mean 'exclude_capability'?",
        ),
        (lambda: CATALOG.filter(where="nsfw"), TypeError, "takes a function ImageModel -> bool"),
        (lambda: CATALOG.filter(exclude_capability=5), TypeError, "'exclude_capability' takes a"),
        (lambda: CATALOG.cheapest(resolution=5), TypeError, "filter 'resolution' takes a string"),
        (lambda: CATALOG.filter(tag=5), TypeError, "filter 'tag' takes a string, not int"),
        (lambda: CATALOG.filter(capability=[1]), TypeError, "filter 'capability' takes a string"),
        (lambda: CATALOG.filter(max_price=True), TypeError, "max_price takes a number, not bool"),
        (lambda: CATALOG.filter(max_price="cheap"), ValueError, "must be a number, not 'cheap'"),
        (lambda: CATALOG.filter(max_price="nan"), ValueError, "must be a finite number"),
        (lambda: CATALOG.filter(sort="size"), ValueError, "sort must be one of 'price', 'name'"),
    ],
)
def test_bad_filters_are_errors_not_ignored(
    call: Any, error: type[Exception], message: str
) -> None:
    """Unknown names and wrong value types raise with the valid choices named."""
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"resolution": "1024X1024"}, lambda m: "1024x1024" in (m.resolutions or ())),
        ({"capability": "nsfw"}, lambda m: m.capabilities is not None and m.capabilities.nsfw),
        ({"max_price": "0.02"}, lambda m: (m.price() or 99) <= Decimal("0.02")),
        ({"input_modality": "image"}, lambda m: m.accepts_image_input),
        ({"text": "FLUX"}, lambda m: "flux" in f"{m.id} {m.name} {m.description}".casefold()),
    ],
)
def test_sample_catalog_filters_agree_with_a_plain_scan(
    filters: dict[str, Any], check: Any
) -> None:
    """Over the bundled ~230-model sample, each filter equals the obvious list comprehension."""
    catalog = parse_catalog(sample_catalog())
    expected = [model.id for model in catalog if check(model)]
    assert expected
    assert _ids(catalog.filter(**filters)) == expected


SAMPLE = parse_catalog(sample_catalog())


def test_exclude_capability_drops_every_model_with_an_excluded_flag() -> None:
    """exclude_capability="nsfw" keeps exactly the models whose nsfw flag is not true."""
    kept = SAMPLE.filter(exclude_capability="nsfw")
    assert kept
    assert _ids(kept) == [m.id for m in SAMPLE if not (m.capabilities and m.capabilities.nsfw)]
    both = SAMPLE.filter(exclude_capability=["nsfw", "inpainting"])
    assert all(m.capabilities is None or not m.capabilities.inpainting for m in both)
    assert SAMPLE.filter(exclude_capability=[]) == SAMPLE.models


def test_the_cheapest_safe_for_work_model_is_one_call() -> None:
    """cheapest() takes the exclusion too: a bot's /cheapest never offers an NSFW model."""
    nsfw = SAMPLE.cheapest(resolution="1024x1024")
    assert nsfw is not None
    assert nsfw.capabilities is not None
    assert nsfw.capabilities.nsfw
    safe = SAMPLE.cheapest(resolution="1024x1024", exclude_capability="nsfw")
    assert safe is not None
    assert safe.capabilities is not None
    assert not safe.capabilities.nsfw
    inpainter = SAMPLE.cheapest(capability="inpainting", exclude_capability="nsfw")
    assert inpainter is not None
    assert inpainter.capabilities is not None
    assert (inpainter.capabilities.inpainting, inpainter.capabilities.nsfw) == (True, False)


def test_where_filters_by_any_predicate_and_is_never_remembered() -> None:
    """where= applies a user function; a query with one is asked again, not answered from memory."""
    calls: list[str] = []

    def takes_four(model: ImageModel) -> bool:
        calls.append(model.id)
        return model.max_n == 4

    first = SAMPLE.filter(where=takes_four, exclude_capability="nsfw")
    assert first
    assert all(m.max_n == 4 for m in first)
    asked = len(calls)
    assert SAMPLE.filter(where=takes_four, exclude_capability="nsfw") == first
    assert len(calls) == 2 * asked
    cheapest = SAMPLE.cheapest(where=takes_four)
    assert cheapest is not None
    assert cheapest.max_n == 4


async def test_the_filters_are_keyword_parameters_everywhere() -> None:
    """filter(), cheapest() and find() take exactly the FILTERS table's names (and sort)."""

    def keywords(function: Any) -> list[str]:
        parameters = inspect.signature(function).parameters.values()
        return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]

    names = list(Catalog.FILTERS)
    assert keywords(Catalog.filter) == [*names, "sort"]
    assert keywords(ImageModelsSession.find) == [*names, "sort"]
    assert keywords(Catalog.cheapest) == names
    with pytest.raises(TypeError, match="did you mean 'capability'"):
        await ImageModelsSession().find(capabilty="inpainting")  # type: ignore[call-arg]


async def test_capability_filter_of_the_wrong_type_is_explained(make_session: MakeSession) -> None:
    """find(capability=5) says what the filter takes."""
    session = make_session()
    with pytest.raises(TypeError, match="takes a flag name such as 'inpainting'"):
        await session.find(capability=5)


def test_a_mapping_of_flags_is_refused_rather_than_read_as_its_keys() -> None:
    """capability={"nsfw": False} would find the NSFW models; it is a TypeError naming the way."""
    catalog = parse_catalog(sample_catalog())
    with pytest.raises(TypeError, match="exclude_capability='nsfw'"):
        catalog.filter(capability={"nsfw": False})
    with pytest.raises(TypeError, match="not a mapping"):
        catalog.filter(exclude_capability={"nsfw": True})
