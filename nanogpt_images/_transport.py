"""HTTP for the catalog and for generations: the only module that talks aiohttp.

One :class:`Transport` sends ``GET {base_url}/api/v1/image-models`` (or another
catalog route, or any path of the site: :meth:`Transport.get`) with auth,
timeouts, retries with jittered backoff, conditional-GET validators, a body
size cap and same-origin redirects, and turns every failure into a
:class:`~nanogpt_images.NanoGPTError`. It returns raw bytes; parsing the
catalog is the session's job.

:meth:`Transport.post_json` sends a paid request (a generation) with the same
auth, size cap, error mapping and redaction, but its own retry rule: only
what surely did not reach the server (a failure to connect, a 429) is tried
again; anything that may have been billed raises a
:class:`~nanogpt_images.PossiblyBilledError`. :meth:`Transport.download`
fetches a generated image's URL, without the key.
"""

from __future__ import annotations

import json
import logging
import os
import random as _random
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import aiohttp
import attrs
import yarl

from ._backoff import exponential
from ._clock import SYSTEM_CLOCK, Clock
from ._errors import (
    APIStatusError,
    DecodeError,
    NanoGPTError,
    PossiblyBilledDecodeError,
    PossiblyBilledServerError,
    PossiblyBilledTimeoutError,
    PossiblyBilledTransportError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._options import check_bool, check_count, check_seconds, check_str
from ._responses import parse_retry_after, status_error
from ._urls import (
    check_base_url,
    check_proxy,
    env_proxies,
    no_proxy_covers,
    origin,
    proxy_password,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = [
    "CATALOG_ROUTES",
    "DEFAULT_BASE_URL",
    "FetchResult",
    "Progress",
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
#: What every error of a request that may have been billed adds to its message.
BILLED_HINT = (
    "the request may have been billed, so it was not sent again; check your NanoGPT "
    "balance or usage before trying again"
)

_T = TypeVar("_T")
#: How aiohttp says a request's bytes could not be written (a connection closed under it):
#: the headers go out with the body, so nothing reached the server.
_UNSENT = "Can not write request body"


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
        trust_env: bool = True,
        proxy: str | None = None,
        generation_timeout: float = 300.0,
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
        check_seconds("generation_timeout", generation_timeout)
        check_bool("allow_insecure_http", allow_insecure_http)
        check_bool("trust_env", trust_env)
        _check_http_session(http_session, self._api_key)
        check_base_url(self._base_url, self._api_key, allow_insecure_http)
        _check_key(self._api_key)
        check_proxy(proxy)
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        # A generation takes longer than a catalog; connecting is bounded as for the catalog,
        # so that a connect timeout (safe to retry) is told apart from a slow answer.
        self._post_timeout = aiohttp.ClientTimeout(
            total=generation_timeout,
            connect=min(connect_timeout or timeout, generation_timeout),
        )
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_response_bytes = max_response_bytes
        self._borrowed = http_session
        self._owned: aiohttp.ClientSession | None = None
        self._owned_fresh: aiohttp.ClientSession | None = None
        self._closed = False
        self._clock = clock
        self._random = random
        self._proxy = proxy
        # Read once, as httpx does; a borrowed session follows its own trust_env instead.
        self._env_proxies = env_proxies() if trust_env and http_session is None else {}
        passwords = [proxy_password(url) for url in (proxy, *self._env_proxies.values())]
        # Longest first, so that no secret is cut into pieces by a shorter one.
        self._secrets = tuple(sorted({s for s in (self._api_key, *passwords) if s}, key=len)[::-1])

    @property
    def url(self) -> str:
        """The catalog endpoint, without query or credentials."""
        return self._base_url + self._catalog_path

    @property
    def has_key(self) -> bool:
        """Whether an API key is set (paid requests need one)."""
        return self._api_key is not None

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
        before_retry: Callable[[], Awaitable[None]] | None = None,
    ) -> FetchResult:
        """GET ``path`` (already percent-encoded) of the site, as :meth:`fetch` GETs the catalog.

        Same auth, retries, redirects, size cap and error mapping; errors name
        the URL without its query.  ``before_retry`` is awaited before each
        retry, after its backoff (a pacer books the retry's start there).
        """
        session = self._session()
        sent = validators or Validators()
        where = self._base_url + path
        url = f"{where}?{urlencode(params)}" if params else where
        headers = self._headers(sent)

        target = _as_written(self._base_url, url)

        def attempt(attempts: int, started: float) -> Awaitable[FetchResult | _Failure]:
            return self._attempt(session, target, headers, sent, attempts, started, where)

        what = "the catalog fetch" if path == self._catalog_path else f"GET {where}"
        return await self._retrying(attempt, what, before_retry)

    async def post_json(
        self, path: str, payload: Mapping[str, Any], *, progress: Progress | None = None
    ) -> bytes:
        """POST ``payload`` as JSON to ``{base_url}{path}``; the body of a 2xx answer.

        For paid requests: retried only after a failure to connect or a 429
        (within ``max_retries``, honouring ``Retry-After`` up to
        ``max_retry_after``).  A 5xx, a timeout after sending, a broken
        connection or an unreadable 2xx raise a
        :class:`~nanogpt_images.PossiblyBilledError` at once; other statuses
        their usual typed error.  Redirects are not followed.  ``progress``
        says, at any moment, whether a request may be out (for a caller that
        is cancelled and must know whether it may have been billed).
        """
        progress = progress if progress is not None else Progress()
        session = self._fresh_session()
        url = self._base_url + path
        headers = {**self._headers(Validators()), "Content-Type": "application/json"}
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()

        async def attempt(attempts: int, started: float) -> bytes | _Failure:
            progress.maybe_sent = True
            outcome = await self._post_attempt(session, url, headers, data)
            # A failure worth retrying surely did not run (a 429, no connection).
            progress.maybe_sent = not (isinstance(outcome, _Failure) and outcome.retryable)
            return outcome

        return await self._retrying(attempt, f"POST {path}")

    async def download(self, url: str) -> bytes:
        """GET ``url`` (a generated image's link) within the size cap, never sending the key.

        One attempt: the link is NanoGPT's, signed and short-lived; a failure
        raises a :class:`~nanogpt_images.NanoGPTError` saying what happened.
        """
        if self._closed:
            raise SessionClosedError(
                "the session that made this image is closed; read() downloads its link "
                "through that session, so read the image before closing it"
            )
        session = self._session()
        shown = self.redact(url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise TransportError(f"cannot download {shown!r}: not an http(s) URL")
        outcome = await self._download_attempt(session, url, shown)
        if isinstance(outcome, _Failure):
            raise outcome.error  # outside the except: a secret-quoting cause stays left off
        return outcome

    async def _download_attempt(
        self, session: aiohttp.ClientSession, url: str, shown: str
    ) -> bytes | _Failure:
        headers = {"User-Agent": f"nanogpt-images/{_package_version()}"}
        try:
            async with session.get(
                url,
                headers=headers,
                timeout=self._timeout,
                raise_for_status=False,
                proxy=self._proxy_for(url),
                max_redirects=MAX_REDIRECTS,
            ) as response:
                if 200 <= response.status < 300:
                    return await self._read_capped(response)
                hint = f"downloading {shown}; a generated image's link expires after an hour"
                return _Failure(await self._status_error(response, hint=hint), retryable=False)
        except TimeoutError as exc:
            timeout = RequestTimeoutError(
                f"no complete answer from {shown} (timeout={self._timeout.total:g} s)"
            )
            timeout.__cause__ = exc
            return _Failure(timeout, retryable=False)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._failure(f"could not download {shown}", exc, retryable=False)

    async def _retrying(
        self,
        attempt: Callable[[int, float], Awaitable[_T | _Failure]],
        what: str,
        before_retry: Callable[[], Awaitable[None]] | None = None,
    ) -> _T:
        """Call ``attempt(attempts, started)`` until it succeeds or its failure is final."""
        started = self._clock.monotonic()
        retries = 0
        while True:
            outcome = await attempt(retries + 1, started)
            if not isinstance(outcome, _Failure):
                return outcome
            delay = self._retry_delay(outcome, retries)
            if delay is None:
                raise outcome.error
            retries += 1
            logger.info(
                "retrying %s in %.2f s (retry %d of %d) after: %s",
                what,
                delay,
                retries,
                self._max_retries,
                outcome.error,
            )
            await self._clock.sleep(delay)
            if before_retry is not None:
                await before_retry()

    async def close(self) -> None:
        """Close the ClientSession this transport created (never a borrowed one). Idempotent."""
        self._closed = True
        owned, self._owned = self._owned, None
        fresh, self._owned_fresh = self._owned_fresh, None
        for session in (owned, fresh):
            if session is not None:
                await session.close()

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

    def _fresh_session(self) -> aiohttp.ClientSession:
        """For paid requests: a new connection each time, never a pooled one gone stale.

        A request on a keep-alive connection the server has just dropped fails
        in ways that cannot always be told from a failure after sending, and
        a paid request is never resent on a doubt; a fresh connection (one
        handshake, next to a generation's seconds) avoids the doubt.  A
        borrowed ``http_session`` is used as it is.
        """
        session = self._session()
        if session is self._borrowed:
            return session
        if self._owned_fresh is None:
            self._owned_fresh = aiohttp.ClientSession(
                timeout=self._post_timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(force_close=True),
            )
        return self._owned_fresh

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
        if isinstance(validators.etag, str) and validators.etag and validators.etag.isprintable():
            headers["If-None-Match"] = validators.etag
        modified = validators.last_modified
        if isinstance(modified, str) and modified and modified.isprintable():
            headers["If-Modified-Since"] = modified
        return headers

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: str | yarl.URL,
        headers: Mapping[str, str],
        sent: Validators,
        attempts: int,
        started: float,
        where: str,
    ) -> FetchResult | _Failure:
        """Try number ``attempts`` of a fetch that began at ``started``, following redirects.

        The one boundary where aiohttp's (and the standard library's) exceptions
        become library errors; nothing else escapes :meth:`fetch`.
        """
        proxy = self._proxy_for(str(url))
        try:
            for _ in range(MAX_REDIRECTS + 1):
                logger.debug("GET %s", self.redact(str(url)))
                # raise_for_status=False: a borrowed session may say otherwise, and the
                # status must reach _answer to become its typed error.
                async with session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                    raise_for_status=False,
                    proxy=proxy,
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in REDIRECT_STATUSES and location:
                        url = self._redirect_target(str(url), location, response.status)
                        continue
                    return await self._answer(response, sent, where)
            raise TransportError(f"more than {MAX_REDIRECTS} redirects from {where}")
        except TimeoutError as exc:  # also aiohttp's ServerTimeoutError
            waited = self._clock.monotonic() - started
            return _Failure(self._timeout_error(exc, attempts, waited, where), retryable=True)
        except (aiohttp.ClientError, OSError) as exc:  # refused, reset, DNS, TLS, bad HTTP
            retry = not isinstance(exc, aiohttp.InvalidURL)
            return self._failure(f"could not fetch {where}", exc, retryable=retry)
        except ValueError as exc:  # aiohttp refusing what it was given (UnicodeError too)
            return self._failure(f"could not send the request to {where}", exc, retryable=False)

    async def _post_attempt(
        self, session: aiohttp.ClientSession, url: str, headers: Mapping[str, str], data: bytes
    ) -> bytes | _Failure:
        """One POST: its answer's body, or the failure with whether it surely did not run.

        Safe to retry: a connection that could not be made (refused, DNS, a
        connect timeout) and a 429.  Anything after the request may have been
        sent is a ``PossiblyBilled*`` error, never retried.
        """
        where = self.redact(url)
        try:
            logger.debug("POST %s", where)
            async with session.post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._post_timeout,
                raise_for_status=False,
                proxy=self._proxy_for(url),
            ) as response:
                return await self._post_answer(response, where)
        except aiohttp.ConnectionTimeoutError as exc:
            error = RequestTimeoutError(
                f"could not connect to {where} within "
                f"{self._post_timeout.connect:g} s; nothing was sent"
            )
            error.__cause__ = exc
            return _Failure(error, retryable=True)
        except aiohttp.ClientSSLError as exc:  # a failed handshake: nothing sent, no use retrying
            return self._failure(f"could not connect to {where}", exc, retryable=False)
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, an unreachable proxy
            return self._failure(f"could not connect to {where}", exc, retryable=True)
        except TimeoutError as exc:
            billed = PossiblyBilledTimeoutError(
                f"no complete answer from {where} within "
                f"generation_timeout={self._post_timeout.total:g} s; {BILLED_HINT}"
            )
            billed.__cause__ = exc
            return _Failure(billed, retryable=False)
        except aiohttp.ClientHttpProxyError as exc:  # the proxy refused to connect us
            return self._failure(f"the proxy refused to reach {where}", exc, retryable=False)
        except (aiohttp.InvalidURL, ValueError) as exc:  # refused by aiohttp before sending
            return self._failure(f"could not send the request to {where}", exc, retryable=False)
        except aiohttp.ClientOSError as exc:
            # The connection was closed before the request could go: nothing reached NanoGPT.
            if (exc.strerror or "").startswith(_UNSENT):
                return self._failure(f"could not send the request to {where}", exc, retryable=True)
            return self._possibly_billed(where, exc)
        except (aiohttp.ClientError, OSError) as exc:  # dropped, reset, bad HTTP: after sending
            return self._possibly_billed(where, exc)

    def _possibly_billed(self, where: str, exc: Exception) -> _Failure:
        failure = self._failure(f"the connection to {where} broke", exc, retryable=False)
        error = PossiblyBilledTransportError(f"{failure.error}; {BILLED_HINT}")
        error.__cause__ = failure.error.__cause__
        return _Failure(error, retryable=False)

    async def _post_answer(self, response: aiohttp.ClientResponse, where: str) -> bytes | _Failure:
        status = response.status
        if 200 <= status < 300:
            try:
                return await self._read_capped(response)
            except DecodeError as exc:  # over the size cap: the work was done and billed
                raise PossiblyBilledDecodeError(
                    f"NanoGPT answered {status} but {exc}; {BILLED_HINT}"
                ) from None
        if status in REDIRECT_STATUSES:
            location = self.redact(response.headers.get("Location", ""))
            return _Failure(
                APIStatusError(
                    f"the server redirected ({status}) the request to {location!r}; not "
                    "followed, since a paid request is sent once: set base_url to the host "
                    "that serves the API",
                    status=status,
                    code="redirect",
                ),
                retryable=False,
            )
        error = await self._status_error(
            response,
            hint=BILLED_HINT if status >= 500 else None,
            server_error=PossiblyBilledServerError,
        )
        return _Failure(error, retryable=status == 429, retry_after=error.retry_after)

    def _failure(self, what: str, exc: Exception, *, retryable: bool) -> _Failure:
        error = TransportError(f"{what}: {self.redact(_describe(exc))}")
        # A cause whose text holds a secret is left off: a response error's repr
        # holds the request headers, a UnicodeError the whole string it choked on.
        error.__cause__ = None if self._quotes_a_secret(exc) else exc
        return _Failure(error, retryable=retryable)

    def _timeout_error(
        self, exc: TimeoutError, attempts: int, waited: float, where: str | None = None
    ) -> RequestTimeoutError:
        """What ran out at ``where`` (the catalog), and how long all the ``attempts`` took."""
        where = where or self.url
        connect = self._timeout.connect
        if isinstance(exc, aiohttp.ConnectionTimeoutError) and connect is not None:
            what, limit = "could not connect to", f"connect_timeout={connect:g} s"
        else:
            what, limit = "no complete answer from", f"timeout={self._timeout.total:g} s"
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        error = RequestTimeoutError(
            f"{what} {where} after {tries} over {waited:.1f} s ({limit} per attempt)"
        )
        error.__cause__ = exc
        return error

    def _redirect_target(self, url: str, location: str, status: int) -> str:
        """The URL to follow to, or the error saying why it is not followed."""
        shown = self.redact(location)
        try:
            target = urljoin(url, location)
            parts = urlsplit(target)
            here, there = origin(url), origin(target)
        except ValueError as exc:  # "http://[::1", a port out of range or not a number
            raise TransportError(
                f"the server redirected ({status}) to an invalid location {shown!r} ({exc}); "
                "a redirect must name a valid http(s) URL"
            ) from None
        if not parts.hostname:
            raise TransportError(
                f"the server redirected ({status}) to a location without a host: {shown!r}"
            )
        if there != here:
            scheme, host, port = there
            raise APIStatusError(
                f"refused to follow a redirect to another origin "
                f"({scheme}://{self.redact(host)}:{port}); "
                "set base_url to the host that serves the catalog",
                status=status,
                code="cross_origin_redirect",
            )
        if parts.username is not None or parts.password is not None:
            raise TransportError(
                f"the server redirected ({status}) to a location with a user name or password "
                "in it; refused, since the catalog is fetched with api_key, never URL credentials"
            )
        if self._quotes_a_secret(target):
            raise TransportError(
                f"the server redirected ({status}) to a location quoting the API key; refused, "
                "since the key never goes into a URL"
            )
        return target

    async def _answer(
        self, response: aiohttp.ClientResponse, sent: Validators, where: str
    ) -> FetchResult | _Failure:
        status = response.status
        if status == 304:
            fresh = self._validators(response.headers)
            kept = Validators(
                etag=fresh.etag or sent.etag,
                last_modified=fresh.last_modified or sent.last_modified,
            )
            return FetchResult(body=None, validators=kept, not_modified=True, status=status)
        if 200 <= status < 300:
            body = await self._read_capped(response)
            return FetchResult(
                body=body,
                validators=self._validators(response.headers),
                not_modified=False,
                status=status,
            )
        hint = _NOT_FOUND_HINT.format(url=where) if status == 404 else None
        error = await self._status_error(response, hint=hint)
        return _Failure(error, retryable=status in RETRY_STATUSES, retry_after=error.retry_after)

    async def _status_error(
        self,
        response: aiohttp.ClientResponse,
        *,
        hint: str | None,
        server_error: type[ServerError] = ServerError,
    ) -> APIStatusError:
        """The typed error for an error status, its ``Retry-After`` and the first bytes read."""
        raw = await _read_error_body(response)
        return status_error(
            response.status,
            raw,
            reason=response.reason,
            request_id=response.headers.get("X-Request-ID"),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), self._clock.time()),
            redact=self.redact,
            hint=hint,
            server_error=server_error,
        )

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
        return self._random() * exponential(self._backoff_base, self._backoff_cap, attempt)

    def redact(self, text: str) -> str:
        """``text`` with the API key and a proxy password replaced by ``***``.

        For anything that quotes the server or aiohttp: a message, a header, a body.
        """
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _quotes_a_secret(self, thing: str | BaseException) -> bool:
        """Whether a string, or an exception anywhere in its chain, holds a secret."""
        texts: list[str] = []
        seen: BaseException | None = thing if isinstance(thing, BaseException) else None
        if seen is None:
            texts += [str(thing), unquote(str(thing))]  # %73%6B... is the key once decoded
        while seen is not None:
            texts += [str(seen), repr(seen), *map(repr, seen.args), *map(repr, vars(seen).values())]
            seen = seen.__cause__ or seen.__context__
        return any(secret in text for text in texts for secret in self._secrets)

    def _validators(self, headers: Mapping[str, str]) -> Validators:
        """ETag and Last-Modified, redacted: they are stored, and a stored key would leak."""
        etag, modified = headers.get("ETag"), headers.get("Last-Modified")
        return Validators(
            etag=None if etag is None else self.redact(etag),
            last_modified=None if modified is None else self.redact(modified),
        )

    def _proxy_for(self, url: str) -> str | None:
        """The proxy for ``url``: the ``proxy`` option, else one from the environment."""
        if self._proxy is not None or not self._env_proxies:
            return self._proxy
        parts = urlsplit(url)
        if no_proxy_covers(parts.hostname or "", self._env_proxies.get("no", "")):
            return None
        return self._env_proxies.get(parts.scheme)


