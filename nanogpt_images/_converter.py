"""Reading and writing the catalog: one cattrs converter, tolerant and lossless.

:func:`make_converter` builds the converter; hooks are registered here and
nowhere else.  Every class with an ``extras`` field is structured by a hook
that the factory generates from its attrs fields: for each key of the raw
object it either fills the typed field, or (for a key the class does not
know, or a value that does not fit the field exactly) keeps the raw value in
``extras``.  The unstructure hook writes the typed fields and then ``extras``
over them, so ``dump_catalog(parse_catalog(x)) == x``.

Reading never fails on a value: a field that does not fit reads ``None`` (or
the typed shape that fits, e.g. the ``values`` of an enum descriptor where a
list was expected).  Only the envelope can fail, with :class:`DecodeError`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import linecache
import logging
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeAlias, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from ._errors import DecodeError
from ._models import Catalog, CatalogMeta, ImageModel, Pricing, RejectedEntry
from ._pace import pace
from ._pieces import Pieces
from ._read_only import ReadOnlyDict
from ._untrack import untrack as _untrack

__all__ = [
    "CONVERTER",
    "MAX_DEPTH",
    "copy_json",
    "dump_catalog",
    "kind",
    "loads",
    "make_converter",
    "parse_catalog",
    "read_catalog",
    "too_deep",
]

#: A reader turns one raw JSON value into ``(typed value, exact)``; ``exact``
#: is true when unstructuring the typed value gives back the raw value.
Reader: TypeAlias = Callable[[Any], tuple[Any, bool]]
ReaderFactory: TypeAlias = Callable[[cattrs.Converter], Reader]

_K = TypeVar("_K")
_V = TypeVar("_V")

_EXCERPT = 200
log = logging.getLogger("nanogpt_images")

#: How many levels a value the catalog keeps as sent (in an ``extras``, a rejected entry)
#: or reads as a nested LoRA price may nest; the real catalog's nest 3 at most.  A body
#: with a deeper one is refused with :class:`DecodeError`: kept, it could exhaust Python's
#: recursion limit later, when the catalog is dumped, pickled or compared.
MAX_DEPTH = 100


def parse_catalog(data: bytes | str | Mapping[str, Any]) -> Catalog:
    """Read a ``GET /api/v1/image-models`` body into a :class:`Catalog`.

    Entries that cannot be models (not an object, no string ``id``, a repeated
    ``id``) go to ``Catalog.rejected`` with their position and the reason; the
    rest load.  So does an entry holding bytes that are not UTF-8: it is
    rejected alone, its raw value reading them as U+FFFD and the reason naming
    them (outside ``data``, such bytes read as U+FFFD, with a warning logged).
    Raises :class:`DecodeError` when the body is not JSON, not an object, has
    no ``data`` list, or a value it would keep nests deeper than
    :data:`MAX_DEPTH` levels.  A ``Mapping`` is copied, never kept.
    """
    if not isinstance(data, bytes | bytearray | memoryview | str | Mapping):
        raise TypeError(f"parse_catalog() takes bytes, str or a Mapping, not {type(data).__name__}")
    with _collector_paused():
        not_utf8: dict[int, str] = {}
        try:
            if isinstance(data, Mapping):
                tree = _copy_json(data)
            else:
                tree, not_utf8 = _loads(data)
        except RecursionError as exc:  # far deeper than MAX_DEPTH
            raise _too_deep() from exc
        catalog = _structure_catalog(_CONVERTER, tree, not_utf8)
        del tree  # before the collector resumes: its first pass need not walk the tree
    return catalog


def read_catalog(
    text: str, known: Mapping[bytes, ImageModel]
) -> tuple[Catalog, dict[bytes, ImageModel]]:
    """:func:`parse_catalog` of a body's text, an entry at a time, reusing the ``known`` models.

    Each entry of ``data`` is decoded, read and let go before the next, so the
    whole JSON tree never exists at once, and a worker thread running this
    gives the GIL back between entries.  ``known`` holds models by the digest
    of the JSON text each was read from (what the last call returned): an
    entry sent again as it was is that very model, not read again.  A refresh
    mostly brings back what it brought last time, so it reads only what
    changed.  Returns the catalog and its models by digest, for the next call.
    Raises :class:`DecodeError` for a body it cannot read; only
    :func:`parse_catalog` explains why.
    """
    # Unlike parse_catalog, this does not pause the collector: it runs in a worker thread
    # while the application runs, and what it keeps is untracked, so the young collections
    # it sets off only walk the entry being read.
    made: dict[bytes, ImageModel] = {}
    entries = _Entries(_UNTRACKED.get_structure_hook(ImageModel), known=known, made=made)
    try:
        tree = Pieces(text, "data", entries.add).document()
    except (ValueError, IndexError, RecursionError) as exc:
        raise DecodeError(f"not a catalog this reader follows ({exc})") from exc
    catalog = _structure_envelope(_UNTRACKED, tree, entries)
    # The containers of every model too: a full collection would otherwise still touch each
    # model (a cache miss apiece) through them.  Built once here, never changed after.
    for every_model in (catalog.models, catalog._index, made):
        _untrack(every_model)
    return catalog, made


def _digest(text: str) -> bytes:
    """A 128-bit BLAKE2b digest of an entry's JSON text: equal digests, equal entries."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def dump_catalog(catalog: Catalog) -> dict[str, Any]:
    """A plain, JSON-ready ``dict`` of ``catalog``, equal to the body it was parsed from."""
    return _CONVERTER.unstructure(catalog)  # type: ignore[no-any-return]


