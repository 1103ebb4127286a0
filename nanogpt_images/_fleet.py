"""Fleet mode, the session's side: one upstream fetch for many replicas, through a coordinator.

A :class:`Fleet` is the ``fetch`` the cache is given when the session has a
coordinator.  Each fetch first looks at the shared copy:

- fresh (younger than ``due``), or any usable one on a cold start: take it
  (``source == "shared"``) without asking NanoGPT; a stale one taken cold is
  refreshed right after, in the background;
- otherwise, unless the fleet is backing off, take the lease and fetch from
  NanoGPT with the shared validators (``leader``), then commit the new body
  (or renew the shared freshness after a 304, or record the backoff); or,
  when another replica holds the lease, wait for its news (``follower``).

A background task listens for news (pub/sub) and checks the shared version
on every (re)subscribe and every quiet second, so each replica installs each
new copy once.  Any coordinator failure makes the replica ``solo`` (its own
fetches, as without a coordinator) until a probe finds the coordinator again;
it then publishes a newer copy of its own, refills an emptied coordinator,
or takes the shared copy.  Reads never reach this module: they read the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, TypeVar

import attrs

from ._cache import BACKOFF_START, Copy, NotModified, Role, Shared, Source, backoff_delay
from ._errors import APIStatusError, DecodeError, NanoGPTError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ._cache import CatalogCache
    from ._clock import Clock
    from ._coordinator import Coordinator, SharedBody, SharedState
    from ._source import CatalogSource

__all__ = ["Fleet", "FleetBackoffError"]

log = logging.getLogger("nanogpt_images")

T = TypeVar("T")

#: A follower waiting for the leader re-reads the shared state at least this often (seconds).
FOLLOW_POLL = 1.0

#: The longest a read with nothing cached waits for another replica's fetch (real seconds):
#: a lease holder that died mid-fetch holds its lease for minutes.  Then it fetches itself.
COLD_FOLLOW_WAIT = 3.0


class FleetBackoffError(NanoGPTError):
    """The fleet's lease holder failed to fetch recently; nobody asks NanoGPT until it is over.

    ``retry_after`` is the fleet's remaining wait in seconds.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _UnreachableError(Exception):
    """A coordinator call failed; the replica has gone solo."""


