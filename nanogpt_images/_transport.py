"""HTTP for the catalog: the only module that talks aiohttp.

One :class:`Transport` sends ``GET {base_url}/api/v1/image-models`` (or another
catalog route, or any path of the site: :meth:`Transport.get`) with auth,
timeouts, retries with jittered backoff, conditional-GET validators, a body
size cap and same-origin redirects, and turns every failure into a
:class:`~nanogpt_images.NanoGPTError`. It returns raw bytes; parsing the
catalog is the session's job.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random as _random
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import attrs

from ._clock import SYSTEM_CLOCK, Clock
from ._errors import (
    APIStatusError,
    DecodeError,
    NanoGPTError,
    RequestTimeoutError,
    SessionClosedError,
    TransportError,
)
from ._options import check_bool, check_count, check_seconds, check_str
from ._responses import parse_retry_after, status_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "CATALOG_ROUTES",
    "DEFAULT_BASE_URL",
    "FetchResult",
    "Transport",
    "Validators",
    "resolve_api_key",
    "resolve_base_url",
]

logger = logging.getLogger("nanogpt_images")

DEFAULT_BASE_URL = "https://nano-gpt.com"
CATALOG_PATH = "/api/v1/image-models"
#: The catalog routes by the name ``ImageModelsSession(route=...)`` gives them.
CATALOG_ROUTES = {"image-models": CATALOG_PATH, "images": "/api/v1/images/models"}
AUTH_HEADERS = frozenset({"authorization", "x-api-key"})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_ERROR_BODY_BYTES = 64 * 1024  # enough for any error envelope; the rest is dropped
CHUNK_SIZE = 64 * 1024


@attrs.frozen
class Validators:
    """Conditional-GET validators of the last good response (``ETag``, ``Last-Modified``)."""

    etag: str | None = None
    last_modified: str | None = None


@attrs.frozen
class FetchResult:
    """One successful answer: the raw body, or ``not_modified`` after a 304."""

    body: bytes | None
    validators: Validators
    not_modified: bool
    status: int


def resolve_api_key(api_key: str | None) -> str | None:
    """The key from the argument, else ``NANOGPT_API_KEY``; blank means anonymous."""
    check_str("api_key", api_key, none=True)
    key = api_key if api_key is not None else os.environ.get("NANOGPT_API_KEY")
    key = (key or "").strip()
    return key or None


def resolve_base_url(base_url: str | None) -> str:
    """The base URL from the argument, else ``NANOGPT_BASE_URL``, else ``https://nano-gpt.com``.

    A trailing ``/``, ``/api``, ``/api/v1`` or the whole catalog path is removed
    so the path never doubles.
    """
    check_str("base_url", base_url, none=True)
    if base_url is not None and not base_url.strip():  # an unset "$URL", say
        raise ValueError(
            f"base_url is empty; leave it out (or pass None) for {DEFAULT_BASE_URL}, "
            "or give a URL such as http://127.0.0.1:8080"
        )
    url = base_url if base_url is not None else os.environ.get("NANOGPT_BASE_URL")
    url = (url or "").strip() or DEFAULT_BASE_URL
    url = url.rstrip("/")
    for suffix in (*CATALOG_ROUTES.values(), "/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
            break
    return url


class Transport:
    """Fetches the raw catalog body; retries what is worth retrying, maps the rest to errors.

    Construction does no I/O and needs no event loop. Pass ``http_session`` to
    borrow your own :class:`aiohttp.ClientSession` (it is never closed here);
    otherwise one is created on first use and closed by :meth:`close`.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        auth_header: str = "authorization",
        timeout: float = 30.0,
        connect_timeout: float | None = None,
        max_retries: int = 2,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        allow_insecure_http: bool = False,
        max_response_bytes: int = 32 * 2**20,
        http_session: aiohttp.ClientSession | None = None,
        clock: Clock = SYSTEM_CLOCK,
        random: Callable[[], float] = _random.random,
        catalog_path: str = CATALOG_PATH,
    ) -> None:
        self._base_url = resolve_base_url(base_url)
        self._catalog_path = catalog_path
        check_str("api_key", api_key, none=True)
        check_str("auth_header", auth_header)
        self._api_key = api_key or None
        self._auth_header = auth_header.lower()
        _check_options(
            auth_header=self._auth_header,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
            numbers={  # named as ImageModelsSession names them
                "retry_backoff_base": backoff_base,
                "retry_backoff_cap": backoff_cap,
            },
            max_response_bytes=max_response_bytes,
        )
        check_seconds("max_retry_after", max_retry_after, positive=False, infinite=True)
        check_bool("allow_insecure_http", allow_insecure_http)
        if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
            raise TypeError(
                "http_session must be an aiohttp.ClientSession (or None to let the "
                f"session make its own), not {type(http_session).__name__}"
            )
        _check_base_url(self._base_url, self._api_key, allow_insecure_http)
        _check_key(self._api_key)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_response_bytes = max_response_bytes
        self._borrowed = http_session
        self._owned: aiohttp.ClientSession | None = None
        self._closed = False
        self._clock = clock
        self._random = random

    @property
    def url(self) -> str:
        """The catalog endpoint, without query or credentials."""
        return self._base_url + self._catalog_path

    def __repr__(self) -> str:
        auth = "anonymous" if self._api_key is None else self._auth_header
        return f"Transport(url={self.url!r}, auth={auth!r})"

    async def fetch(
        self, *, detailed: bool = True, validators: Validators | None = None
    ) -> FetchResult:
        """GET the catalog, retrying connection errors, timeouts and 408/429/5xx.

        ``detailed`` is sent on the route that takes it (``/api/v1/image-models``).
        Raises a :class:`~nanogpt_images.NanoGPTError` subclass on failure.
        """
        params = None
        if self._catalog_path == CATALOG_PATH:
            params = {"detailed": "true" if detailed else "false"}
        return await self.get(self._catalog_path, params=params, validators=validators)

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        validators: Validators | None = None,
    ) -> FetchResult:
        """GET ``path`` (already percent-encoded) of the site, as :meth:`fetch` GETs the catalog.

        Same auth, retries, redirects, size cap and error mapping; errors name
        the URL without its query.
        """
        session = self._session()
        sent = validators or Validators()
        where = self._base_url + path
        url = f"{where}?{urlencode(params)}" if params else where
        headers = self._headers(sent)
        attempt = 0
        while True:
            outcome = await self._attempt(session, url, headers, sent, where)
            if isinstance(outcome, FetchResult):
                return outcome
            delay = self._retry_delay(outcome, attempt)
            if delay is None:
                raise outcome.error
            attempt += 1
            logger.info(
                "retrying GET %s in %.2f s (retry %d of %d) after: %s",
                where,
                delay,
                attempt,
                self._max_retries,
                outcome.error,
            )
            await self._clock.sleep(delay)

    async def close(self) -> None:
        """Close the ClientSession this transport created (never a borrowed one). Idempotent."""
        self._closed = True
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()

    # -- one request -------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SessionClosedError("the transport is closed")
        if self._borrowed is not None:
            if self._borrowed.closed:
                raise TransportError("the http_session passed to nanogpt_images is closed")
            return self._borrowed
        if self._owned is None:
            self._owned = aiohttp.ClientSession(
                timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._owned

    def _headers(self, validators: Validators) -> dict[str, str]:
        headers = {
            "User-Agent": f"nanogpt-images/{_package_version()}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
        }
        if self._api_key is not None:
            if self._auth_header == "authorization":
                headers["Authorization"] = f"Bearer {self._api_key}"
            else:
                headers["x-api-key"] = self._api_key
        # A validator that could not be a header value (say, from a damaged cache file) is skipped.
        if validators.etag and validators.etag.isprintable():
            headers["If-None-Match"] = validators.etag
        if validators.last_modified and validators.last_modified.isprintable():
            headers["If-Modified-Since"] = validators.last_modified
        return headers

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: Mapping[str, str],
        sent: Validators,
        where: str,
    ) -> FetchResult | _Failure:
        """One try, following same-origin redirects; aiohttp errors become a retryable failure."""
        try:
            for _ in range(MAX_REDIRECTS + 1):
                logger.debug("GET %s", url)
                # raise_for_status=False: a borrowed session may say otherwise, and the
                # status must reach _answer to become its typed error.
                async with session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                    raise_for_status=False,
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in REDIRECT_STATUSES and location:
                        url = self._redirect_target(url, location, response.status)
                        continue
                    return await self._answer(response, sent, where)
            raise TransportError(f"more than {MAX_REDIRECTS} redirects from {where}")
        except TimeoutError as exc:  # also aiohttp's ServerTimeoutError
            error: TransportError = self._timeout_error(exc, where)
            error.__cause__ = exc
        except aiohttp.ClientError as exc:
            error = TransportError(f"could not fetch {where}: {self.redact(_describe(exc))}")
            # A response error's repr holds the request headers, the key among them.
            error.__cause__ = None if isinstance(exc, aiohttp.ClientResponseError) else exc
        return _Failure(error, retryable=True, retry_after=None)

    def _timeout_error(self, exc: TimeoutError, where: str | None = None) -> RequestTimeoutError:
        where = where or self.url
        connect = self._timeout.connect
        if isinstance(exc, aiohttp.ConnectionTimeoutError) and connect is not None:
            return RequestTimeoutError(
                f"could not connect to {where} within {connect:g} s (connect_timeout)"
            )
        return RequestTimeoutError(
            f"no complete answer from {where} within {self._timeout.total:g} s"
        )

    def _redirect_target(self, url: str, location: str, status: int) -> str:
        target = urljoin(url, location)
        try:
            elsewhere = _origin(target) != _origin(url)
        except ValueError:  # a port out of range or not a number
            raise TransportError(
                f"the server redirected ({status}) to an invalid location: "
                f"{self.redact(location)!r}"
            ) from None
        if elsewhere:
            scheme, host, port = _origin(target)
            raise APIStatusError(
                f"refused to follow a redirect to another origin ({scheme}://{host}:{port}); "
                "set base_url to the host that serves the catalog",
                status=status,
                code="cross_origin_redirect",
            )
        return target

    async def _answer(
        self, response: aiohttp.ClientResponse, sent: Validators, where: str
    ) -> FetchResult | _Failure:
        status = response.status
        if status == 304:
            fresh = _validators(response.headers)
            kept = Validators(
                etag=fresh.etag or sent.etag,
                last_modified=fresh.last_modified or sent.last_modified,
            )
            return FetchResult(body=None, validators=kept, not_modified=True, status=status)
        if 200 <= status < 300:
            body = await self._read_capped(response)
            return FetchResult(
                body=body,
                validators=_validators(response.headers),
                not_modified=False,
                status=status,
            )
        raw = await _read_error_body(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.time())
        error = status_error(
            status,
            raw,
            reason=response.reason,
            request_id=response.headers.get("X-Request-ID"),
            retry_after=retry_after,
            redact=self.redact,
            hint=_NOT_FOUND_HINT.format(url=where) if status == 404 else None,
        )
        return _Failure(error, retryable=status in RETRY_STATUSES, retry_after=retry_after)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the body, refusing it as soon as it is known to exceed the cap."""
        limit = self._max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise DecodeError(_too_big(limit, f"Content-Length is {response.content_length}"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            size += len(chunk)
            if size > limit:
                raise DecodeError(_too_big(limit, f"more than {limit} bytes arrived"))
            chunks.append(chunk)
        return b"".join(chunks)

    def _retry_delay(self, failure: _Failure, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None to give up now."""
        if not failure.retryable or attempt >= self._max_retries:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self._max_retry_after:
                return None
            return failure.retry_after
        return self._random() * min(self._backoff_cap, self._backoff_base * 2.0**attempt)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``: for anything that quotes a response."""
        return text.replace(self._api_key, "***") if self._api_key else text


@attrs.frozen
class _Failure:
    """A failed try, with what the retry loop needs to decide."""

    error: NanoGPTError
    retryable: bool
    retry_after: float | None


# -- construction checks ------------------------------------------------------


def _check_options(
    *,
    auth_header: str,
    timeout: float,
    connect_timeout: float | None,
    max_retries: int,
    numbers: Mapping[str, float],
    max_response_bytes: int,
) -> None:
    if auth_header not in AUTH_HEADERS:
        raise ValueError(
            f"auth_header must be 'authorization' (Bearer) or 'x-api-key', not {auth_header!r}"
        )
    check_seconds("timeout", timeout)
    check_seconds("connect_timeout", connect_timeout, none=True)
    check_count("max_retries", max_retries)
    for name, value in numbers.items():
        check_seconds(name, value, positive=False)
    check_count("max_response_bytes", max_response_bytes, positive=True)


def _check_base_url(base_url: str, api_key: str | None, allow_insecure_http: bool) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL such as 'https://nano-gpt.com', not {base_url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not contain credentials; pass api_key instead")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment: {base_url!r}")
    try:
        parts.port  # noqa: B018  # urllib checks the port only when it is read
    except ValueError:
        raise ValueError(
            f"base_url has an invalid port: {base_url!r}; a port is a number from 1 to 65535"
        ) from None
    if (
        api_key is not None
        and parts.scheme == "http"
        and not _is_loopback(parts.hostname)
        and not allow_insecure_http
    ):
        raise ValueError(
            f"refusing to send an API key over plain http to {parts.hostname}; "
            "use an https:// base_url, or pass allow_insecure_http=True if you really mean it"
        )


def _check_key(api_key: str | None) -> None:
    if api_key is not None and not api_key.isprintable():
        raise ValueError("api_key contains control characters (a stray newline?)")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- reading answers ------------------------------------------------------------


@cache
def _package_version() -> str:
    try:
        return version("nanogpt-images")
    except PackageNotFoundError:
        return "0"


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def _validators(headers: Mapping[str, str]) -> Validators:
    return Validators(etag=headers.get("ETag"), last_modified=headers.get("Last-Modified"))


def _too_big(limit: int, detail: str) -> str:
    return f"response body exceeds max_response_bytes={limit} ({detail})"


_NOT_FOUND_HINT = "nothing at {url}; check base_url: the site root, such as " + DEFAULT_BASE_URL


def _describe(exc: BaseException) -> str:
    """Why a request failed, in words: ``connection refused by 127.0.0.1:8080``.

    aiohttp's own text for a failed connection (``Cannot connect to host ...
    ssl:default [...]``) says little to a user; other errors keep their type and text.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"[{exc.host}]:{exc.port}" if ":" in exc.host else f"{exc.host}:{exc.port}"
        reason = exc.os_error
        if isinstance(reason, ConnectionRefusedError):
            return f"connection refused by {where}"
        # strerror is the OS's words ("Name or service not known"), without errno or repr.
        detail = reason.strerror or str(reason) or type(reason).__name__
        return f"could not connect to {where}: {detail}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
    """The first bytes of an error body; a body that breaks off is read as far as it got."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY_BYTES:
                break
    except (aiohttp.ClientError, TimeoutError):
        pass  # the status already says what went wrong; the body is only detail
    return b"".join(chunks)[:MAX_ERROR_BODY_BYTES]
