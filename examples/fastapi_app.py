"""A FastAPI app that opens one ImageModelsSession in its lifespan.

Needs ``pip install fastapi uvicorn`` (not dependencies of nanogpt-images)::

    uvicorn --factory examples.fastapi_app:create_app

The helpers :func:`model_summary` and :func:`check` are plain functions, so
they are tested without FastAPI; :func:`create_app` imports FastAPI only when
called.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from nanogpt_images import ImageModel, ImageModelsSession, ParameterValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI


def model_summary(model: ImageModel, resolution: str | None = None) -> dict[str, Any]:
    """What a model picker needs: id, name, resolutions and the (from) price as a string."""
    price = model.price(resolution)
    return {
        "id": model.id,
        "name": model.display_name,
        "resolutions": list(model.resolutions or ()),
        "price": None if price is None else str(price),
    }


def check(model: ImageModel, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` for a pre-flight check: 200 with the price, or 422 with the problems."""
    try:
        request = model.validate(**params)
    except ParameterValidationError as exc:
        return 422, {"ok": False, "problems": [problem.message for problem in exc.problems]}
    price = model.price(request.get("resolution"), request.get("n", 1))
    return 200, {"ok": True, "request": request, "price": None if price is None else str(price)}


def create_app(**session_options: Any) -> FastAPI:  # pragma: no cover - needs fastapi
    """The FastAPI app; ``session_options`` go to ``ImageModelsSession``."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse

    from nanogpt_images import ModelNotFoundError

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ImageModelsSession(**session_options) as session:
            app.state.nanogpt = session
            yield

    app = FastAPI(lifespan=lifespan)

    def session_of(request: Request) -> ImageModelsSession:
        session: ImageModelsSession = request.app.state.nanogpt
        return session

    @app.get("/models")
    async def list_models(
        request: Request, capability: str | None = None, resolution: str | None = None
    ) -> list[dict[str, Any]]:
        models = await session_of(request).find(capability=capability, resolution=resolution)
        return [model_summary(model, resolution) for model in models]

    @app.post("/check/{model_id:path}")
    async def check_request(request: Request, model_id: str) -> JSONResponse:
        try:
            model = await session_of(request).get_model(model_id)
        except ModelNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        status, body = check(model, await request.json())
        return JSONResponse(body, status_code=status)

    return app