def make_converter(*, untracked: bool = False) -> cattrs.Converter:
    """A converter that reads and writes every catalog class, extras included.

    ``untracked``: what it reads is left out of the garbage collector's walks
    (see :mod:`nanogpt_images._untrack`), for catalogs a session keeps.
    """
    converter = cattrs.Converter()
    converter.register_structure_hook_factory(
        _has_extras, lambda cls: _make_structure(converter, cls, untracked=untracked)
    )
    converter.register_unstructure_hook_factory(
        _has_extras, lambda cls: _make_unstructure(converter, cls)
    )
    converter.register_structure_hook(Catalog, lambda tree, _: _structure_catalog(converter, tree))
    converter.register_unstructure_hook(
        Catalog, lambda catalog: _unstructure_catalog(converter, catalog)
    )
    return converter


# -- the envelope -----------------------------------------------------------


class _CollectorPause:
    """Pauses the cyclic garbage collector while bodies are read, from any number of threads.

    Reading builds thousands of containers at once, none of them in a cycle;
    each burst would otherwise set off collections that walk the whole young
    tree again and again (about a third of the parse time).  The collector is
    process-wide, so pauses are counted: it is resumed when the last reader is
    done, and only if it was running before the first one began.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        entered = False
        try:
            with self._lock:
                if self._readers == 0:
                    self._resume = gc.isenabled()
                    gc.disable()
                self._readers += 1
                entered = True
            yield
        finally:
            if entered:
                with self._lock:
                    self._readers -= 1
                    if self._readers == 0 and self._resume:
                        gc.enable()


_collector_paused = _CollectorPause()


#: The ``extras`` of every parsed object that has none (read-only, so one will do).
_NO_EXTRAS: ReadOnlyDict[str, Any] = ReadOnlyDict.of({})


def _read_only_untracked(table: Mapping[_K, _V]) -> ReadOnlyDict[_K, _V]:
    """A read-only copy of a price map, untracked like the rest of a session's catalog."""
    copy = ReadOnlyDict.of(table)
    _untrack(copy)
    return copy