class Fleet:
    """The cache's fetch in fleet mode, and the background task that keeps the replica in step."""

    def __init__(
        self,
        coordinator: Coordinator,
        source: CatalogSource,
        *,
        scope: str,
        clock: Clock,
        ttl: float,
        max_stale: float,
        due: float,
        lease: float,
        max_backoff: float,
        max_body_bytes: int,
    ) -> None:
        self.coordinator = coordinator
        self._source = source
        self._scope = scope
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._due = due
        self._lease = lease
        self._max_backoff = max_backoff
        self._max_body = max_body_bytes
        self._cache: weakref.ref[CatalogCache] | None = None
        self.role: Role = "follower"
        self.shared_installs = 0
        self.errors = 0
        self._version: str | None = None  # the shared version the local copy is
        self._ignored: str | None = None  # a shared version found unusable: not news
        self.checks = 0
        self._origin: Source = "shared"  # how the local copy of that version came about
        self._own_copy = False  # the local copy was fetched while solo: maybe newer than shared
        self._warned: set[str] = set()
        self._news: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._kicks: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------

    def attach(self, cache: CatalogCache) -> None:
        """The cache this fleet fetches for (held weakly: the cache holds the fleet)."""
        self._cache = weakref.ref(cache)

    def start(self) -> None:
        """Start listening for news; never waits for the coordinator."""
        if self._task is None:
            self._news = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                _listen(weakref.ref(self), self.coordinator), name="nanogpt_images fleet"
            )

    async def stop(self) -> None:
        """Stop the background work and close the coordinator's connections."""
        pending = {task for task in (self._task, *self._kicks) if task is not None}
        self._task = None
        while pending:
            # Cancel again if need be: a cancellation that lands as redis-py's own read
            # timeout fires can be taken for that timeout and lost.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        try:
            await self.coordinator.close()
        except Exception as exc:
            log.warning("closing the fleet coordinator failed: %s", exc)

    def abandon(self) -> None:
        """Cancel the background work and close the coordinator: the session was dropped."""
        tasks = {task for task in (self._task, *self._kicks) if task is not None}
        for task in tasks:
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is closed already
                    task.cancel()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
            closing = asyncio.get_running_loop().create_task(
                _close_after(tasks, self.coordinator), name="nanogpt_images fleet close"
            )
            _ABANDONED.add(closing)  # kept until done: the loop holds tasks only weakly
            closing.add_done_callback(_ABANDONED.discard)

    # -- the fetch ----------------------------------------------------------

    async def __call__(self, previous: Copy | None) -> Copy | NotModified | Shared:
        """A copy from the fleet, or from NanoGPT as the fleet's leader (or solo)."""
        if self.role != "solo":
            try:
                return await self._fetch_shared(previous)
            except _UnreachableError:
                pass
        return await self._alone(previous)

    async def _alone(self, previous: Copy | None) -> Copy | NotModified:
        fetched = await self._source(previous)
        if isinstance(fetched, Copy):
            self._own_copy = True
        return fetched

    async def _fetch_shared(self, previous: Copy | None) -> Copy | NotModified | Shared:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + (COLD_FOLLOW_WAIT if previous is None else self._lease)
        while True:
            state = await self._ask(self.coordinator.state())
            usable = self._usable(state, state.size)
            cold_enough = previous is None and state.age <= self._ttl + self._max_stale
            if usable and (state.age < self._due or cold_enough):
                taken = await self._take(previous, state)
                if taken is not None:
                    if state.age >= self._due:  # a stale copy taken cold: refresh it next
                        self._kick()
                    return taken
            if state.backoff > 0:
                raise FleetBackoffError(
                    f"another replica's fetch failed ({state.error}); the fleet waits "
                    f"{state.backoff:.1f} s more before asking NanoGPT again",
                    retry_after=state.backoff,
                )
            token = await self._ask(self.coordinator.acquire(self._lease))
            if token is not None:
                return await self._lead(previous, state, usable, token)
            self._set_role("follower", "another replica is fetching")
            if loop.time() > give_up:  # the holder may be dead: do not wait out its lease
                log.warning(
                    "waited %g s for another replica's fetch of the catalog; fetching it here",
                    COLD_FOLLOW_WAIT if previous is None else self._lease,
                )
                return await self._alone(previous)
            await self._wait_for_news()

    async def _lead(
        self, previous: Copy | None, state: SharedState, usable: bool, token: str
    ) -> Copy | NotModified | Shared:
        """Fetch from NanoGPT holding the lease, with the shared validators; tell the fleet."""
        try:
            based_on = state.version  # an unusable shared copy is overwritten
            base = previous
            if usable and state.version != self._version:
                # The shared copy is the base, so that a 304 can renew it.
                taken = await self._take(previous, state, lead=True)
                if taken is not None:
                    base = taken.copy
            self._set_role("leader", "took the fetch lease")
            try:
                fetched = await self._source(base)
            except NanoGPTError as exc:
                await self._record_failure(token, state, exc)
                raise
            if isinstance(fetched, NotModified):
                if based_on is not None and self._version == based_on:
                    await self._quietly(
                        self.coordinator.renew(
                            token, based_on, etag=fetched.etag, last_modified=fetched.last_modified
                        )
                    )
                if base is previous:
                    self._origin = "not_modified"
                    return fetched
                assert base is not None  # NotModified answers only a conditional GET of a base
                renewed = attrs.evolve(
                    base,
                    fetched_at=self._clock.time(),
                    etag=fetched.etag or base.etag,
                    last_modified=fetched.last_modified or base.last_modified,
                )
                return Shared(renewed, source="not_modified")
            await self._publish(token, based_on, fetched)
            return fetched
        finally:
            with contextlib.suppress(_UnreachableError):
                await self._quietly(self.coordinator.release(token))

    async def _publish(self, token: str, based_on: str | None, fetched: Copy) -> None:
        if fetched.body is None:
            return
        try:
            shared = await self._share(token, based_on, fetched)
        except _UnreachableError:
            return
        if shared:
            self._origin = "network"
        else:
            log.info("the fleet's copy changed while this replica fetched; its copy is not shared")

    async def _share(
        self, token: str | None, based_on: str | None, copy: Copy, *, age: float = 0.0
    ) -> bool:
        """Commit ``copy`` (see :meth:`Coordinator.commit`); whether it is now the shared one."""
        assert copy.body is not None
        version = await self._ask(
            self.coordinator.commit(
                token,
                based_on,
                copy.body,
                etag=copy.etag,
                last_modified=copy.last_modified,
                age=age,
            )
        )
        if version is None:
            return False
        self._version = version
        self._own_copy = False
        return True

    async def _record_failure(self, token: str, state: SharedState, exc: NanoGPTError) -> None:
        failures = state.failures + 1
        retry_after = exc.retry_after if isinstance(exc, APIStatusError) else None
        delay = backoff_delay(
            failures, start=BACKOFF_START, cap=self._max_backoff, retry_after=retry_after
        )
        error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(_UnreachableError):
            await self._quietly(
                self.coordinator.back_off(token, delay, failures=failures, error=error)
            )

    async def _take(
        self, previous: Copy | None, state: SharedState, *, lead: bool = False
    ) -> Shared | None:
        """The shared copy as a :class:`Shared` result, or ``None`` when it is unusable."""
        now = self._clock.time()
        if previous is not None and state.version == self._version:  # ours already: renew it
            renewed = attrs.evolve(
                previous,
                fetched_at=now - state.age,
                etag=state.etag or previous.etag,
                last_modified=state.last_modified or previous.last_modified,
            )
            return Shared(renewed, age=state.age, source=self._origin)
        shared = await self._ask(self.coordinator.load())
        if shared is None or not self._usable(shared, len(shared.body)):
            return None
        if previous is not None and previous.body == shared.body:  # e.g. a refill of ours
            catalog = previous.catalog
        else:
            try:
                catalog = await self._source.read(shared.body)
            except DecodeError as exc:
                self._ignored = shared.version
                self._warn(f"ignoring the fleet's shared catalog: {exc}")
                return None
            self.shared_installs += 1
        self._version = shared.version
        self._origin = "shared"
        self._own_copy = False
        if lead is False:
            self._set_role("follower", "took the fleet's copy")
        taken = Copy(
            catalog=catalog,
            fetched_at=now - shared.age,
            etag=shared.etag,
            last_modified=shared.last_modified,
            body=shared.body,
        )
        return Shared(taken, age=shared.age)

    def _usable(self, state: SharedState | SharedBody, size: int) -> bool:
        """Whether a shared copy may be read: of our scope, within the size cap."""
        if state.version is None:
            return False
        problem = None
        if state.scope != self._scope:
            problem = f"it belongs to {state.scope}, not {self._scope}"
        elif size > self._max_body:
            problem = f"{size} bytes, over the {self._max_body}-byte limit"
        if problem is None:
            return True
        self._ignored = state.version
        self._warn(f"ignoring the fleet's shared catalog: {problem}")
        return False

    async def _wait_for_news(self) -> None:
        news = self._news
        if news is None:  # not started: nothing will tell us
            await asyncio.sleep(FOLLOW_POLL)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FOLLOW_POLL):
                await news.wait()

    # -- the background side --------------------------------------------------

    def heard(self, news: bool) -> None:
        """Wake followers waiting for the leader (called on every pub/sub message)."""
        if news and self._news is not None:
            self._news.set()
            self._news = asyncio.Event()

    async def check(self) -> None:
        """Compare the local copy with the shared one; rejoin, refill, publish or take it."""
        state = await self._ask(self.coordinator.state())
        self.checks += 1
        if self.role == "solo":
            self._set_role("follower", "the coordinator answers again")
        emptied = state.version is None  # a restarted Redis: nothing shared, whatever we knew
        if not emptied and state.version in (self._version, self._ignored) and not self._own_copy:
            return
        cache = self._cache() if self._cache is not None else None
        current = cache.current if cache is not None else None
        age = cache.stats().age if cache is not None else None
        if current is not None and current.body is not None and age is not None:
            if emptied:  # refill it from our good copy
                await self._refill(current, age)
                return
            if self._own_copy and age < state.age:  # fetched solo, newer than the shared one
                await self._push(current, state, age)
                return
        self._own_copy = False
        if state.version != self._version:
            self._kick()

    async def _refill(self, current: Copy, age: float) -> None:
        if await self._share(None, None, current, age=age):
            log.info("refilled the fleet's empty coordinator with this replica's copy")

    async def _push(self, current: Copy, state: SharedState, age: float) -> None:
        token = await self._ask(self.coordinator.acquire(self._lease))
        if token is None:
            return  # someone is fetching; the next check looks again
        try:
            shared = await self._share(token, state.version, current, age=age)
        finally:
            with contextlib.suppress(_UnreachableError):
                await self._ask(self.coordinator.release(token))
        if shared:
            log.info("shared this replica's newer copy with the fleet")

    async def reachable(self) -> bool:
        """Whether the coordinator answers now (if not, the replica goes solo)."""
        try:
            await self._ask(self.coordinator.state())
        except _UnreachableError:
            return False
        return True

    def _kick(self) -> None:
        """Have the cache fetch (so: take the shared copy) once its current fetch is done."""
        task = asyncio.get_running_loop().create_task(
            _fetch_after(self._cache), name="nanogpt_images fleet sync"
        )
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    # -- coordinator calls ------------------------------------------------------

    async def _ask(self, call: Awaitable[T]) -> T:
        """``call``'s result; a failure is counted, makes the replica solo and is raised."""
        try:
            return await call
        except (asyncio.CancelledError, _UnreachableError):
            raise
        except Exception as exc:
            self._failed(exc)
            raise _UnreachableError from exc

    async def _quietly(self, call: Awaitable[T]) -> T | None:
        """Like :meth:`_ask`, but ``None`` on failure: what we fetched is served all the same."""
        try:
            return await self._ask(call)
        except _UnreachableError:
            return None

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self._set_role("solo", f"the coordinator failed ({reason}); fetching on its own")

    def _set_role(self, role: Role, why: str) -> None:
        """Change role, with one log line: leaving or joining the fleet is news, the rest detail."""
        if role != self.role:
            if role == "solo":
                level = logging.WARNING
            elif self.role == "solo":
                level = logging.INFO
            else:
                level = logging.DEBUG
            log.log(level, "fleet: this replica is now %s: %s", role, why)
            self.role = role

    def _warn(self, message: str) -> None:
        if message not in self._warned:  # once per distinct problem, not once per check
            self._warned.add(message)
            log.warning("%s", message)


