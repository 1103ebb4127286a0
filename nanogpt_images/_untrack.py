"""``PyObject_GC_UnTrack``: what the session reads, left out of the garbage collector's walks.

A full collection walks every tracked object and each object it points
to, holding the GIL (so stopping the event loop) all along: a
10,000-model catalog read as plain objects is about 70,000 of them (40
to 100 ms a walk on a 2-CPU VM), and reading one sets such walks off by
itself (a quarter as many new objects as the process holds sets off a
full one).  What the reader makes is frozen, its dicts refuse writes,
and it is built from an acyclic JSON tree, so it cannot be part of a
reference cycle: reference counting frees it, and the collector has
nothing to find in it (the same holds for the changes told to
subscribers, one per changed model).  CPython
already untracks tuples and dicts of plain values for this reason; this
is its public C API doing it for ours.  Only for objects whose
deallocator accepts an untracked object: instances of classes written
in Python, tuples, dicts; never a ``types.MappingProxyType``, whose
deallocator assumes it is tracked (hence ``ReadOnlyDict``).
Elsewhere than CPython it does nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["keep_tracked", "untrack"]


def _untracker() -> Callable[[object], None]:
    """The C function, or a stand-in that does nothing where there is none."""
    if sys.implementation.name != "cpython":  # pragma: no cover - CI runs CPython
        return keep_tracked
    try:
        import ctypes

        untrack = ctypes.pythonapi.PyObject_GC_UnTrack
    except (ImportError, AttributeError):  # pragma: no cover - a CPython built without ctypes
        return keep_tracked
    untrack.argtypes = (ctypes.py_object,)
    untrack.restype = None
    return untrack


def keep_tracked(obj: object) -> None:
    """Where ``untrack`` is not wanted (or not possible): leave ``obj`` as it is."""


untrack = _untracker()
