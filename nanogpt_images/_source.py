"""Where catalog copies come from: NanoGPT over HTTP, read into a prepared ``Catalog``.

A :class:`CatalogSource` is the ``fetch`` a ``CatalogCache`` is given.  It
sends the conditional GET through the transport, reads the body into a
catalog with its query tables built (off the event loop when the body is
large, so a refresh never stalls the loop), keeps the API key out of any
error that quotes the body, and turns every failure into a ``NanoGPTError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, TypeVar

from ._cache import Copy, NotModified
from ._converter import parse_catalog, parse_decoded
from ._errors import DecodeError, NanoGPTError, TransportError
from ._transport import Validators

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._clock import Clock
    from ._models import Catalog
    from ._transport import Transport

__all__ = ["OFF_LOOP_BYTES", "CatalogSource", "parse_without_key", "unmapped_failure"]

T = TypeVar("T")

log = logging.getLogger("nanogpt_images")

#: Bodies at least this large are parsed in a worker thread: about 1,000 models and 5 ms.
OFF_LOOP_BYTES = 1 << 20


class CatalogSource:
    """``fetch(previous) -> Copy | NotModified`` over a :class:`Transport`."""

    def __init__(self, transport: Transport, *, detailed: bool, clock: Clock) -> None:
        self._transport = transport
        self._detailed = detailed
        self._clock = clock

    async def __call__(self, previous: Copy | None) -> Copy | NotModified:
        """GET the catalog, conditionally when ``previous`` has validators."""
        sent = None
        if previous is not None and (previous.etag or previous.last_modified):
            sent = Validators(etag=previous.etag, last_modified=previous.last_modified)
        try:
            answer = await self._transport.fetch(detailed=self._detailed, validators=sent)
        except NanoGPTError:
            raise
        except Exception as exc:  # the transport maps what it knows; this is what it did not
            raise unmapped_failure(self._transport, self._transport.url, exc) from None
        if answer.not_modified:
            if sent is None:
                raise DecodeError(
                    "the server answered 304 Not Modified to a request without validators "
                    "(no ETag or Last-Modified was kept), so there is no copy it could renew"
                )
            return NotModified(
                etag=answer.validators.etag, last_modified=answer.validators.last_modified
            )
        body = answer.body or b""
        return Copy(
            catalog=await self.read(body),
            fetched_at=self._clock.time(),
            etag=answer.validators.etag,
            last_modified=answer.validators.last_modified,
            body=body,
        )

    async def read(self, body: bytes) -> Catalog:
        """``body`` as a catalog with its query tables built; :class:`DecodeError` if it is not."""
        if len(body) >= OFF_LOOP_BYTES:
            return await asyncio.to_thread(self._read, body)
        return self._read(body)

    def _read(self, body: bytes) -> Catalog:
        if len(body) < OFF_LOOP_BYTES:
            catalog = self._parse(body)
        else:
            data = _loads_in_pieces(body)
            try:
                catalog = parse_decoded(data) if isinstance(data, dict) else self._parse(body)
            except DecodeError:  # explained (and redacted) from the bytes, the slow way
                catalog = self._parse(body)
            _take_apart(data)
        try:
            catalog.prepare()
        except Exception:  # a bug, never the data: queries then build them, and say so
            log.exception("could not prepare the catalog's query tables")
        return catalog

    def _parse(self, body: bytes) -> Catalog:
        """parse_catalog, with the API key blanked out of what a bad body's error quotes."""
        return parse_without_key(parse_catalog, body, self._transport, "catalog")


def unmapped_failure(transport: Transport, what: str, exc: Exception) -> TransportError:
    """A :class:`TransportError` for an exception the transport did not map, quoting no key."""
    return TransportError(
        f"could not fetch {what}: {type(exc).__name__}: {transport.redact(str(exc))}"
    )


def parse_without_key(
    parse: Callable[[bytes | str], T], body: bytes, transport: Transport, what: str
) -> T:
    """``parse(body)``; when it fails, the :class:`DecodeError` of the body with the key blanked.

    The key is blanked out of the body before the error is made, not after:
    an excerpt may cut the key short, and the error's chain holds the body.
    """
    try:
        return parse(body)
    except DecodeError as exc:
        error = exc
    text = body.decode("utf-8", errors="replace")
    redacted = transport.redact(text)
    if redacted != text:  # the body quotes the key: make the error again without it
        try:
            parse(redacted)
        except DecodeError as exc:
            error = exc
        else:  # only the key made it unreadable: say so, quoting nothing
            error = DecodeError(f"the response was not a readable {what}")
    if not transport.has_key:
        raise error
    # The key may also be written in a way the body does not show (JSON escapes), so what
    # the error says is redacted as read, and its chain (which may quote it) is dropped.
    redact = transport.redact
    raise DecodeError(redact(str(error)), [redact(line) for line in error.errors]) from None


def _loads_in_pieces(body: bytes) -> Any:
    """``json.loads(body)``, decoding the elements of top-level arrays one at a time.

    ``json.loads`` holds the GIL for the whole document (a quarter of a second
    at 10,000 models), so even in a worker thread it would stall the event
    loop.  Decoded element by element, the thread gives the GIL back between
    elements.  The raw tree is also taken apart in slices once it is read, for
    the same reason.  A body this reader does not follow is returned as it is,
    for ``parse_catalog`` to decode (and explain) the usual way.
    """
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        return _Pieces(text).document()
    except (ValueError, IndexError, RecursionError):
        return body


def _take_apart(data: Any) -> None:
    """Free a decoded body's entries a slice at a time: one long free would hold the GIL."""
    entries = data.get("data") if isinstance(data, dict) else None
    if isinstance(entries, list):
        while entries:
            del entries[-64:]


class _Pieces:
    """A reader of one JSON object whose array values are decoded an element at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.at = 0

    def document(self) -> Any:
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
            result[key] = self.array() if text[self.at] == "[" else self.value()
            self.space()
            if text[self.at] == "}":
                self.at += 1
                return result
            if text[self.at] != ",":
                raise ValueError("expected ',' or '}'")
            self.at += 1
            self.space()

    def array(self) -> list[Any]:
        text = self.text
        result: list[Any] = []
        self.at += 1
        self.space()
        if text[self.at] == "]":
            self.at += 1
            return result
        while True:
            result.append(self.value())
            self.space()
            if text[self.at] == "]":
                self.at += 1
                return result
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
