"""Where catalog copies come from: NanoGPT over HTTP, read into a prepared ``Catalog``.

A :class:`CatalogSource` is the ``fetch`` a ``CatalogCache`` is given.  It
sends the conditional GET through the transport, reads the body into a
catalog with its query tables built (off the event loop when the body is
large, so a refresh never stalls the loop), keeps the API key out of any
error that quotes the body, and turns every failure into a ``NanoGPTError``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, TypeVar

from ._cache import Copy, NotModified
from ._converter import parse_catalog, read_catalog
from ._errors import DecodeError, NanoGPTError, TransportError
from ._pace import Workers, WorkStoppedError
from ._transport import Validators

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._clock import Clock
    from ._models import Catalog, ImageModel
    from ._transport import Transport

__all__ = ["OFF_LOOP_BYTES", "CatalogSource", "parse_without_key", "unmapped_failure"]

T = TypeVar("T")

log = logging.getLogger("nanogpt_images")

#: Bodies at least this large are read in a worker thread (about 60 models, a millisecond
#: of work): the real catalog's 217 KiB read there stalls the loop 2 to 4 ms, on it 7 to 12.
OFF_LOOP_BYTES = 64 << 10


class CatalogSource:
    """``fetch(previous) -> Copy | NotModified`` over a :class:`Transport`."""

    def __init__(
        self, transport: Transport, *, detailed: bool, clock: Clock, workers: Workers
    ) -> None:
        self._transport = transport
        self._detailed = detailed
        self._clock = clock
        self._workers = workers
        # The last catalog read's models by the digest of their entries, for the next read.
        self._known: dict[bytes, ImageModel] = {}

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
            return await self._workers.run(self._read, body)
        return self._read(body)

    def _read(self, body: bytes) -> Catalog:
        try:
            text = body.decode(json.detect_encoding(body), "surrogatepass")
            catalog, self._known = read_catalog(text, self._known)
        except (ValueError, DecodeError):  # explained (and redacted) from the bytes, the slow way
            self._known = {}  # kept, they would outlive the catalog they came from
            catalog = self._parse(body)
        try:
            catalog.prepare()
        except WorkStoppedError:
            raise
        except Exception:  # a bug, never the data: queries then build them, and say so
            log.exception("could not prepare the catalog's query tables")
        return catalog

    def forget(self) -> None:
        """Let go of the last read's models (the session is closing)."""
        self._known = {}

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
