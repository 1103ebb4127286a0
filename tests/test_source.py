"""CatalogSource: parsing next to the transport, large bodies read off the loop, typed failures."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from conftest import MODEL_IDS, MakeSession
from hypothesis import given
from hypothesis import strategies as st
from strategies import BODIES, ENTRIES, ENTRIES_MAPS, JSON_VALUES, SHAPED

from nanogpt_images import (
    Catalog,
    DecodeError,
    ImageModel,
    TransportError,
    dump_catalog,
    parse_catalog,
)
from nanogpt_images import _source as source_module
from nanogpt_images._converter import read_catalog
from nanogpt_images._pace import Workers
from nanogpt_images._pieces import Pieces
from nanogpt_images._source import CatalogSource
from nanogpt_images._transport import Transport
from nanogpt_images.testing import FakeClock, FakeNanoGPT, sample_catalog

SPACING = st.sampled_from([None, 0, 2])
IDS = st.sampled_from(["flux-pro", "flux-dev", "gpt-image-1", "recraft-v3"])
MODEL_ENTRIES = st.builds(lambda entry, model_id: {**entry, "id": model_id}, ENTRIES_MAPS, IDS)
CATALOG_BODIES = st.fixed_dictionaries(
    {"data": st.lists(MODEL_ENTRIES | ENTRIES, max_size=6)},
    optional={"object": SHAPED, "meta": SHAPED, "extra": SHAPED},
)


def read(
    raw: str, known: dict[bytes, ImageModel] | None = None
) -> tuple[Catalog, dict[bytes, ImageModel]]:
    return read_catalog(raw, known or {})


@given(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=5), SPACING)
def test_reading_in_pieces_equals_json_loads_for_any_object(
    body: dict[str, Any], indent: int | None
) -> None:
    """Any JSON object, arrays at the top level or not, reads as json.loads reads it."""
    raw = json.dumps(body, indent=indent)
    assert Pieces(raw).document() == json.loads(raw)


@given(BODIES | CATALOG_BODIES, SPACING)
def test_reading_a_body_in_pieces_gives_the_catalog_parse_catalog_gives(
    body: dict[str, Any], indent: int | None
) -> None:
    """An entry at a time or all at once, the catalog is the same, rejected entries included."""
    raw = json.dumps(body, indent=indent)
    try:
        expected = parse_catalog(raw)
    except DecodeError:
        with pytest.raises(DecodeError):
            read(raw)
        return
    catalog, _ = read(raw)
    assert catalog == expected
    assert dump_catalog(catalog) == body


@given(CATALOG_BODIES, CATALOG_BODIES)
def test_a_second_read_reuses_the_models_of_unchanged_entries(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    """An entry sent again as it was is the very model read before; every other one is read."""
    before, known = read(json.dumps(first))
    after, _ = read(json.dumps(second), known)
    assert after == parse_catalog(json.dumps(second))
    old = {
        json.dumps(entry): model
        for entry, model in zip(_entries(first), before.models, strict=True)
    }
    for entry, model in zip(_entries(second), after.models, strict=True):
        if json.dumps(entry) in old:
            assert model is old[json.dumps(entry)]


def _entries(body: dict[str, Any]) -> list[Any]:
    """The entries of ``body`` that become models, in order."""
    seen: set[str] = set()
    kept = []
    for entry in body["data"]:
        model_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(model_id, str) and model_id and model_id not in seen:
            seen.add(model_id)
            kept.append(entry)
    return kept


def test_only_the_changed_entry_is_read_again() -> None:
    """Of the real catalog read twice with one price changed, one model is new, the rest reused."""
    body = sample_catalog()
    first, known = read(json.dumps(body))
    body["data"][3]["pricing"] = {"per_image": {"1024x1024": 0.5}}
    second, _ = read(json.dumps(body), known)
    fresh = [index for index, model in enumerate(second.models) if model is not first.models[index]]
    assert fresh == [3]
    assert second.models[3].price("1024x1024") == Decimal("0.5")


def test_an_entry_written_differently_is_read_again_into_an_equal_model() -> None:
    """The same entry with other spacing is a new object, equal to the one read before."""
    entry = {"id": "flux-pro", "pricing": {"per_image": 0.05}}
    first, known = read(json.dumps({"data": [entry]}))
    second, _ = read(json.dumps({"data": [entry]}, indent=2), known)
    assert second.models[0] == first.models[0]
    assert second.models[0] is not first.models[0]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[1, 2]",
        '{"data": [1, 2',
        '{"data": [1,, 2]}',
        '{"a": 1} x',
        "{",
        '{"data": [{"id": "a"}], "data": [{"id": "b"}]}',
    ],
)
def test_a_body_the_reader_does_not_follow_is_refused(raw: str) -> None:
    """Anything but one well-formed object (or ``data`` twice) is a DecodeError: the slow path's."""
    with pytest.raises(DecodeError):
        read(raw)


async def test_a_body_the_reader_does_not_follow_reads_as_parse_catalog_reads_it(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """``data`` written twice: the session keeps the last, as json.loads and parse_catalog do."""
    server.respond_next(200, b'{"data": [{"id": "a"}], "data": [{"id": "b"}]}')
    catalog = await make_session().catalog()
    assert catalog.ids == ("b",)


async def test_a_large_body_is_read_off_the_loop_into_the_same_catalog(
    make_session: MakeSession, server: FakeNanoGPT, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the size threshold the catalog is read in a worker thread, and reads the same."""
    monkeypatch.setattr(source_module, "OFF_LOOP_BYTES", 0)
    catalog = await make_session().catalog()
    assert catalog.ids == MODEL_IDS
    assert dump_catalog(catalog) == dump_catalog(parse_catalog(server.catalog))


class ExplodingTransport(Transport):
    """A transport whose fetch fails with something that is not a NanoGPTError."""

    async def fetch(self, *, detailed: bool = True, validators: Any = None) -> Any:
        raise ValueError("Invalid URL http://[::1 (key sk-secret-123)")


async def test_any_failure_of_the_transport_is_typed_and_redacted() -> None:
    """A stray ValueError becomes a TransportError naming it, with the key blanked out."""
    transport = ExplodingTransport(api_key="sk-secret-123", base_url="http://127.0.0.1:9")
    source = CatalogSource(transport, detailed=True, clock=FakeClock(), workers=Workers())
    with pytest.raises(TransportError, match="ValueError") as caught:
        await source(None)
    assert "sk-secret-123" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_a_refresh_keeps_the_models_that_did_not_change(
    make_session: MakeSession, server: FakeNanoGPT
) -> None:
    """After a refresh, an unchanged model is the same object; the renamed one is new."""
    session = make_session()
    before = await session.catalog()
    server.update_model("model-2", name="Renamed")
    after = await session.refresh()
    assert after is not before
    kept = [model_id for model_id in MODEL_IDS if after[model_id] is before[model_id]]
    assert kept == [model_id for model_id in MODEL_IDS if model_id != "model-2"]
    assert after["model-2"].name == "Renamed"