_ABANDONED: set[asyncio.Task[None]] = set()


async def _close_after(tasks: set[asyncio.Task[None]], coordinator: Coordinator) -> None:
    if tasks:
        await asyncio.wait(tasks)
    with contextlib.suppress(Exception):
        await coordinator.close()


async def _fetch_after(cache_ref: weakref.ref[CatalogCache] | None) -> None:
    cache = cache_ref() if cache_ref is not None else None
    if cache is None:
        return
    busy = cache.busy
    if busy is not None:
        await asyncio.wait([busy])
    await cache.refresh_in_background()


async def _listen(fleet_ref: weakref.ref[Fleet], coordinator: Coordinator) -> None:
    """Follow the coordinator's news until cancelled; probe it while it is away."""
    while True:
        try:
            async with contextlib.aclosing(coordinator.watch()) as news:
                async for changed in news:
                    if not await _heard(fleet_ref, changed):
                        break
        except asyncio.CancelledError:
            raise
        except Exception:
            fleet = fleet_ref()
            if fleet is None:
                return
            # The news feed broke (its connection killed, or Redis gone): a probe says which.
            if fleet.role != "solo" and await fleet.reachable():
                continue  # Redis is there: subscribe again at once
            del fleet
        if fleet_ref() is None:
            return
        await asyncio.sleep(coordinator.probe_interval)


async def _heard(fleet_ref: weakref.ref[Fleet], changed: bool) -> bool:
    """Act on one item of news; ``False`` when listening should stop (solo, or dropped)."""
    current = asyncio.current_task()
    if current is not None and current.cancelling():  # see Fleet.stop
        raise asyncio.CancelledError
    fleet = fleet_ref()
    if fleet is None:
        return False
    fleet.heard(changed)
    with contextlib.suppress(_UnreachableError):
        await fleet.check()
    return fleet.role != "solo"
