"""CatalogChange: what a refresh added, removed and changed, field by field."""

from __future__ import annotations

from typing import Any

from nanogpt_images import CatalogChange, parse_catalog
from nanogpt_images._diff import diff_catalogs
from nanogpt_images.testing import catalog_payload, model_payload


def catalog(*models: dict[str, Any]) -> Any:
    return parse_catalog(catalog_payload(list(models)))


def test_identical_catalogs_differ_in_nothing() -> None:
    """Two equal catalogs give an empty, falsy change that reads "no change"."""
    before = catalog(model_payload("a"), model_payload("b"))
    after = catalog(model_payload("a"), model_payload("b"))
    change = diff_catalogs(before, after)
    assert not change
    assert change == CatalogChange()
    assert str(change) == "no change"


def test_added_and_removed_models_in_catalog_order() -> None:
    """New ids are added, vanished ids removed, each listed in its catalog's order."""
    before = catalog(model_payload("a"), model_payload("b"), model_payload("c"))
    after = catalog(model_payload("d"), model_payload("b"), model_payload("e"))
    change = diff_catalogs(before, after)
    assert [m.id for m in change.added] == ["d", "e"]
    assert [m.id for m in change.removed] == ["a", "c"]
    assert change.changed == ()
    assert str(change) == "+d; +e; -a; -c"


def test_changed_model_names_the_fields_that_differ() -> None:
    """A changed model lists its differing fields, nested objects by their top-level name."""
    before = catalog(model_payload("a"))
    pricing = {"per_image": {"1024x1024": 0.05}, "currency": "USD"}
    after = catalog(model_payload("a", name="Renamed", pricing=pricing))
    (change,) = diff_catalogs(before, after).changed
    assert change.id == "a"
    assert change.fields == ("name", "pricing")
    assert (change.before.name, change.after.name) == ("A", "Renamed")
    assert str(diff_catalogs(before, after)) == "~a (name, pricing)"


def test_unknown_keys_show_up_by_their_own_name() -> None:
    """A key the library does not know (kept in extras) appears, disappears or changes by name."""
    before = catalog(model_payload("a", beta=1, legacy=True))
    after = catalog(model_payload("a", beta=2, brand_new=["x"]))
    (change,) = diff_catalogs(before, after).changed
    assert change.fields == ("beta", "brand_new", "legacy")


def test_a_null_value_differs_from_an_absent_one() -> None:
    """An unknown key that becomes null is a change, not silently equal to missing."""
    before = catalog(model_payload("a"))
    after = catalog(model_payload("a", mystery=None))
    (change,) = diff_catalogs(before, after).changed
    assert change.fields == ("mystery",)