def _loads(body: bytes | bytearray | memoryview | str) -> tuple[Any, dict[int, str]]:
    """The JSON tree of ``body``, and the entries of ``data`` that held bytes not UTF-8.

    The usual body is read in one ``json.loads``; only one with bytes that
    are not UTF-8 takes the slow path of :func:`_without_bad_bytes`.
    """
    document = body if isinstance(body, str | bytes) else bytes(body)
    try:
        tree = _json(document)
    except DecodeError as error:
        if not isinstance(document, bytes) or not isinstance(error.__cause__, UnicodeDecodeError):
            raise
        encoding = json.detect_encoding(document)
        if encoding not in _UTF8:  # UTF-16 or -32 with a bad code unit: not worth a rescue
            raise
        tree = _json(document.decode(encoding, "surrogateescape"))  # bad byte -> lone surrogate
        return tree, _without_bad_bytes(tree)
    return tree, {}


_UTF8 = ("utf-8", "utf-8-sig")


def _json(document: str | bytes, what: str = "catalog") -> Any:
    try:
        return json.loads(document)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        text = document if isinstance(document, str) else document.decode("utf-8", "replace")
        raise DecodeError(_not_json_reason(text, exc, what), [str(exc)]) from exc


def _loads_other(body: bytes | bytearray | memoryview | str, what: str) -> Any:
    """The JSON tree of a body that is not a catalog (endpoint details), ``what`` naming it.

    Errors say what was expected (``expected a JSON {what}, ...``); a value
    nesting far deeper than :data:`MAX_DEPTH` is refused as one nesting too
    deep.  Bytes that are not UTF-8 make the body unreadable: it has no
    entries to reject alone.
    """
    document = body if isinstance(body, str | bytes) else bytes(body)
    try:
        return _json(document, what)
    except RecursionError as exc:
        raise _too_deep() from exc


def _without_bad_bytes(tree: Any) -> dict[int, str]:
    """Replace, in place, the bytes that are not UTF-8 by U+FFFD; say which entries held some.

    Returns the position of each such entry of ``data`` and the reason to
    reject it for; such bytes elsewhere in the body are only logged.
    """
    rejected: dict[int, str] = {}
    entries = tree.get("data") if type(tree) is dict else None
    if type(entries) is list:
        for index, entry in enumerate(entries):
            entries[index], found = _replaced(entry)
            if found:
                rejected[index] = (
                    f"holds bytes that are not UTF-8 ({_shown(found)}); "
                    "they read as U+FFFD in this raw entry"
                )
    if type(tree) is dict:
        for key in list(tree):
            if key == "data" and type(entries) is list:
                continue
            value, found = _replaced(tree.pop(key))
            new_key, found_in_key = _replaced(key)
            tree[new_key] = value
            if found or found_in_key:
                log.warning(
                    "the catalog's %r held bytes that are not UTF-8 (%s); they read as U+FFFD",
                    new_key,
                    _shown(found_in_key + found),
                )
    return rejected


def _replaced(value: Any) -> tuple[Any, list[bytes]]:
    """``value`` with lone surrogates (bytes that were not UTF-8) as U+FFFD, and those bytes."""
    if type(value) is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
            bad = [bytes([char - 0xDC00]) for char in map(ord, value) if 0xDC80 <= char <= 0xDCFF]
            return raw.decode("utf-8", "replace"), bad
        return value, []
    found: list[bytes] = []
    if type(value) is list:
        items = []
        for item in value:
            clean, bad = _replaced(item)
            items.append(clean)
            found += bad
        return items, found
    if type(value) is dict:
        pairs = {}
        for key, item in value.items():
            clean_key, bad_key = _replaced(key)
            clean, bad = _replaced(item)
            pairs[clean_key] = clean
            found += bad_key + bad
        return pairs, found
    return value, []


def _shown(found: list[bytes]) -> str:
    return ", ".join(f"0x{byte.hex()}" for byte in found[:3]) + (" ..." if len(found) > 3 else "")


def _check_kept(values: Iterable[Any]) -> None:
    """Raise :class:`DecodeError` when one of ``values`` nests deeper than :data:`MAX_DEPTH`.

    Called only on what is kept as sent (rare, and small): the typed fields
    nest as deep as the classes do, and their values are checked as read.
    """
    level = [value for value in values if type(value) is dict or type(value) is list]
    for _ in range(MAX_DEPTH):
        if not level:
            return
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    if level:
        raise _too_deep()


