"""An aiohttp web service that shares one ImageModelsSession across all requests.

The session is opened once at start-up and closed at shutdown through
``cleanup_ctx``; handlers read the cached catalog, so a request never waits
for NanoGPT (after the first fetch) and keeps working through its outages.

Run it::

    python examples/aiohttp_service.py
    curl 'localhost:8080/models?capability=inpainting&sort=price'

Routes:

* ``GET /models`` with any of the ``find()`` filters as query parameters
  (``capability``, ``resolution``, ``max_price``, ``owned_by``, ``tag``, ``text``...)
  and ``sort``; answers ``{"models": [{"id", "name", "price_from"}, ...]}``.
* ``POST /check`` with ``{"model": ..., "resolution": ..., "n": ...}`` and any
  other request parameter; answers 200 with the normalised request and its
  price, 422 with the problems, or 404 with close model ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from nanogpt_images import ImageModelsSession, ModelNotFoundError, ParameterValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SESSION = web.AppKey("nanogpt_session", ImageModelsSession)
FILTERS = (
    "capability",
    "input_modality",
    "output_modality",
    "resolution",
    "max_price",
    "owned_by",
    "tag",
    "text",
)


def create_app(**session_options: Any) -> web.Application:
    """The web app; ``session_options`` go to ``ImageModelsSession`` (key and URL from env)."""
    app = web.Application()

    async def nanogpt_session(app: web.Application) -> AsyncIterator[None]:
        async with ImageModelsSession(**session_options) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(nanogpt_session)
    app.router.add_get("/models", list_models)
    app.router.add_post("/check", check_request)
    return app


async def list_models(request: web.Request) -> web.Response:
    """``GET /models?capability=inpainting&max_price=0.05&sort=price``."""
    session = request.app[SESSION]
    query = request.query
    filters: dict[str, Any] = {name: query[name] for name in FILTERS if name in query}
    if "capability" in query:
        filters["capability"] = query.getall("capability")
    try:
        models = await session.find(sort=query.get("sort"), **filters)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    resolution = query.get("resolution")
    return web.json_response(
        {
            "models": [
                {
                    "id": model.id,
                    "name": model.display_name,
                    "price_from": _money(model.price(resolution)),
                }
                for model in models
            ]
        }
    )


async def check_request(request: web.Request) -> web.Response:
    """``POST /check`` ``{"model": "flux-pro", "resolution": "1024x1024", "n": 1}``."""
    session = request.app[SESSION]
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send a JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise web.HTTPBadRequest(text='send a JSON object with a "model" id')
    params = {key: value for key, value in body.items() if key != "model"}
    try:
        model = await session.get_model(body["model"])
        normalised = model.validate(**params)
    except ModelNotFoundError as exc:
        return web.json_response(
            {"error": str(exc), "suggestions": list(exc.suggestions)}, status=404
        )
    except ParameterValidationError as exc:
        problems = [
            {"parameter": p.parameter, "message": p.message, "suggestion": p.suggestion}
            for p in exc.problems
        ]
        return web.json_response({"ok": False, "problems": problems}, status=422)
    cost = model.price(normalised.get("resolution"), normalised.get("n", 1))
    return web.json_response({"ok": True, "request": normalised, "price": _money(cost)})


def _money(value: Any) -> str | None:
    return None if value is None else str(value)


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)
