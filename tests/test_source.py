"""CatalogSource: parsing next to the transport, large bodies read off the loop, typed failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MODEL_IDS, MakeSession
from hypothesis import given
from hypothesis import strategies as st
from strategies import BODIES, JSON_VALUES

from nanogpt_images import TransportError, dump_catalog, parse_catalog
from nanogpt_images import _source as source_module
from nanogpt_images._source import CatalogSource, _loads_in_pieces
from nanogpt_images._transport import Transport
from nanogpt_images.testing import FakeClock, FakeNanoGPT

SPACING = st.sampled_from([None, 0, 2])


@given(BODIES, SPACING)
def test_reading_in_pieces_equals_json_loads(body: dict[str, Any], indent: int | None) -> None:
    """The element-at-a-time reader gives exactly what json.loads gives, layout aside."""
    raw = json.dumps(body, indent=indent).encode()
    assert _loads_in_pieces(raw) == json.loads(raw)


@given(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=5))
def test_reading_in_pieces_equals_json_loads_for_any_object(body: dict[str, Any]) -> None:
    """Any JSON object, arrays at the top level or not, reads the same both ways."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert _loads_in_pieces(raw) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [b"", b"[1, 2]", b'{"data": [1, 2', b'{"data": [1,, 2]}', b'{"a": 1} x', b"\xff\xfe{", b"{"],
)
def test_a_body_the_reader_does_not_follow_is_left_for_parse_catalog(raw: bytes) -> None:
    """Anything but one well-formed object comes back as bytes, for the usual error message."""
    assert _loads_in_pieces(raw) == raw


def test_a_utf8_bom_reads_as_json_loads_reads_it() -> None:
    """A byte-order mark is skipped as json.loads skips it."""
    raw = b'\xef\xbb\xbf{"data": []}'
    assert _loads_in_pieces(raw) == json.loads(raw) == {"data": []}


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
    source = CatalogSource(transport, detailed=True, clock=FakeClock())
    with pytest.raises(TransportError, match="ValueError") as caught:
        await source(None)
    assert "sk-secret-123" not in str(caught.value)
    assert caught.value.__cause__ is None