def _too_deep() -> DecodeError:
    return DecodeError(
        f"the body holds a value nesting deeper than {MAX_DEPTH} levels; "
        "NanoGPT's bodies nest a few levels at most",
        [f"a value nests deeper than {MAX_DEPTH} levels"],
    )


def _not_json_reason(text: str, exc: ValueError, what: str) -> str:
    stripped = text.lstrip()
    excerpt = " ".join(stripped[:_EXCERPT].split())
    if not stripped:
        return f"expected a JSON {what}, got an empty body"
    if stripped.startswith("<"):
        return f"expected a JSON {what}, got an HTML or XML page: {excerpt!r}"
    return f"expected a JSON {what}, got invalid JSON ({exc}): {excerpt!r}"


def _structure_catalog(
    converter: cattrs.Converter,
    tree: Any,
    not_utf8: Mapping[int, str] = types.MappingProxyType({}),
) -> Catalog:
    entries = _Entries(converter.get_structure_hook(ImageModel), not_utf8)
    return _structure_envelope(converter, tree, entries)


def _structure_envelope(converter: cattrs.Converter, tree: Any, entries: _Entries) -> Catalog:
    """The catalog of ``tree``; ``entries`` reads the ``data`` list, or has read it already."""
    if not isinstance(tree, dict):
        raise DecodeError(
            f"expected a JSON object with a 'data' list, got {_kind(tree)}",
            [f"$: expected an object, found {_kind(tree)}"],
        )
    if "data" not in tree:
        keys = ", ".join(sorted(map(str, tree))[:10]) or "none"
        raise DecodeError(
            f"expected a 'data' list of models; the object has no 'data' key (keys: {keys})",
            ["$.data: missing"],
        )
    data = tree["data"]
    if not isinstance(data, list):
        raise DecodeError(
            f"expected 'data' to be a list of models, got {_kind(data)}",
            [f"$.data: expected a list, found {_kind(data)}"],
        )
    for entry in data:
        entries.add(entry)
    meta, meta_exact = _nested_reader(converter.get_structure_hook(CatalogMeta))(tree.get("meta"))
    object_, object_exact = _read_str(tree.get("object"))
    extras = {
        key: value
        for key, value in tree.items()
        if key not in _CATALOG_KEYS
        or (key == "meta" and not meta_exact)
        or (key == "object" and not object_exact)
    }
    _check_kept([*extras.values(), *(entry.raw for entry in entries.rejected)])
    return Catalog(
        models=tuple(entries.models),
        meta=meta,
        object=object_,
        rejected=tuple(entries.rejected),
        extras=ReadOnlyDict.of(extras),
    )


_CATALOG_KEYS = frozenset({"object", "data", "meta"})


class _Entries:
    """The entries of ``data``, read one at a time into models and the entries rejected.

    Given an entry's JSON text, it looks the entry up among the ``known``
    models (by the digest of the text) before reading it, and records the
    model in ``made``.
    """

    def __init__(
        self,
        structure: Callable[[Any, Any], ImageModel],
        not_utf8: Mapping[int, str] = types.MappingProxyType({}),
        *,
        known: Mapping[bytes, ImageModel] = types.MappingProxyType({}),
        made: dict[bytes, ImageModel] | None = None,
    ) -> None:
        self.structure = structure
        self.not_utf8 = not_utf8
        self.known = known
        self.made = made
        self.models: list[ImageModel] = []
        self.rejected: list[RejectedEntry] = []
        self.seen: set[str] = set()

    def add(self, entry: Any, text: str | None = None) -> None:
        """Read the next entry; ``text`` is its JSON as sent, when known."""
        pace()
        index = len(self.models) + len(self.rejected)
        if self.not_utf8 and index in self.not_utf8:
            self.rejected.append(RejectedEntry(index, entry, self.not_utf8[index]))
            return
        if type(entry) is not dict:
            self.reject(index, entry, f"expected an object, found {_kind(entry)}")
            return
        model_id = entry.get("id")
        if type(model_id) is not str or not model_id:
            reason = (
                "no 'id'" if model_id is None else f"'id' is not a non-empty string: {model_id!r}"
            )
            self.reject(index, entry, reason)
        elif model_id in self.seen:
            self.reject(index, entry, f"repeats the id {model_id!r}")
        else:
            self.seen.add(model_id)
            if text is None or self.made is None:
                self.models.append(self.structure(entry, ImageModel))
                return
            key = _digest(text)
            model = self.known.get(key)
            if model is None:
                model = self.structure(entry, ImageModel)
            self.made[key] = model
            self.models.append(model)

    def reject(self, index: int, entry: Any, reason: str) -> None:
        self.rejected.append(RejectedEntry(index, entry, reason))


