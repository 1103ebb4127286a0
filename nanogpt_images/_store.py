"""Persistence of the last good response, so a restarted process answers at once.

A :class:`Store` keeps one :class:`StoredResponse`.  :class:`FileStore`
writes it atomically (a temporary file, then :func:`os.replace`); another
store (Redis, a database) only needs ``load`` and ``save``.  The session
talks to a store through :class:`CatalogStore`, which loads only a copy of
the same catalog (same URL and ``detailed``) and saves in the background, so
no read or refresh ever waits for a store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["LOAD_WAIT", "SAVE_WAIT", "CatalogStore", "FileStore", "Store", "StoredResponse"]

#: How long a start waits for a store's load() (real seconds) before fetching instead.
LOAD_WAIT = 1.0
#: How long close() waits for a store's save() under way (real seconds).
SAVE_WAIT = 5.0

log = logging.getLogger("nanogpt_images")

_FORMAT = "nanogpt-images/cache/1"


@attrs.frozen
class StoredResponse:
    """A good catalog body with what is needed to revalidate and age it.

    ``url`` is the catalog URL it came from (no key is ever in it), so that a
    copy fetched from another server is not served; ``None`` in copies saved
    before it was recorded.
    """

    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")
    detailed: bool
    fetched_at: float
    etag: str | None = None
    last_modified: str | None = None
    url: str | None = None


@runtime_checkable
class Store(Protocol):
    """Where the last good response lives between runs."""

    async def load(self) -> StoredResponse | None:
        """The saved response, or ``None`` when there is none usable."""
        ...

    async def save(self, response: StoredResponse) -> None:
        """Replace the saved response."""
        ...


class CatalogStore:
    """A :class:`Store` seen by one session: identity checks on load, saves in the background.

    ``load`` never raises: a store that fails, or holds a copy of another
    catalog, is a cold start with a warning.  ``save`` returns at once; saves
    run one at a time and only the newest waiting one is written.  ``close``
    waits for a save in progress at most :data:`SAVE_WAIT` seconds.  These are
    real seconds, not the session clock's: a store is outside the process, and
    a test's frozen ``FakeClock`` must not make a hung store hang the test.
    """

    def __init__(self, store: Store, *, detailed: bool, url: str) -> None:
        self.store = store
        self._detailed = detailed
        self._url = url
        self._pending: StoredResponse | None = None
        self._saving: asyncio.Task[None] | None = None

    async def load(self) -> StoredResponse | None:
        """The stored copy of this catalog, or ``None`` (with a warning saying why)."""
        try:
            stored = await self.store.load()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled (close() stops a slow load)
            # A client library leaking its own cancellation: a failed load, nothing more.
            log.warning("could not load the catalog from %r: its load() was cancelled", self.store)
            return None
        except Exception as exc:  # a store that cannot answer is a cold start, not a crash
            log.warning("could not load the catalog from %r: %s", self.store, exc)
            return None
        if stored is None:
            return None
        if not isinstance(stored, StoredResponse):  # a Store of someone else's making
            log.warning(  # type: ignore[unreachable]
                "ignoring what %r loaded: a %s, not a StoredResponse",
                self.store,
                type(stored).__name__,
            )
            return None
        if problem := _malformed(stored):
            log.warning("ignoring what %r loaded: %s", self.store, problem)
            return None
        if stored.detailed != self._detailed:
            log.warning(
                "ignoring the stored catalog: it was fetched with detailed=%s", stored.detailed
            )
            return None
        if stored.url is not None and stored.url != self._url:
            log.warning(
                "ignoring the stored catalog: it was fetched from %s, not %s", stored.url, self._url
            )
            return None
        return stored

    def save(self, response: StoredResponse) -> None:
        """Save ``response`` in the background; never waits, never raises."""
        self._pending = response
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(
                self._drain(), name="nanogpt_images catalog save"
            )

    @property
    def saving(self) -> asyncio.Task[None] | None:
        """The save in progress, if any."""
        return self._saving if self._saving is not None and not self._saving.done() else None

    async def close(self) -> None:
        """Let a save in progress finish, waiting at most :data:`SAVE_WAIT` seconds."""
        saving, self._saving = self._saving, None
        if saving is None or saving.done():
            return
        done, _ = await asyncio.wait([saving], timeout=SAVE_WAIT)
        if not done:
            log.warning(
                "gave up waiting for %r to save the catalog after %g s", self.store, SAVE_WAIT
            )
        saving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saving

    async def _drain(self) -> None:
        while self._pending is not None:
            response, self._pending = self._pending, None
            try:
                await self.store.save(response)
            except (
                Exception
            ) as exc:  # any store (a file, Redis...): a failed save never fails a read
                log.warning("could not save the catalog to %r: %s", self.store, exc)


def _malformed(stored: Any) -> str | None:
    """What is wrong with a StoredResponse a custom store built (types unchecked), or ``None``."""
    if not isinstance(stored.body, bytes):
        return f"its body is a {type(stored.body).__name__}, not bytes"
    if not isinstance(stored.detailed, bool):
        return f"its detailed is {stored.detailed!r}, not True or False"
    fetched_at = stored.fetched_at
    if isinstance(fetched_at, bool) or not isinstance(fetched_at, int | float):
        return f"its fetched_at is a {type(fetched_at).__name__}, not a number"
    if not math.isfinite(fetched_at):
        return f"its fetched_at is {fetched_at!r}, not a finite number"
    for name in ("etag", "last_modified", "url"):
        value = getattr(stored, name)
        if value is not None and not isinstance(value, str):
            return f"its {name} is a {type(value).__name__}, not a string"
    return None


class FileStore:
    """A :class:`Store` in one JSON file, replaced atomically on every save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not os.fspath(path).strip():
            # Path("") is the current directory: an unset "$CACHE_FILE", not a choice.
            raise ValueError(
                "the cache file path is empty; give a file path such as "
                "'~/.cache/nanogpt-images/catalog.json', or None for no cache file"
            )
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    async def load(self) -> StoredResponse | None:
        return await asyncio.to_thread(self._load)

    async def save(self, response: StoredResponse) -> None:
        await asyncio.to_thread(self._save, response)

    def _load(self) -> StoredResponse | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring the catalog cache file %s: %s", self.path, exc)
            return None
        try:
            return _decode(json.loads(raw))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning(
                "ignoring the catalog cache file %s: not a %s file (%s)", self.path, _FORMAT, exc
            )
            return None

    def _save(self, response: StoredResponse) -> None:
        document = {
            "format": _FORMAT,
            "detailed": response.detailed,
            "fetched_at": response.fetched_at,
            "etag": response.etag,
            "last_modified": response.last_modified,
            "url": response.url,
            "body": base64.b64encode(response.body).decode("ascii"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(document, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _decode(document: Any) -> StoredResponse:
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError("unknown format")
    fetched_at = document["fetched_at"]
    if not isinstance(fetched_at, int | float) or isinstance(fetched_at, bool):
        raise TypeError("fetched_at is not a number")
    if not math.isfinite(fetched_at):  # json reads NaN and Infinity
        raise ValueError(f"fetched_at is {fetched_at!r}, not a finite time")
    detailed = document["detailed"]
    if not isinstance(detailed, bool):  # "false" would read as true
        raise TypeError(f"detailed is {detailed!r}, not true or false")
    return StoredResponse(
        body=base64.b64decode(document["body"], validate=True),
        detailed=detailed,
        fetched_at=float(fetched_at),
        etag=_optional_str(document.get("etag")),
        last_modified=_optional_str(document.get("last_modified")),
        url=_optional_str(document.get("url")),
    )


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string or null, found {type(value).__name__}")
