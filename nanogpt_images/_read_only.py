"""A ``dict`` that refuses changes: the price maps and ``extras`` of a parsed catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ReadOnlyDict"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class ReadOnlyDict(dict[_K, _V]):
    """A ``dict`` that refuses changes: the price maps and ``extras`` of parsed objects.

    A catalog is shared by every reader of a session, so its maps must not
    change under them; ``dict(table)`` gives a copy to change.  A ``dict``
    rather than a ``types.MappingProxyType`` view because the parser leaves
    what it builds out of the garbage collector's walks, which CPython allows
    for instances of classes written in Python, not for a view (see
    ``nanogpt_images._untrack``).  It reads, compares, pickles and encodes to
    JSON as a plain ``dict`` does.  Made with :meth:`of`: calling the class
    (or its ``__init__`` again) is refused like any other change.
    """

    __slots__ = ()

    @classmethod
    def of(cls, items: Mapping[_K, _V]) -> ReadOnlyDict[_K, _V]:
        """A read-only copy of ``items``."""
        table: ReadOnlyDict[_K, _V] = dict.__new__(cls)
        dict.update(table, items)
        return table

    def _refuse(self, /, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "a parsed catalog is read-only (every reader shares it); "
            "dict(table) makes a copy to change"
        )

    def __init__(self, /, *args: object, **kwargs: object) -> None:
        self._refuse()

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return _read_only_dict, (dict(self),)

    def __copy__(self) -> Self:
        return self  # nothing in it can change

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


def _read_only_dict(items: dict[Any, Any]) -> ReadOnlyDict[Any, Any]:
    """Unpickles a :class:`ReadOnlyDict`."""
    return ReadOnlyDict.of(items)