def _unstructure_catalog(converter: cattrs.Converter, catalog: Catalog) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if catalog.object is not None:
        out["object"] = catalog.object
    data: list[Any] = [converter.unstructure(model) for model in catalog.models]
    for entry in sorted(catalog.rejected, key=lambda entry: entry.index):
        data.insert(entry.index, entry.raw)
    out["data"] = data
    if catalog.meta is not None:
        out["meta"] = converter.unstructure(catalog.meta)
    out.update(catalog.extras)
    return out


# -- the generated hooks ----------------------------------------------------


def _has_extras(cls: Any) -> bool:
    return attrs.has(cls) and cls is not Catalog and "extras" in attrs.fields_dict(cls)


def _make_structure(
    converter: cattrs.Converter, cls: type[Any], *, untracked: bool
) -> Callable[[Any, Any], Any]:
    """Generate a structure function for ``cls``, as cattrs' own code generation does.

    Each known field gets a straight-line type check that takes the raw value
    as it is when it fits (the common case), and falls back to the field's
    reader otherwise; the generated code avoids a call per value, which makes
    parsing about twice as fast as a loop over readers.  Values are stored
    straight into a :func:`_builder` instance, which then becomes a ``cls``.
    ``untracked``: the new object, its price maps and its tuples of strings
    are taken out of the collector's lists as they are made.
    """
    attrs.resolve_types(cls)
    fields = [field for field in attrs.fields(cls) if field.name != "extras"]
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_Builder": _builder(cls),
        "_NUMBER_TYPES": _NUMBER_TYPES,
        "_read_only": _read_only_untracked if untracked else ReadOnlyDict.of,
        "_untrack": _untrack,
        "_KNOWN": frozenset(field.name for field in fields),
        "_NO_EXTRAS": _NO_EXTRAS,
        "_check_kept": _check_kept,
    }
    # Missing fields are counted, so that the keys are checked against _KNOWN only
    # when some are unknown: a set lookup per key of every object is 5% of the parse.
    body = ["extras = {}", "missing = 0"]
    for index, field in enumerate(fields):
        key = repr(field.name)
        # `in` then [] is cheaper than dict.get, whether the key is there or not.
        body += [f"if {key} in raw:", f"    v = raw[{key}]"]
        body += _indent(4, _field_code(converter, cls, field, index, namespace, untracked))
        body += ["else:", f"    obj.{field.name} = None", "    missing += 1"]
    body += [
        f"if len(raw) + missing > {len(fields)}:",
        "    # Keys the class does not know come first in extras, as they were sent.",
        "    extras = {k: v for k, v in raw.items() if k not in _KNOWN} | extras",
        "if extras:",
        "    _check_kept(extras.values())",
        "obj.extras = _read_only(extras) if extras else _NO_EXTRAS",
        "obj.__class__ = _cls",
        *(["_untrack(obj)"] if untracked else []),
        "return obj",
    ]
    lines = [
        "def structure(raw, _=None):",
        "    obj = _new(_Builder)",
        "    try:",
        *_indent(8, body),
        "    except BaseException:",
        "        del obj  # a half-built object must not live on in the traceback's frame",
        "        raise",
    ]
    source = "\n".join(lines) + "\n"
    filename = f"<nanogpt_images generated structure {cls.__module__}.{cls.__qualname__}>"
    # As cattrs does (cattrs/gen/_lc.py): tracebacks and debuggers show the generated lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    structure: Callable[[Any, Any], Any] = namespace["structure"]
    return structure


