"""``ImageModelsSession``: the public face that wires transport, cache and refresher."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Self

import attrs

from . import _store as store_module
from ._cache import CacheStats, CatalogCache, Copy, Listener, Source
from ._clock import SYSTEM_CLOCK, Clock
from ._coordinator import Coordinator
from ._diff import diff_catalogs, diff_untracked
from ._endpoint_cache import EndpointCache
from ._endpoint_source import EndpointSource, endpoints_path
from ._errors import (
    APIStatusError,
    DecodeError,
    ModelNotFoundError,
    ParameterValidationError,
    SessionClosedError,
    TransportError,
)
from ._fleet import Fleet
from ._generation import generate
from ._image_checks import PARAMETER as IMAGES_PARAMETER
from ._image_checks import check_input_images, image_limits
from ._input_images import InputImage
from ._options import check_bool, check_count, check_seconds
from ._pace import Workers, WorkStoppedError, pace
from ._queries import filter_names_checked
from ._refresher import JITTER, Refresher
from ._source import CatalogSource
from ._store import CatalogStore, FileStore, Store, StoredResponse
from ._transport import CATALOG_ROUTES, Transport, resolve_api_key, resolve_base_url

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from decimal import Decimal
    from types import TracebackType

    import aiohttp

    from ._budget import Budget
    from ._diff import CatalogChange
    from ._endpoints import ModelEndpoints
    from ._generation import Generation
    from ._image_checks import ImageLimits
    from ._models import Catalog, ImageModel, InputImageConstraints, ValidationProblem
    from ._queries import SortKey
    from ._validation import ValidatedParams

__all__ = ["ImageModelsSession"]

log = logging.getLogger("nanogpt_images")

ChangeCallback = Callable[["CatalogChange"], Awaitable[None] | None]
Route = Literal["image-models", "images"]

#: Two catalogs with this many models between them are compared (and the old one freed)
#: in a worker thread.
OFF_LOOP_MODELS = 2_000
#: Seconds close() waits for work in threads to stop (it stops within a few ms).
WORKERS_WAIT = 5.0


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class ImageModelsSession:
    """NanoGPT's image-model catalog, cached in memory and refreshed in the background.

    Use it as ``async with ImageModelsSession() as session:`` or call
    :meth:`start` and :meth:`close`.  Constructing it does no I/O and needs no
    running loop; a read before :meth:`start` starts it (closing stays your
    job).  Reads of a fresh copy return at once; a stale copy is served while
    a background refresh runs; through an outage the last good copy is served
    for up to ``max_stale`` seconds past its expiry.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        detailed: bool = True,
        ttl: float = 300.0,
        refresh_interval: float | None = 240.0,
        max_stale: float = 86400.0,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_retry_after: float = 60.0,
        auth_header: str = "authorization",
        allow_insecure_http: bool = False,
        max_response_bytes: int = 32 * 2**20,
        http_session: aiohttp.ClientSession | None = None,
        cache_path: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
        connect_timeout: float | None = None,
        retry_backoff_base: float = 0.5,
        retry_backoff_cap: float = 8.0,
        wait_timeout: float | None = None,
        route: Route = "image-models",
        endpoints_ttl: float = 300.0,
        endpoints_maxsize: int = 1024,
        trust_env: bool = True,
        proxy: str | None = None,
        generation_timeout: float = 300.0,
        coordinator: Coordinator | None = None,
    ) -> None:
        """Configure the session; nothing is fetched and no loop is needed yet.

        The options past ``clock`` extend the contract: ``store`` keeps the last
        good response somewhere other than a file (``cache_path`` is a
        :class:`FileStore`); ``connect_timeout`` bounds connecting alone, within
        ``timeout`` per attempt; a retried request waits a random time up to
        ``retry_backoff_base * 2**attempt`` seconds, at most
        ``retry_backoff_cap`` (the background refresh has its own backoff, from
        1 s up to ``refresh_interval``); ``wait_timeout`` bounds how long a read
        waits when nothing usable is cached (then :class:`RequestTimeoutError`;
        the fetch goes on for later reads); ``trust_env`` reads proxies from
        ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``, and ``proxy`` names one
        explicitly.  ``generation_timeout`` bounds one :meth:`generate` request
        (connecting is still bounded by ``connect_timeout``, else ``timeout``).
        ``coordinator`` (such as ``nanogpt_images.redis.RedisCoordinator``)
        shares one catalog between replicas: see the fleet page of the docs.

        ``route`` picks the catalog: ``"image-models"`` (``GET
        /api/v1/image-models``) or ``"images"`` (``GET /api/v1/images/models``,
        the route NanoGPT recommends for new integrations; it has no prices,
        which :meth:`price` and ``find(max_price=...)`` then take from each
        model's endpoint details).  :meth:`endpoints` keeps the details of up to
        ``endpoints_maxsize`` models, each fresh for ``endpoints_ttl`` seconds.
        """
        check_seconds("ttl", ttl)
        check_seconds("refresh_interval", refresh_interval, none=True)
        check_seconds("max_stale", max_stale, positive=False, infinite=True)
        check_seconds("wait_timeout", wait_timeout, none=True)
        check_bool("detailed", detailed)
        check_seconds("endpoints_ttl", endpoints_ttl)
        check_count("endpoints_maxsize", endpoints_maxsize, positive=True)
        if route not in CATALOG_ROUTES:
            raise ValueError(
                f"route must be 'image-models' (GET /api/v1/image-models) or 'images' "
                f"(GET /api/v1/images/models), not {route!r}"
            )
        self._route = route
        if clock is not None and not isinstance(clock, Clock):
            raise TypeError(
                "clock must have monotonic(), time() and async sleep() (see "
                f"nanogpt_images.testing.FakeClock), not {type(clock).__name__}"
            )
        if cache_path is not None and store is not None:
            raise ValueError("pass cache_path or store, not both (cache_path is a FileStore)")
        if store is not None and not isinstance(store, Store):
            raise TypeError(
                f"store must have async load() and save() (a Store), not {type(store).__name__}"
            )
        self._clock = clock or SYSTEM_CLOCK
        self._detailed = detailed
        self._wait_timeout = wait_timeout
        self._transport = Transport(
            api_key=resolve_api_key(api_key),
            base_url=resolve_base_url(base_url),
            auth_header=auth_header,
            timeout=timeout,
            connect_timeout=connect_timeout,
            backoff_base=retry_backoff_base,
            backoff_cap=retry_backoff_cap,
            max_retries=max_retries,
            max_retry_after=max_retry_after,
            allow_insecure_http=allow_insecure_http,
            max_response_bytes=max_response_bytes,
            http_session=http_session,
            clock=self._clock,
            catalog_path=CATALOG_ROUTES[route],
            trust_env=trust_env,
            proxy=proxy,
            generation_timeout=generation_timeout,
        )
        self._workers = Workers()
        self._source = CatalogSource(
            self._transport, detailed=detailed, clock=self._clock, workers=self._workers
        )
        self._fleet = (
            _fleet(
                coordinator,
                self._source,
                scope=f"{self._transport.url}?detailed={'true' if detailed else 'false'}",
                clock=self._clock,
                ttl=ttl,
                max_stale=max_stale,
                refresh_interval=refresh_interval,
                timeout=timeout,
                max_retries=max_retries,
                max_retry_after=max(max_retry_after, retry_backoff_cap),
                max_body_bytes=max_response_bytes,
            )
            if coordinator is not None
            else None
        )
        if cache_path is not None:
            store = FileStore(cache_path)
        self._store = (
            CatalogStore(store, detailed=detailed, url=self._transport.url)
            if store is not None
            else None
        )
        self._cache = CatalogCache(
            self._fleet or self._source,
            clock=self._clock,
            ttl=ttl,
            max_stale=max_stale,
            max_backoff=refresh_interval or ttl,
            on_install=_weakly(self._installed),  # no cycle: a dropped session is freed at once
        )
        self._warm = self._cache.warm
        if self._fleet is not None:
            self._fleet.attach(self._cache)
        endpoint_source = EndpointSource(self._transport, _suggester(weakref.ref(self)))
        self._endpoint_cache = EndpointCache(
            endpoint_source,
            clock=self._clock,
            ttl=endpoints_ttl,
            max_stale=max_stale,
            max_backoff=refresh_interval or ttl,
            maxsize=endpoints_maxsize,
        )
        endpoint_source.pace = self._endpoint_cache.pacer.wait  # retries keep the pace too
        self._endpoints_warm = self._endpoint_cache.warm
        self._priced: tuple[Catalog, dict[str, ModelEndpoints], Catalog] | None = None
        self._limits: dict[str, tuple[ImageModel, InputImageConstraints | None, ImageLimits]] = {}
        self._refresher = (
            Refresher(self._cache, clock=self._clock, interval=refresh_interval)
            if refresh_interval is not None
            else None
        )
        self._subscribers: list[ChangeCallback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._retiring: asyncio.Task[None] | None = None
        self._state = _State.UNOPENED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[None] | None = None
        self._loading: asyncio.Task[bool] | None = None
        self._start_waiters = 0
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"ImageModelsSession(url={self._transport.url!r}, detailed={self._detailed}, "
            f"state={self._state.value!r})"
        )

    # -- lifecycle ----------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Load the stored copy (with ``cache_path``) and start the background refresh.

        Idempotent; concurrent callers (and the reads that start the session
        implicitly) all wait for the one start.  Cancelling a caller does not
        cut the start short for the others; cancelling the last one waiting
        does (an ``async with`` under a timeout leaves nothing running), and
        the next call starts afresh.
        """
        if self._state is _State.CLOSED:
            raise SessionClosedError("the session is closed; open a new ImageModelsSession")
        if self._opening is not None and self._opening.done() and not self._opening.cancelled():
            self._check_loop()  # started already: the usual case of an implicit start by a read
            return
        if self._opening is None or self._opening.cancelled():
            self._loop = asyncio.get_running_loop()
            self._state = _State.OPEN
            self._opening = self._loop.create_task(
                self._open(), name="nanogpt_images session start"
            )
        else:
            self._check_loop()
        opening = self._opening
        self._start_waiters += 1
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if opening.cancelled() and (current is None or current.cancelling() == 0):
                # close() stopped the start; this caller was not cancelled itself.
                raise SessionClosedError("the session was closed while it started") from None
            if self._start_waiters == 1 and not opening.done():  # nobody else wants it
                opening.cancel()
            raise
        finally:
            self._start_waiters -= 1

    async def _open(self) -> None:
        self._cache.bind()
        loaded = False
        if self._store is not None:
            self._loading = asyncio.get_running_loop().create_task(
                self._load_stored_copy(), name="nanogpt_images stored copy load"
            )
            done, _ = await asyncio.wait([self._loading], timeout=store_module.LOAD_WAIT)
            if done:
                loaded = self._loading.result()
            else:  # it may still answer: then its copy is used if nothing newer came meanwhile
                log.warning(
                    "%r has not loaded the catalog within %g s; fetching it meanwhile",
                    self._store.store,
                    store_module.LOAD_WAIT,
                )
        if self._state is _State.OPEN:  # close() may have run while the copy loaded
            if self._fleet is not None:
                self._fleet.start()
            if self._refresher is not None:
                self._refresher.start(immediately=True)
            elif loaded:
                self._cache.refresh_soon()

    async def _load_stored_copy(self) -> bool:
        """Install the stored copy, if there is a usable one; ``True`` when installed."""
        assert self._store is not None
        stored = await self._store.load()
        if stored is None or self._state is not _State.OPEN or self._fetched_meanwhile():
            return False  # none, closed meanwhile, or a fetch was quicker (and is newer)
        try:
            catalog = await self._source.read(stored.body)
        except DecodeError as exc:
            log.warning("ignoring the stored catalog: %s", exc)
            return False
        copy = Copy(
            catalog=catalog,
            fetched_at=stored.fetched_at,
            etag=stored.etag,
            last_modified=stored.last_modified,
            body=stored.body,
        )
        if self._fetched_meanwhile():  # a fetch landed while the copy was read
            return False
        age = max(self._clock.time() - stored.fetched_at, 0.0)
        self._cache.install(copy, source="disk", age=age)
        return True

    def _fetched_meanwhile(self) -> bool:
        """Whether a copy is installed already: then a stored one, older, is not wanted."""
        return self._cache.current is not None

    async def close(self) -> None:
        """Stop the background refresh, cancel what is in flight, close owned connections.

        Idempotent, and safe to call concurrently or from a change subscriber:
        every caller returns once the session is fully shut.  Nothing the
        session started outlives this call.  Cancelling a caller does not stop
        the shutdown half-way.
        """
        self._state = _State.CLOSED
        # A subscriber closing the session is the caller here: it is not cancelled, it returns.
        self._callback_tasks.discard(asyncio.current_task())
        if self._closing is None or self._closing.cancelled():  # cut off: run it again
            self._closing = asyncio.get_running_loop().create_task(
                self._shut_down(), name="nanogpt_images session close"
            )
        elif self._closing.done():
            return
        await asyncio.shield(self._closing)

    async def _shut_down(self) -> None:
        self._workers.stop_soon()  # a read in a thread ends within ms once its fetch is cancelled
        # Dropping a big catalog frees its models in one C call that holds the GIL (30 ms at
        # 10,000): they are kept here, and freed a slice at a time in a thread at the end.
        current = self._cache.current
        kept = list(current.catalog.models) if current is not None else []
        if len(kept) < OFF_LOOP_MODELS:
            kept = []
        del current
        try:
            for starting in (self._opening, self._loading):
                if starting is not None and not starting.done():  # a slow store: stop waiting
                    starting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await starting
            if self._refresher is not None:
                await self._refresher.stop()
            await self._cache.close()
            if self._fleet is not None:
                await self._fleet.stop()
            await self._endpoint_cache.close()
            tasks = list(self._callback_tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._workers.stop(WORKERS_WAIT)
            self._source.forget()
            if self._store is not None:
                await self._store.close()
            if kept:
                await Workers().run(_free_in_slices, kept)  # ours stopped; this one ends here
        finally:
            kept.clear()
            await self._transport.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        """A session dropped while open says so, as an unclosed aiohttp session does.

        Its background work stops too: nothing would ever read what it fetched.
        """
        if getattr(self, "_state", None) is not _State.OPEN:
            return
        _warn(
            f"unclosed {self!r}: use 'async with ImageModelsSession() as session:' "
            "or await session.close()",
            ResourceWarning,
            source=self,
        )
        if self._refresher is not None:
            self._refresher.abandon()
        self._cache.abandon()
        if self._fleet is not None:
            self._fleet.abandon()
        self._endpoint_cache.abandon()
        with contextlib.suppress(RuntimeError):  # no running loop here: nothing to schedule on
            if asyncio.get_running_loop() is self._loop:
                task = self._loop.create_task(self._transport.close())
                _ABANDONED.add(task)  # kept until done: the loop holds tasks only weakly
                task.add_done_callback(_ABANDONED.discard)

    # -- reading ------------------------------------------------------------

    async def catalog(self) -> Catalog:
        """The current catalog; waits only when nothing usable is cached."""
        catalog = self._cache.peek()
        if catalog is not None:
            return catalog
        await self.start()
        return await self._cache.get(give_up_after=self._wait_timeout)

    async def get_model(self, model_id: str) -> ImageModel:
        """The model with this id; raises :class:`ModelNotFoundError` with close ids."""
        # The warm path: a dict read.  ``models`` is empty unless the copy is fresh.
        warm = self._warm
        try:
            model = warm.models[model_id]
        except (KeyError, TypeError):  # TypeError: not a string; the slow path says so
            # A stale copy (which starts a refresh), a fetch, or the error saying what is wrong.
            return (await self.catalog())[model_id]
        warm.hits += 1
        return model

    @filter_names_checked
    async def find(
        self,
        /,
        *,
        capability: str | Iterable[str] | None = None,
        exclude_capability: str | Iterable[str] | None = None,
        input_modality: str | None = None,
        output_modality: str | None = None,
        resolution: str | None = None,
        max_price: Decimal | float | str | None = None,
        owned_by: str | None = None,
        tag: str | None = None,
        text: str | None = None,
        where: Callable[[ImageModel], bool] | None = None,
        sort: SortKey | None = None,
    ) -> tuple[ImageModel, ...]:
        """Models matching every filter, in catalog order or by ``sort``.

        ``capability`` (a flag name or several, all required),
        ``exclude_capability`` (a flag name or several: a model with any of
        them set to true is dropped), ``input_modality``, ``output_modality``,
        ``resolution``, ``max_price`` (at ``resolution``, or the cheapest one),
        ``owned_by``, ``tag``, ``text`` (case-insensitive, in id, name or
        description) and ``where`` (a function ``ImageModel -> bool`` for
        anything else).  ``None`` is no filter; an unknown filter name is a
        :class:`TypeError` naming the close one.
        """
        catalog = await self.catalog()
        if self._route == "images" and (max_price is not None or sort == "price"):
            catalog = await self._with_endpoint_prices(catalog)
        return catalog.filter(
            capability=capability,
            exclude_capability=exclude_capability,
            input_modality=input_modality,
            output_modality=output_modality,
            resolution=resolution,
            max_price=max_price,
            owned_by=owned_by,
            tag=tag,
            text=text,
            where=where,
            sort=sort,
        )

    async def refresh(self) -> Catalog:
        """Fetch now (joining a fetch in flight) and return the resulting catalog."""
        await self.start()
        return await self._cache.refresh()

    async def generate(
        self,
        model_id: str,
        prompt: str,
        /,
        *,
        resolution: str | None = None,
        n: int | None = None,
        input_images: Sequence[bytes | str] = (),
        max_cost: Decimal | float | str | None = None,
        response_format: str = "b64_json",
        budget: Budget | None = None,
        **params: Any,
    ) -> Generation:
        """Generate images with ``POST {base_url}/v1/images/generations``, checked first.

        Before anything is sent: an API key must be set
        (:class:`AuthenticationError`), the model must exist
        (:class:`ModelNotFoundError`), the prompt and parameters must pass
        :meth:`ImageModel.validate` and the input images (bytes, or
        ``data:image/...;base64,`` URLs, 4 MB each at most) the check
        :meth:`validate` runs, against the model's endpoint limits
        (:class:`ParameterValidationError`),
        and the price estimate must fit ``max_cost`` and ``budget``
        (:class:`BudgetExceededError`; an unknown price is refused when
        either is set).  ``resolution`` is sent as ``size``; other keyword
        parameters are passed through.  The request is tried again only
        after a failure to connect or a 429; once it may have reached
        NanoGPT it is never resent, and a doubtful outcome raises a
        :class:`PossiblyBilledError`.
        """
        return await generate(
            self._transport,
            self.get_model,
            model_id,
            prompt,
            resolution=resolution,
            n=n,
            input_images=input_images,
            max_cost=max_cost,
            response_format=response_format,
            budget=budget,
            params=params,
            check_images=self._input_image_problems,
        )

    def stats(self) -> CacheStats:
        """A snapshot of the cache's counters and the current copy's age and source.

        The ``endpoint_*`` fields count the endpoint-details cache; ``role`` and
        the coordinator counters say what the fleet did (``None``/0 without one).
        """
        details = self._endpoint_cache
        fleet = self._fleet
        return attrs.evolve(
            self._cache.stats(),
            endpoint_hits=details.hits,
            endpoint_misses=details.misses,
            endpoint_fetches=details.fetches,
            endpoint_errors=details.errors,
            endpoint_size=details.size,
            role=fleet.role if fleet is not None else None,
            shared_installs=fleet.shared_installs if fleet is not None else 0,
            coordinator_errors=fleet.errors if fleet is not None else 0,
        )

    async def wait_idle(self) -> None:
        """Wait until nothing runs on the session's behalf: no fetch, save or subscriber call.

        For tests that move a ``FakeClock``: once this returns, the refresh the
        clock set off is over, and so are the ``subscribe()`` callbacks of the
        change it brought (async ones included).  Time does not move here.
        """
        while busy := self._busy():
            await asyncio.wait(busy)

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` (sync or async) with each :class:`CatalogChange` a refresh finds.

        Not called for the first load.  Returns a function that unsubscribes.
        A callback that raises is logged and does not affect the others.
        """
        if not callable(callback):
            raise TypeError(
                "subscribe() takes a function of one CatalogChange (sync or async), "
                f"not {type(callback).__name__}"
            )
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    # -- endpoint details, input images, prices (architecture section 10) ---

    async def endpoints(self, model_id: str) -> ModelEndpoints:
        """The endpoint details of ``model_id`` (provider, price lines, input-image limits).

        From ``GET /api/v1/images/models/{id}/endpoints``, cached per model and
        refreshed like the catalog.  An id the catalog does not list raises
        :class:`ModelNotFoundError` without a request.
        """
        try:
            details = self._endpoints_warm[model_id]  # the warm path: a dict read
        except (KeyError, TypeError):
            pass
        else:
            self._endpoint_cache.hits += 1
            return details
        if not isinstance(model_id, str):
            raise TypeError(
                f"a model id is a string such as 'flux-pro', not {type(model_id).__name__}"
            )
        model = await self.get_model(model_id)  # ModelNotFoundError for an unlisted id
        return await self._endpoint_cache.get(model_id, endpoints_path(model))

    async def validate(
        self, model_id: str, /, *, input_images: Iterable[InputImage] = (), **params: Any
    ) -> ValidatedParams:
        """Check a generation request, input images included; return the normalised params.

        The model's own :meth:`ImageModel.validate` (its result, with what was
        ``checked`` and ``unchecked``), plus each of ``input_images`` against
        the limits of the model's endpoint details (count, width and height,
        bytes, format), whether it takes images at all, and the generation
        route's cap of 4 MB an image.  Every problem is listed in one
        :class:`ParameterValidationError`.
        """
        images = _input_images(input_images)
        model = await self.get_model(model_id)
        checked: ValidatedParams | None = None
        problems: list[ValidationProblem] = []
        try:
            checked = model.validate(**params)
        except ParameterValidationError as exc:
            problems = list(exc.problems)
        if images:
            problems += check_input_images(model.id, await self._image_limits(model), images)
        if problems or checked is None:
            raise ParameterValidationError(model.id, problems)
        return checked

    async def price(
        self, model_id: str, /, *, resolution: str | None = None, n: int = 1
    ) -> Decimal | None:
        """USD cost of ``n`` images at ``resolution``: the catalog's price, else the endpoint's.

        With no resolution it is the lowest price.  ``None`` when neither gives one.
        """
        model = await self.get_model(model_id)
        cost = model.price(resolution, n)
        if cost is not None:
            return cost
        try:
            primary = (await self.endpoints(model.id)).primary
        except ModelNotFoundError as exc:  # listed, but its details route says 404
            log.warning("pricing %r from the catalog only: no endpoint details (%s)", model.id, exc)
            return None
        pricing = primary.as_pricing() if primary is not None else None
        return attrs.evolve(model, pricing=pricing).price(resolution, n) if pricing else None

    async def _input_image_problems(
        self, model: ImageModel, images: Sequence[InputImage | None]
    ) -> list[ValidationProblem]:
        """``generate()``'s input-image check, the one :meth:`validate` runs: the endpoint's
        limits (else the catalog's) and the route's 4 MB cap.  ``None`` is an image refused
        already (not an image): counted, not checked again."""
        limits = await self._image_limits(model)
        problems = check_input_images(model.id, limits, [i or InputImage() for i in images])
        refused = {f"{IMAGES_PARAMETER}[{n}]" for n, image in enumerate(images) if image is None}
        return [problem for problem in problems if problem.parameter not in refused]

    async def _image_limits(self, model: ImageModel) -> ImageLimits:
        """The input-image limits of ``model``, worked out once per model and details."""
        constraints = await self._input_constraints(model)
        memo = self._limits.get(model.id)
        if memo is not None and memo[0] is model and memo[1] is constraints:
            return memo[2]
        limits = image_limits(model, constraints)
        if len(self._limits) >= _LIMITS_KEPT:
            self._limits.clear()
        self._limits[model.id] = (model, constraints, limits)
        return limits

    async def _input_constraints(self, model: ImageModel) -> InputImageConstraints | None:
        """The endpoint's input-image limits; ``None`` (the catalog's) when out of reach."""
        try:
            primary = (await self.endpoints(model.id)).primary
        except (TransportError, APIStatusError, DecodeError, ModelNotFoundError) as exc:
            # ModelNotFoundError: the catalog lists the model, its details route says 404.
            log.warning(
                "checking input images of %r against the catalog only: no endpoint details (%s)",
                model.id,
                exc,
            )
            return None
        return primary.input_constraints if primary is not None else None

    async def _with_endpoint_prices(self, catalog: Catalog) -> Catalog:
        """``catalog`` with each unpriced model priced by its endpoint details (cached).

        One request per unpriced model the first time (paced under NanoGPT's
        rate limit); a model whose details fail keeps no price.
        """
        unpriced = [model for model in catalog if model.pricing is None]
        found = await asyncio.gather(
            *(self.endpoints(model.id) for model in unpriced), return_exceptions=True
        )
        details = {
            model.id: result
            for model, result in zip(unpriced, found, strict=True)
            if not isinstance(result, BaseException)
        }
        memo = self._priced
        if (
            memo is not None
            and memo[0] is catalog
            and memo[1].keys() == details.keys()
            and all(memo[1][key] is value for key, value in details.items())
        ):
            return memo[2]
        models = []
        for model in catalog:
            info = details.get(model.id)
            primary = info.primary if info is not None else None
            pricing = primary.as_pricing() if primary is not None else None
            models.append(attrs.evolve(model, pricing=pricing) if pricing else model)
        priced = attrs.evolve(catalog, models=tuple(models))
        self._priced = (catalog, details, priced)
        return priced

    # -- internals ----------------------------------------------------------

    def _check_loop(self) -> None:
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "this ImageModelsSession was started in another event loop; "
                "create one session per event loop"
            )

    def _busy(self) -> list[asyncio.Future[Any]]:
        """What is running on the session's behalf now: the fetch, saves, subscribers (tests)."""
        saving = self._store.saving if self._store is not None else None
        tasks = (self._cache.busy, saving, *self._callback_tasks, *self._endpoint_cache.busy())
        return [task for task in tasks if task]

    def _installed(self, previous: Copy | None, new: Copy, source: Source) -> None:
        """Each copy the cache installs: saved (unless it came from the store), changes told."""
        if self._store is not None and source != "disk" and new.body is not None:
            self._store.save(
                StoredResponse(
                    body=new.body,
                    detailed=self._detailed,
                    fetched_at=new.fetched_at,
                    etag=new.etag,
                    last_modified=new.last_modified,
                    url=self._transport.url,
                )
            )
        if previous is None or new.catalog is previous.catalog:
            return
        before, after = previous.catalog, new.catalog
        self._endpoint_cache.drop(_changed_ids(self._endpoint_cache.ids(), before, after))
        big = len(before) + len(after) >= OFF_LOOP_MODELS
        telling = self._retiring is not None and not self._retiring.done()
        if not big and not telling:
            if self._subscribers and (change := diff_catalogs(before, after)):
                self._notify(change)
            return
        # A big catalog: the diff (~10 µs a model) and even freeing the old copy would stall
        # the loop, so both happen in a thread. A change after it waits its turn: in order.
        task = asyncio.get_running_loop().create_task(
            self._retire(self._retiring, [before], after if self._subscribers else None, big)
        )
        self._retiring = task
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_done)

    async def _retire(
        self,
        prior: asyncio.Task[None] | None,
        held: list[Catalog],
        after: Catalog | None,
        threaded: bool,
    ) -> None:
        """Diff the old catalog in ``held`` against ``after``, tell after ``prior``; free it.

        The old models are freed here, a slice at a time in a thread, whoever
        drops the old catalog last: this keeps them until then (an install
        frame on the loop, the change told to subscribers), so that dropping
        it frees only the catalog, never ten thousand models in one long C
        call that holds the GIL.
        """
        before = held.pop()
        models = list(before.models)
        if after is None:
            change = None
        elif threaded:
            try:
                change = await self._workers.run(diff_untracked, before, after)
            except WorkStoppedError:  # the session is closing: nobody is left to tell
                return
        else:
            change = diff_catalogs(before, after)
        del before
        if prior is not None and not prior.done():
            await asyncio.wait([prior])  # the change before this one is told first
        told = [change] if change else []
        del change
        if told:
            self._notify(told[0])
        if threaded:
            await self._workers.run(_free_in_slices, told, models)

    def _notify(self, change: CatalogChange) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(change)
            except Exception:
                log.exception("a catalog change subscriber raised")
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a catalog change subscriber raised", exc_info=task.exception())


