"""Where endpoint details come from: ``GET {base}/api/v1/images/models/{id}/endpoints``.

An :class:`EndpointSource` is the ``fetch`` an ``EndpointCache`` is given: it
sends the GET through the transport, reads the body with
:func:`parse_endpoints` (details of another id than the one asked are a
:class:`DecodeError`), turns a 404 into :class:`ModelNotFoundError` with
close ids from the catalog, and keeps the API key out of any error that
quotes the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from ._endpoints import parse_endpoints
from ._errors import DecodeError, ModelNotFoundError, NanoGPTError, NotFoundError
from ._source import parse_without_key, unmapped_failure

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._endpoints import ModelEndpoints
    from ._models import ImageModel
    from ._transport import Transport

__all__ = ["ENDPOINTS_PATH", "EndpointSource", "endpoints_path"]

ENDPOINTS_PATH = "/api/v1/images/models/{}/endpoints"
#: Characters of an id sent as they are: ``/`` (ids have slashes), ``:`` and ``@`` (AIR ids).
_RAW = "/:@!$&'()*+,;=-._~"


def endpoints_path(model: ImageModel) -> str:
    """The path of ``model``'s endpoint details: the catalog's ``endpoints`` link when it is
    a plain path on this site, else built from the id (raw path segments, as NanoGPT's
    own links are; only characters a path cannot hold are percent-encoded).

    A ``.`` or ``..`` segment never leaves the route: in an id it is sent as
    ``%2E`` (``%2E%2E``), and a link that has one is not used.
    """
    link = model.endpoints
    if (
        link is not None
        and link.startswith("/api/")
        and link.isascii()
        and link.isprintable()
        and not any(char in link for char in " ?#\\")
        and not any(_is_dots(segment) for segment in link.split("/"))
    ):
        return link
    segments = quote(model.id, safe=_RAW).split("/")
    return ENDPOINTS_PATH.format(
        "/".join(s.replace(".", "%2E") if _is_dots(s) else s for s in segments)
    )


def _is_dots(segment: str) -> bool:
    """Whether a path segment is ``.`` or ``..``, as written or percent-encoded."""
    return unquote(segment) in (".", "..")


class EndpointSource:
    """``fetch(model_id, path) -> ModelEndpoints`` over a :class:`Transport`."""

    def __init__(self, transport: Transport, suggest: Callable[[str], tuple[str, ...]]) -> None:
        self._transport = transport
        self._suggest = suggest
        #: Awaited before each retry: the cache's pacer, so retries count against the pace too.
        self.pace: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, model_id: str, path: str) -> ModelEndpoints:
        """GET the details of ``model_id`` at ``path``."""
        try:
            answer = await self._transport.get(path, before_retry=self.pace)
        except NotFoundError:
            close = tuple(s for s in self._suggest(model_id) if s != model_id)
            raise ModelNotFoundError(model_id, close) from None
        except NanoGPTError:
            raise
        except Exception as exc:  # the transport maps what it knows; this is what it did not
            raise unmapped_failure(self._transport, f"the details of {model_id!r}", exc) from None
        details = parse_without_key(
            parse_endpoints, answer.body or b"", self._transport, "endpoint details"
        )
        if details.id != model_id:  # never taken (nor kept) as the details of the id asked
            other = self._transport.redact(repr(details.id))
            raise DecodeError(
                f"asked for the endpoint details of {model_id!r}, got those of {other}",
                ["$.id: expected the id asked for"],
            )
        return details