def _field_code(
    converter: cattrs.Converter,
    cls: type[Any],
    field: attrs.Attribute[Any],
    index: int,
    namespace: dict[str, Any],
    untracked: bool,
) -> list[str]:
    """The generated lines that store the raw value ``v`` of ``field`` into ``obj``."""
    slot = f"obj.{field.name}"
    override = _OVERRIDES.get((cls, field.name))
    namespace[f"_read{index}"] = _reader_for(converter, field.type, override)
    fallback = [
        f"{slot}, exact = _read{index}(v)",
        "if not exact:",
        f"    extras[{field.name!r}] = v",
    ]
    target = _target(field.type)
    if attrs.has(target):
        # An object goes straight to the class's hook; other shapes to the reader.
        # (The one override of such a field, ImageModel.pricing, reads an object
        # through the same hook; it only adds readings of other shapes.)
        hook = f"_hook{index}"
        namespace[hook] = _hook_on_first_use(converter, target, namespace, hook)
        check, value = "type(v) is dict", f"{hook}(v, None)"
        if target is cls:  # a class nesting itself (Pricing.lora): bound the depth first
            check = "type(v) is dict and _check_kept((v,)) is None"
    elif target == tuple[str, ...] and override is None:
        # str.join is the cheapest check that every item is a string (it raises otherwise).
        return [
            "if type(v) is list:",
            f"    {slot} = strings = tuple(v)",
            "    try:",
            "        ''.join(strings)",
            *(
                ["        _untrack(strings)  # only strings: as the collector's walk would"]
                * untracked
            ),
            "    except TypeError:",
            *_indent(8, fallback),
            "else:",
            *_indent(4, fallback),
        ]
    elif override is not None and (cls, field.name) in _OVERRIDE_FAST_PATHS:
        check, value = _OVERRIDE_FAST_PATHS[(cls, field.name)]
    elif override is None and target in _FAST_PATHS:
        check, value = _FAST_PATHS[target]
    else:
        return fallback
    return [f"if {check}:", f"    {slot} = {value}", "else:", *_indent(4, fallback)]


def _indent(width: int, lines: list[str]) -> list[str]:
    return [" " * width + line for line in lines]


def _builder(cls: type[Any]) -> type[Any]:
    """A subclass of the frozen ``cls`` whose instances take plain attribute stores.

    A frozen class refuses ``obj.field = value``, and the ways around that (its
    attrs ``__init__``, ``object.__setattr__``, the slot's ``__set__``) cost a
    call per field, an eighth of the parse time.  The subclass adds no slots, so
    a finished instance can be turned into a ``cls`` by assigning its
    ``__class__``.  The generated code sets every slot (``None`` for a missing
    key) and skips the rest of the ``__init__``, so a class whose ``__init__``
    would do more (a pre- or post-init hook, a validator, a converter, a
    default other than ``None``) is refused.
    """
    skipped = [
        field.name
        for field in attrs.fields(cls)
        if field.validator
        or field.converter
        or (field.name != "extras" and field.default not in (None, attrs.NOTHING))
    ]
    if skipped or hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        raise TypeError(
            f"{cls.__name__} has work in its __init__ (a hook, or a validator, converter or "
            f"default other than None for {', '.join(skipped) or 'no field'}) "
            "that parsing would skip"
        )
    # Both hooks are reset: CPython only uses the fast generic store (which the
    # interpreter specialises per slot) when neither is overridden.
    namespace = {
        "__slots__": (),
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
    }
    return type(f"_{cls.__name__}Builder", (cls,), namespace)


def _hook_on_first_use(
    converter: cattrs.Converter, cls: type[Any], namespace: dict[str, Any], name: str
) -> Callable[[Any, Any], Any]:
    """A stand-in for ``cls``'s hook that puts the real one in ``namespace`` on first use.

    Looking the hook up while generating would recurse forever for a class that
    nests itself (``Pricing.lora``); after the first call the generated code
    calls the real hook directly.
    """

    def structure(raw: Any, _: Any = None) -> Any:
        hook = namespace[name] = converter.get_structure_hook(cls)
        return hook(raw, None)

    return structure


