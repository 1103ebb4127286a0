"""What a session needs from a fleet coordinator: one shared copy, a lease, a backoff, news.

A :class:`Coordinator` keeps one shared copy of the catalog for every
replica bound to the same *scope* (catalog URL and ``detailed``), elects the
one replica that asks NanoGPT (a lease with a random token), accepts a new
copy only from the holder of that lease and only on top of the version the
holder started from (fencing), records a backoff every replica respects, and
tells replicas when something changed.  Times are judged on the
coordinator's clock: replicas only ever see ages and remaining durations.

Every method may raise any exception when the coordinator cannot be reached;
the session then goes solo.  ``nanogpt_images.redis.RedisCoordinator`` is
the shipped implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

__all__ = ["Coordinator", "SharedBody", "SharedState"]


@attrs.frozen
class SharedState:
    """What the coordinator holds now, without the body.

    ``version`` is ``None`` when there is no shared copy.  ``age`` is seconds
    since that copy was fetched or renewed by a 304, on the coordinator's
    clock; ``backoff`` the seconds the fleet should still wait before asking
    NanoGPT again (0 when none), with ``error`` saying why and ``failures``
    the failed fetches in a row so far.  ``scope`` is the
    scope the copy was written for, ``size`` its body's length in bytes.
    """

    version: str | None = None
    age: float = 0.0
    size: int = 0
    scope: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    backoff: float = 0.0
    error: str | None = None
    failures: int = 0


@attrs.frozen
class SharedBody:
    """One shared copy's body and validators, as written by a replica."""

    version: str
    body: bytes = attrs.field(repr=lambda body: f"<{len(body)} bytes>")
    age: float
    scope: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@runtime_checkable
class Coordinator(Protocol):
    """A place where replicas share one catalog copy, a fetch lease and a backoff.

    ``bind`` is called once, by the session, before anything else; ``close``
    when the session closes.  Everything in between may fail (then the
    session serves and refreshes on its own until the coordinator answers).
    ``probe_interval`` is how often, in seconds, a session that lost the
    coordinator tries it again.
    """

    probe_interval: float

    def bind(self, scope: str) -> None:
        """Serve the copies of ``scope`` (the catalog URL and ``detailed``, never a key)."""
        ...

    async def state(self) -> SharedState:
        """The shared copy's version, age and validators, and the fleet's backoff."""
        ...

    async def load(self) -> SharedBody | None:
        """The shared copy with its body, or ``None`` when there is none."""
        ...

    async def acquire(self, seconds: float) -> str | None:
        """Take the fetch lease for ``seconds``: its token, or ``None`` when it is held."""
        ...

    async def release(self, token: str) -> None:
        """Give the lease back, if ``token`` still holds it."""
        ...

    async def commit(
        self,
        token: str | None,
        based_on: str | None,
        body: bytes,
        *,
        etag: str | None,
        last_modified: str | None,
        age: float = 0.0,
    ) -> str | None:
        """Publish a new copy ``age`` seconds old; its version, or ``None`` when refused.

        With a ``token`` the copy is written only while that token holds the
        lease and the shared version is still ``based_on``.  With none, only
        when there is no shared copy at all (refilling an emptied coordinator).
        """
        ...

    async def renew(
        self, token: str, based_on: str, *, etag: str | None, last_modified: str | None
    ) -> bool:
        """Mark the shared copy fresh after a 304, if ``token`` holds the lease on ``based_on``."""
        ...

    async def back_off(self, token: str, seconds: float, *, failures: int, error: str) -> None:
        """Record the ``failures``-th failed fetch in a row: the fleet waits ``seconds``."""
        ...

    def watch(self) -> AsyncGenerator[bool, None]:
        """Yield ``True`` when the shared copy may have changed, ``False`` every quiet second.

        It yields ``True`` at each (re)subscription too, since news sent while
        disconnected is lost; it raises when the coordinator cannot be reached.
        """
        ...

    async def close(self) -> None:
        """Release connections this coordinator opened (a borrowed client stays open)."""
        ...
