"""Type-checked only (mypy --strict): the public API reads as users will write it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nanogpt_images import (
    Budget,
    BudgetExceededError,
    CacheStats,
    Catalog,
    CatalogChange,
    Endpoint,
    GeneratedImage,
    Generation,
    ImageModel,
    ImageModelsSession,
    InputImage,
    ModelEndpoints,
    ParameterValidationError,
    PossiblyBilledError,
    PriceLine,
    dump_endpoints,
    parse_catalog,
    parse_endpoints,
)

if TYPE_CHECKING:
    from decimal import Decimal


async def picker() -> None:
    async with ImageModelsSession(ttl=60.0, refresh_interval=None) as session:
        catalog: Catalog = await session.catalog()
        model: ImageModel = await session.get_model("flux-pro")
        matches: tuple[ImageModel, ...] = await session.find(capability="inpainting")
        try:
            params: dict[str, object] = model.validate(resolution="1024x1024", n=2)
        except ParameterValidationError as error:
            problems = error.problems
            assert problems
        cost: Decimal | None = model.price(resolution="1024x1024", n=2)
        stats: CacheStats = session.stats()
        assert stats.source in (None, "network", "not_modified", "disk", "stale")

        def on_change(change: CatalogChange) -> None:
            print(change.added, change.removed, change.changed)

        unsubscribe = session.subscribe(on_change)
        unsubscribe()
        del catalog, matches, params, cost


def offline() -> Catalog:
    catalog: Catalog = parse_catalog(b'{"data": []}').prepare()
    cheap: tuple[ImageModel, ...] = catalog.filter(max_price="0.05", sort="price")
    del cheap
    return catalog


async def endpoint_checks(png: bytes) -> None:
    async with ImageModelsSession(route="images", endpoints_ttl=600.0) as session:
        info: ModelEndpoints = await session.endpoints("gpt-image-2")
        endpoint: Endpoint = info.endpoints[0]
        lines: tuple[PriceLine, ...] = endpoint.pricing or ()
        usd: float | None = lines[0].per_image_usd if lines else None
        image: InputImage = InputImage.from_bytes(png)
        params: dict[str, object] = await session.validate(
            "gpt-image-2", resolution="1024x1024", input_images=[image]
        )
        cost: Decimal | None = await session.price("gpt-image-2", resolution="auto", n=2)
        body: dict[str, object] = dump_endpoints(parse_endpoints(b'{"id": "m", "endpoints": []}'))
        hits: int = session.stats().endpoint_hits
        del usd, params, cost, body, hits


async def typed_filters(session: ImageModelsSession, catalog: Catalog) -> None:
    def safe(model: ImageModel) -> bool:
        return model.capabilities is None or model.capabilities.nsfw is not True

    found: tuple[ImageModel, ...] = await session.find(
        capability=["inpainting"], exclude_capability="nsfw", where=safe, sort="name"
    )
    cheapest: ImageModel | None = catalog.cheapest(
        capability="inpainting", exclude_capability="nsfw"
    )
    checked: tuple[str, ...] = catalog.models[0].validate(quality="high").unchecked
    await session.find(capabilty="inpainting")  # type: ignore[call-arg]
    catalog.filter(exclude_capabilities="nsfw")  # type: ignore[call-arg]
    catalog.cheapest(sort="price")  # type: ignore[call-arg]
    catalog.filter(where="nsfw")  # type: ignore[arg-type]
    del found, cheapest, checked


async def paid(budget: Budget) -> bytes:
    async with ImageModelsSession("sk-nano-key") as session:
        try:
            result: Generation = await session.generate(
                "flux-pro", "a fox", resolution="1024x1024", n=1, max_cost="0.10", budget=budget
            )
        except PossiblyBilledError:
            raise
        except BudgetExceededError as refused:
            left: Decimal = refused.limit
            del left
            raise
        cost: Decimal = result.cost
        balance: Decimal | None = result.remaining_balance
        image: GeneratedImage = result.images[0]
        del cost, balance
        return image.data or await image.read()