_ABANDONED: set[asyncio.Task[None]] = set()

#: Models whose input-image limits are remembered; past this the memo starts over.
_LIMITS_KEPT = 4096


def _suggester(ref: weakref.ref[ImageModelsSession]) -> Callable[[str], tuple[str, ...]]:
    """Close ids from the session's current catalog, holding the session weakly."""

    def suggest(model_id: str) -> tuple[str, ...]:
        session = ref()
        current = session._cache.current if session is not None else None
        return current.catalog.suggest(model_id) if current is not None else ()

    return suggest


def _changed_ids(ids: Iterable[str], before: Catalog, after: Catalog) -> list[str]:
    """The ``ids`` whose model changed or disappeared from ``before`` to ``after``."""
    return [model_id for model_id in ids if before.get(model_id) != after.get(model_id)]


def _input_images(images: Any) -> tuple[InputImage, ...]:
    """``images`` as InputImages (file bytes are read with ``InputImage.from_bytes``)."""
    if type(images) in (list, tuple) and all(type(image) is InputImage for image in images):
        return tuple(images)
    if isinstance(images, InputImage | bytes | bytearray | memoryview | str) or not isinstance(
        images, Iterable
    ):
        raise TypeError(
            "input_images takes a list of InputImage (InputImage.from_bytes(data)) or of "
            f"image bytes, not {type(images).__name__}"
        )
    out = []
    for image in images:
        if isinstance(image, InputImage):
            out.append(image)
        elif isinstance(image, bytes | bytearray | memoryview):
            out.append(InputImage.from_bytes(image))
        else:
            raise TypeError(
                "each input image is an InputImage (InputImage.from_bytes(data)) or the "
                f"image file's bytes, not {type(image).__name__}"
            )
    return tuple(out)