def _as_written(base_url: str, url: str) -> yarl.URL:
    """``url`` (``base_url`` and an already percent-encoded path and query) sent as written.

    yarl would otherwise decode ``%2E`` and remove ``.`` and ``..`` segments, so
    that a model id of ``../../admin`` would leave the route it was meant for.
    """
    head = str(yarl.URL(base_url))  # the host IDNA-encoded, the base's own path encoded
    return yarl.URL(head + url[len(base_url) :], encoded=True)


class Progress:
    """Whether a paid request may be out at the server right now (see ``post_json``)."""

    __slots__ = ("maybe_sent",)

    def __init__(self) -> None:
        self.maybe_sent = False


@attrs.frozen
class _Failure:
    """A failed try, with what the retry loop needs to decide."""

    error: NanoGPTError
    retryable: bool
    retry_after: float | None = None


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


def _check_http_session(http_session: object, api_key: str | None) -> None:
    if http_session is None:
        return
    if not isinstance(http_session, aiohttp.ClientSession):
        raise TypeError(
            "http_session must be an aiohttp.ClientSession (or None to let the "
            f"session make its own), not {type(http_session).__name__}"
        )
    if http_session.auth is not None and api_key is not None:
        raise ValueError(
            "http_session was made with auth= and api_key is set too; aiohttp cannot send "
            "both: leave auth out of the ClientSession, or leave api_key out (and unset "
            "NANOGPT_API_KEY)"
        )


def _check_key(api_key: str | None) -> None:
    if api_key is not None and not api_key.isprintable():
        raise ValueError("api_key contains control characters (a stray newline?)")


# -- reading answers ------------------------------------------------------------


@cache
def _package_version() -> str:
    try:
        return version("nanogpt-images")
    except PackageNotFoundError:
        return "0"


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
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            where = f"the proxy at {where}"
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