#: For a field of this type, a check that the raw value fits as it is, and the typed value.
_FAST_PATHS: dict[Any, tuple[str, str]] = {
    str: ("type(v) is str", "v"),
    int: ("type(v) is int", "v"),
    float: ("type(v) is float or type(v) is int", "v"),
    bool: ("type(v) is bool", "v"),
}

#: Fast paths for fields with an override reader: the usual shape, taken as it is.
_OVERRIDE_FAST_PATHS: dict[tuple[type[Any], str], tuple[str, str]] = {
    (Pricing, "per_image"): (
        "type(v) is dict and set(map(type, v.values())) <= _NUMBER_TYPES",
        "_read_only(v)",
    ),
}


def _make_unstructure(converter: cattrs.Converter, cls: type[Any]) -> Callable[[Any], Any]:
    names = tuple(field.name for field in attrs.fields(cls) if field.name != "extras")

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        extras = obj.extras
        for name in names:
            value = getattr(obj, name)
            if value is not None and name not in extras:
                out[name] = _dump_value(converter, value)
        out.update(extras)
        return out

    return unstructure


def _dump_value(converter: cattrs.Converter, value: Any) -> Any:
    if isinstance(value, tuple):
        return [_dump_value(converter, item) for item in value]
    if isinstance(value, Mapping):
        return {key: _dump_value(converter, item) for key, item in value.items()}
    if attrs.has(type(value)):
        return converter.unstructure(value)
    return value


def _reader_for(
    converter: cattrs.Converter, annotation: Any, override: ReaderFactory | None
) -> Reader:
    if override is not None:
        return override(converter)
    target = _target(annotation)
    if target in _SCALAR_READERS:
        return _SCALAR_READERS[target]
    if attrs.has(target):
        return _lazy_nested_reader(converter, target)
    item = _tuple_item(target)
    if item is not None and attrs.has(item):
        return _tuple_reader(converter, item)
    raise TypeError(f"no reader for {annotation!r}: add one to _OVERRIDES")


