"""A JSON object read a piece at a time, so a worker thread reading it gives the GIL back.

``json.loads`` holds the GIL for the whole document (a quarter of a second at
10,000 models), so even in a worker thread it would stall the event loop.
:class:`Pieces` decodes the elements of top-level arrays one at a time, and
hands each element of one named array (the catalog's ``data``) to a callback
with its JSON text instead of keeping it: the whole tree of a large body then
never exists at once.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Pieces"]


class Pieces:
    """A reader of one JSON object whose top-level arrays are decoded an element at a time.

    Every element of the top-level array under ``key`` goes to
    ``take(value, text)`` (``text`` is its JSON as written) and is not kept:
    that array reads as the empty list.  Raises ``ValueError`` (or
    ``IndexError`` at a truncated end) for anything but one well-formed
    object, and for ``key`` written twice (``json.loads`` would keep the last
    array, after ``take`` has seen the first).
    """

    def __init__(self, text: str, key: str = "", take: Callable[[Any, str], None] | None = None):
        self.text = text
        self.decoder = json.JSONDecoder()
        self.at = 0
        self.key = key
        self.take = take

    def document(self) -> dict[str, Any]:
        """The object, with the array under ``key`` handed to ``take``."""
        self.space()
        if self.text[self.at] != "{":
            raise ValueError("not an object")
        value = self.object()
        self.space()
        if self.at != len(self.text):
            raise ValueError("extra data")
        return value

    def object(self) -> dict[str, Any]:
        text = self.text
        result: dict[str, Any] = {}
        self.at += 1
        self.space()
        if text[self.at] == "}":
            self.at += 1
            return result
        while True:
            if text[self.at] != '"':
                raise ValueError("expected a key")
            key, self.at = scanstring(text, self.at + 1)
            self.space()
            if text[self.at] != ":":
                raise ValueError("expected ':'")
            self.at += 1
            self.space()
            if key == self.key and key in result:
                raise ValueError(f"{key!r} written twice")
            if text[self.at] != "[":
                result[key] = self.value()
            else:
                items: list[Any] = []
                result[key] = items
                self.array(None if key == self.key and self.take is not None else items)
            self.space()
            if text[self.at] == "}":
                self.at += 1
                return result
            if text[self.at] != ",":
                raise ValueError("expected ',' or '}'")
            self.at += 1
            self.space()

    def array(self, items: list[Any] | None) -> None:
        """Append each element to ``items``; ``None``: hand each to ``take`` with its text."""
        text = self.text
        self.at += 1
        self.space()
        if text[self.at] == "]":
            self.at += 1
            return
        while True:
            start = self.at
            value = self.value()
            if items is not None:
                items.append(value)
            else:
                self.take(value, text[start : self.at])  # type: ignore[misc]
            self.space()
            if text[self.at] == "]":
                self.at += 1
                return
            if text[self.at] != ",":
                raise ValueError("expected ',' or ']'")
            self.at += 1
            self.space()

    def value(self) -> Any:
        value, self.at = self.decoder.raw_decode(self.text, self.at)
        return value

    def space(self) -> None:
        self.at = _SPACE.match(self.text, self.at).end()  # type: ignore[union-attr]


_SPACE = re.compile(r"[ \t\n\r]*")
