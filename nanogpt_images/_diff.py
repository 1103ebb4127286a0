"""What changed between two catalogs: models added, removed and changed."""

from __future__ import annotations

import attrs

from ._models import Catalog, ImageModel
from ._pace import pace

__all__ = ["CatalogChange", "ModelChange", "diff_catalogs"]


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
    added = tuple(model for model in after if model.id not in before)
    removed = tuple(model for model in before if model.id not in after)
    changed = []
    for model in after:
        pace()
        old = before.get(model.id)
        if old is not None and old is not model and old != model:
            changed.append(ModelChange(before=old, after=model, fields=changed_fields(old, model)))
    return CatalogChange(added=added, removed=removed, changed=tuple(changed))


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