def _target(annotation: Any) -> Any:
    """``X`` for ``X | None``; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _tuple_item(annotation: Any) -> Any:
    """``X`` for ``tuple[X, ...]``; ``None`` otherwise."""
    args = get_args(annotation)
    if get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _tuple_reader(converter: cattrs.Converter, cls: type[Any]) -> Reader:
    """A list of objects as a tuple of ``cls``; an item that is not an object is left out."""
    read_one = _lazy_nested_reader(converter, cls)

    def read(value: Any) -> tuple[tuple[Any, ...] | None, bool]:
        if type(value) is not list:
            return None, False
        items = [read_one(item)[0] for item in value if type(item) is dict]
        return tuple(items), len(items) == len(value)

    return read


def _lazy_nested_reader(converter: cattrs.Converter, cls: type[Any]) -> Reader:
    """A nested reader that looks its hook up on first use, so classes may nest themselves."""
    reader: Reader | None = None

    def read(value: Any) -> tuple[Any, bool]:
        nonlocal reader
        if reader is None:
            reader = _nested_reader(converter.get_structure_hook(cls))
        return reader(value)

    return read


def _nested_reader(hook: Callable[[Any, Any], Any]) -> Reader:
    def read(value: Any) -> tuple[Any, bool]:
        if type(value) is dict:
            return hook(value, None), True
        return None, False

    return read


# -- readers for one value --------------------------------------------------


def _read_str(value: Any) -> tuple[str | None, bool]:
    if type(value) is str:
        return value, True
    return None, False


def _read_int(value: Any) -> tuple[int | None, bool]:
    kind = type(value)
    if kind is int:
        return value, True
    if kind is float and value.is_integer():
        return int(value), False
    if kind is str:
        try:
            return int(value), False  # "1778544000", " 4 ", "+4"
        except ValueError:
            return None, False
    if kind is dict and value.get("type") == "range" and type(value.get("max")) is int:
        return value["max"], False
    return None, False


def _read_float(value: Any) -> tuple[float | None, bool]:
    kind = type(value)
    if kind is float or kind is int:
        return value, True
    if kind is str:
        try:
            return float(value), False  # "0.05": a price written as a string
        except ValueError:
            return None, False
    return None, False


def _read_bool(value: Any) -> tuple[bool | None, bool]:
    if type(value) is bool:
        return value, True
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true", False
    return None, False


def _read_str_tuple(value: Any) -> tuple[tuple[str, ...] | None, bool]:
    if type(value) is list:
        strings = tuple(item for item in value if type(item) is str)
        return strings, len(strings) == len(value)
    if type(value) is dict and value.get("type") == "enum":
        return _read_str_tuple(value.get("values"))[0], False
    if type(value) is str:
        return (value,), False
    return None, False


_NUMBER_TYPES = frozenset({int, float})


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _read_price_map(value: Any) -> tuple[Mapping[str, float] | None, bool]:
    if type(value) is not dict:
        return None, False
    if set(map(type, value.values())) <= _NUMBER_TYPES:
        return ReadOnlyDict.of(value), True
    return ReadOnlyDict.of({k: v for k, v in value.items() if _is_number(v)}), False


def _read_per_image(value: Any) -> tuple[Mapping[str, float] | float | None, bool]:
    if _is_number(value):
        return value, True
    return _read_price_map(value)


def _read_by_speed(value: Any) -> tuple[Mapping[str, Mapping[str, float]] | None, bool]:
    if type(value) is not dict:
        return None, False
    exact = True
    speeds: dict[str, Mapping[str, float]] = {}
    for speed, prices in value.items():
        typed, fits = _read_price_map(prices)
        exact = exact and fits
        if typed is not None:
            speeds[speed] = typed
    return ReadOnlyDict.of(speeds), exact


def _model_pricing_reader(converter: cattrs.Converter) -> Reader:
    """Pricing as an object; a bare number or a list of price lines reads as the shape that fits."""
    read_object = _nested_reader(converter.get_structure_hook(Pricing))

    def read(value: Any) -> tuple[Pricing | None, bool]:
        if type(value) is dict:
            return read_object(value)
        return _read_odd_pricing(value), False

    return read


def _read_odd_pricing(value: Any) -> Pricing | None:
    if _is_number(value):
        return Pricing(per_image=value)
    if type(value) is list:
        lines = [line for line in value if type(line) is dict]
        per_image = {
            line["resolution"]: line["cost_usd"]
            for line in lines
            if type(line.get("resolution")) is str and _is_number(line.get("cost_usd"))
        }
        # Only strings: a line's currency may be any JSON value, lists included.
        currencies = {c for line in lines if type(c := line.get("currency")) is str}
        currency = currencies.pop() if len(currencies) == 1 else None
        if per_image:
            return Pricing(currency=currency, per_image=ReadOnlyDict.of(per_image))
    return None


_SCALAR_READERS: dict[Any, Reader] = {
    str: _read_str,
    int: _read_int,
    float: _read_float,
    bool: _read_bool,
    tuple[str, ...]: _read_str_tuple,
}

#: Fields whose type is a union the generic readers do not cover.
_OVERRIDES: dict[tuple[type[Any], str], ReaderFactory] = {
    (Pricing, "per_image"): lambda _: _read_per_image,
    (Pricing, "by_rendering_speed"): lambda _: _read_by_speed,
    (ImageModel, "pricing"): _model_pricing_reader,
}


# -- helpers ----------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON-like tree, as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy_json(item) for item in value]
    return value


_CONVERTER = make_converter()
#: The converter of the catalogs a session reads and keeps (:func:`read_catalog`).
_UNTRACKED = make_converter(untracked=True)

#: The one converter, for the other bodies read the same way (endpoint details).
CONVERTER = _CONVERTER
loads = _loads_other
copy_json = _copy_json
kind = _kind
too_deep = _too_deep
