"""A griffe extension: ``self.status = status`` in ``__init__`` is shown as ``status: int``.

Griffe sees such an instance attribute with no annotation and the value
``status``, and the reference would print ``status = status``.  This takes
the annotation of the ``__init__`` parameter of that name and drops the
value, which says nothing.
"""

from __future__ import annotations

from typing import Any

import griffe


class InitAttributes(griffe.Extension):
    """Annotate the attributes that ``__init__`` copies from its parameters."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            init = cls.members.get("__init__")
            if not isinstance(init, griffe.Function):
                continue
            for attribute in cls.members.values():
                if not isinstance(attribute, griffe.Attribute):
                    continue
                name = str(attribute.value) if attribute.value is not None else None
                if name is None or name not in init.parameters:
                    continue
                if attribute.annotation is None:
                    attribute.annotation = init.parameters[name].annotation
                attribute.value = None


def _classes(obj: griffe.Object) -> Any:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            yield member
        if isinstance(member, griffe.Module | griffe.Class):
            yield from _classes(member)
