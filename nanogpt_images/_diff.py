"""What changed between two catalogs: models added, removed and changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._models import Catalog, ImageModel
from ._pace import pace
from ._untrack import keep_tracked, untrack

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CatalogChange", "ModelChange", "diff_catalogs", "diff_untracked"]


@attrs.frozen
class ModelChange:
    """One model present in both catalogs whose data differs.

    ``fields`` names the top-level fields that differ, and the ``extras``
    keys that differ (so a new server-side key shows up by its own name).
    """

    before: ImageModel
    after: ImageModel
    fields: tuple[str, ...]

    @property
    def id(self) -> str:
        """The id of the changed model."""
        return self.after.id


@attrs.frozen
class CatalogChange:
    """The difference a refresh brought, in catalog order."""

    added: tuple[ImageModel, ...] = ()
    removed: tuple[ImageModel, ...] = ()
    changed: tuple[ModelChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def __str__(self) -> str:
        parts = [f"+{model.id}" for model in self.added]
        parts += [f"-{model.id}" for model in self.removed]
        parts += [f"~{change.id} ({', '.join(change.fields)})" for change in self.changed]
        return "; ".join(parts) or "no change"


def diff_catalogs(before: Catalog, after: Catalog) -> CatalogChange:
    """The models ``after`` added, removed and changed relative to ``before``."""
    return _diff(before, after, keep_tracked)


def diff_untracked(before: Catalog, after: Catalog) -> CatalogChange:
    """:func:`diff_catalogs`, its objects left out of the collector's walks (see ``_untrack``).

    For the session's subscribers: a refresh in which every one of 10,000
    models changed makes 20,000 such objects, which would set off a full
    collection (a stop of every thread as long as the application's heap)
    if they were tracked even while being made.
    """
    return _diff(before, after, untrack)


def _diff(before: Catalog, after: Catalog, made: Callable[[object], None]) -> CatalogChange:
    added = tuple(model for model in after if model.id not in before)
    removed = tuple(model for model in before if model.id not in after)
    changed = []
    for model in after:
        pace()
        old = before.get(model.id)
        if old is not None and old is not model and old != model:
            fields = changed_fields(old, model)
            made(fields)
            change = ModelChange(before=old, after=model, fields=fields)
            made(change)
            changed.append(change)
    parts = (added, removed, tuple(changed))
    for part in parts:
        made(part)
    result = CatalogChange(*parts)
    made(result)
    return result


def changed_fields(before: ImageModel, after: ImageModel) -> tuple[str, ...]:
    """Names of the fields (and ``extras`` keys) whose values differ."""
    names = {
        field.name
        for field in attrs.fields(ImageModel)
        if field.name != "extras" and getattr(before, field.name) != getattr(after, field.name)
    }
    for key in before.extras.keys() | after.extras.keys():
        if before.extras.get(key, _MISSING) != after.extras.get(key, _MISSING):
            names.add(key)
    return tuple(sorted(names))


_MISSING = object()
