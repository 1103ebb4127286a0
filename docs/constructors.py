"""A griffe extension: what static analysis cannot see of our constructors.

* attrs classes have no ``__init__`` in the source: attrs writes it at import
  time.  This builds the signature attrs generates from the annotated
  fields (skipping ``init=False`` ones), so the reference shows
  ``Catalog(models=(), meta=None, ...)`` as it does for a dataclass.
* ``self.status = status`` in an ``__init__`` would print as
  ``status = status``; the attribute takes the parameter's annotation
  instead, and the value, which says nothing, is dropped.
"""

from __future__ import annotations

from typing import Any

import griffe

ATTRS_CLASS_DECORATORS = frozenset(
    f"{module}.{name}"
    for module in ("attrs", "attr")
    for name in ("define", "frozen", "mutable", "s", "attrs", "dataclass")
)
ATTRS_FIELDS = frozenset({"attrs.field", "attr.ib", "attr.attrib", "attr.field"})


class Constructors(griffe.Extension):
    """Give attrs classes their ``__init__``; type the attributes ``__init__`` copies."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            if "__init__" not in cls.members and _is_attrs(cls):
                cls.set_member("__init__", _attrs_init(cls))
            init = cls.members.get("__init__")
            if isinstance(init, griffe.Function):
                _type_copied_attributes(cls, init)


def _classes(obj: griffe.Object) -> Any:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            yield member
        if isinstance(member, griffe.Module | griffe.Class):
            yield from _classes(member)


def _is_attrs(cls: griffe.Class) -> bool:
    return any(
        isinstance(decorator.value, griffe.Expr)
        and decorator.value.canonical_path in ATTRS_CLASS_DECORATORS
        for decorator in cls.decorators
    )


def _attrs_init(cls: griffe.Class) -> griffe.Function:
    """The ``__init__`` attrs generates: one parameter per field, in order."""
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for member in cls.members.values():
        if (
            not isinstance(member, griffe.Attribute)
            or member.annotation is None
            or "instance-attribute" not in member.labels
        ):
            continue
        default: str | griffe.Expr | None = member.value
        if isinstance(default, griffe.ExprCall) and default.canonical_path in ATTRS_FIELDS:
            options = {
                argument.name: argument.value
                for argument in default.arguments
                if isinstance(argument, griffe.ExprKeyword)
            }
            if str(options.get("init")) == "False":
                continue
            default = options.get("default")
            if "factory" in options:
                default = f"{options['factory']}()"
        parameters.append(
            griffe.Parameter(
                member.name.lstrip("_"),  # as attrs names the argument of a private field
                annotation=member.annotation,
                kind=griffe.ParameterKind.positional_or_keyword,
                default=default,
                docstring=member.docstring,
            )
        )
    return griffe.Function(
        "__init__",
        lineno=0,
        endlineno=0,
        parent=cls,
        parameters=griffe.Parameters(*parameters),
        returns="None",
    )


def _type_copied_attributes(cls: griffe.Class, init: griffe.Function) -> None:
    for attribute in cls.members.values():
        if not isinstance(attribute, griffe.Attribute) or attribute.value is None:
            continue
        name = str(attribute.value)
        if name not in init.parameters or name == "self":
            continue
        if attribute.annotation is None:
            attribute.annotation = init.parameters[name].annotation
        attribute.value = None