def _fleet(
    coordinator: Any,
    source: CatalogSource,
    *,
    scope: str,
    clock: Clock,
    ttl: float,
    max_stale: float,
    refresh_interval: float | None,
    timeout: float,
    max_retries: int,
    max_retry_after: float,
    max_body_bytes: int,
) -> Fleet:
    """The fleet side of a session with a coordinator; the lease outlasts a whole fetch."""
    if not isinstance(coordinator, Coordinator):
        raise TypeError(
            "coordinator must be a Coordinator (such as nanogpt_images.redis.RedisCoordinator), "
            f"not {type(coordinator).__name__}"
        )
    coordinator.bind(scope)
    return Fleet(
        coordinator,
        source,
        scope=scope,
        clock=clock,
        ttl=ttl,
        max_stale=max_stale,
        # A refresher fires every interval +-10 %: the shared copy is due just before the
        # earliest, so the first replica to wake refreshes it and the others take it.
        due=refresh_interval * (1 - JITTER) if refresh_interval is not None else ttl,
        lease=timeout * (max_retries + 1) + max_retry_after * max_retries + 5.0,
        max_backoff=refresh_interval or ttl,
        # A coordinator may cap shared bodies lower than max_response_bytes.
        max_body_bytes=min(max_body_bytes, getattr(coordinator, "max_body_bytes", max_body_bytes)),
    )


def _free_in_slices(*held: list[Any]) -> None:
    """Drop what ``held`` holds a slice at a time: one long free would hold the GIL."""
    try:
        for items in held:
            while items:
                pace()
                del items[-64:]
    except WorkStoppedError:  # the session is closing: the rest at once, still in this thread
        for items in held:
            items.clear()


def _weakly(method: Callable[[Copy | None, Copy, Source], None]) -> Listener:
    """``method`` called through a weak reference to its object."""
    ref = weakref.WeakMethod(method)

    def call(previous: Copy | None, new: Copy, source: Source) -> None:
        bound = ref()
        if bound is not None:
            bound(previous, new, source)

    return call
