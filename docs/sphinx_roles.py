"""A griffe extension: the Sphinx roles of our docstrings become links in the API reference.

The docstrings are written as the rest of the code base writes them, with
``:class:`Name``` roles and ``double backticks``.  mkdocstrings renders
docstrings as Markdown, where a role would show as ``:class:`` before the
name; this rewrites each role into a cross-reference to the public name
(``[`Name`][nanogpt_images.Name]``) when the target is part of the public
API, and into plain code (``os.replace``) when it is not.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?P<kind>class|func|meth|attr|data|exc|obj|mod):`(?P<tilde>~?)(?P<target>[\w.]+)`"
)
PUBLIC_MODULES = ("nanogpt_images", "nanogpt_images.testing", "nanogpt_images.pytest_plugin")


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        public = _public_paths(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = ROLE.sub(
                    lambda match, obj=obj: _render(match, obj, pkg, public), obj.docstring.value
                )


def _public_paths(pkg: griffe.Module) -> dict[str, str]:
    """Where each exported object is defined -> the public path it is documented under."""
    paths: dict[str, str] = {}
    for module_path in PUBLIC_MODULES:
        inner = module_path.removeprefix(pkg.path).lstrip(".")
        module = pkg[inner] if inner else pkg
        for name in module.exports or ():
            member = module.members.get(str(name))
            if member is not None:
                target = member.target_path if member.is_alias else member.path
                paths[target] = paths[f"{module_path}.{name}"] = f"{module_path}.{name}"
    return paths


def _walk(obj: griffe.Object | griffe.Alias) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _render(
    match: re.Match[str], obj: griffe.Object, pkg: griffe.Module, public: dict[str, str]
) -> str:
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    if match["kind"] in ("func", "meth"):
        shown += "()"
    path = _public(_resolve(target, obj, pkg), public)
    return f"[`{shown}`][{path}]" if path else f"`{shown}`"


def _resolve(target: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
    """The full path of ``target`` as seen from ``obj``'s scope, else from the package's."""
    head, _, rest = target.partition(".")
    if head == pkg.name:
        return target
    scope: griffe.Object | None = obj
    while scope is not None:
        if head in scope.members:
            found = scope.members[head]
            base = found.target_path if found.is_alias else found.path
            return f"{base}.{rest}" if rest else base
        scope = scope.parent
    try:
        return obj.resolve(target)
    except griffe.NameResolutionError:
        return None


def _public(path: str | None, public: dict[str, str]) -> str | None:
    """``path`` under its public name, or ``None`` when it is not part of the public API."""
    for defined, documented in public.items():
        if path is not None and (path == defined or path.startswith(defined + ".")):
            rest = path[len(defined) :]
            return None if "._" in rest else documented + rest  # private members are not shown
    return None
