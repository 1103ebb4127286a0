"""A FastAPI app that opens one ImageModelsSession in its lifespan.

Needs ``pip install fastapi uvicorn`` (not dependencies of nanogpt-images).
From the repository's root, with ``NANOGPT_API_KEY`` (and, for a test server,
``NANOGPT_BASE_URL``) in the environment::

    uvicorn --factory examples.fastapi_app:create_app
    curl 'localhost:8000/models?capability=inpainting&resolution=1024x1024&sort=price'

Routes (the schema is at ``/openapi.json``, the docs at ``/docs``):

* ``GET /models`` with ``find()`` filters as query parameters: a picker's
  rows ``[{"id", "name", "resolutions", "price"}]``; a bad filter is a 422.
* ``GET /models/{model_id}``: one model with its limits and its price at
  each resolution; an unknown id is a 404 with close ids.
* ``POST /check/{model_id}`` with the request parameters as a JSON object:
  200 with the normalised request and its price, or 422 with every problem.
* ``POST /generate/{model_id}`` with ``{"prompt": ..., "resolution": ...,
  "n": ...}`` (and any other parameter): 200 with the images (base64), cost
  and balance; refused before paying with 404/422, or 402 above the app's
  ``max_cost``; 502 when NanoGPT failed, saying whether it may have billed.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route
# annotations at run time, so the names they use must be real at import.
import base64
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from nanogpt_images import (
    BudgetExceededError,
    ImageModel,
    ImageModelsSession,
    ModelNotFoundError,
    NanoGPTError,
    ParameterValidationError,
    PossiblyBilledError,
)

MAX_COST = Decimal("0.50")  # USD one /generate request may cost


def create_app(*, max_cost: Decimal = MAX_COST, **session_options: Any) -> FastAPI:
    """The app; ``session_options`` go to ``ImageModelsSession`` (key and URL from the env).

    ``max_cost`` caps what one ``/generate`` request may cost.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ImageModelsSession(**session_options) as session:
            app.state.nanogpt = session
            yield

    app = FastAPI(title="Image models", lifespan=lifespan)
    app.state.max_cost = max_cost
    app.add_api_route("/models", list_models, methods=["GET"])
    app.add_api_route("/models/{model_id:path}", show_model, methods=["GET"])
    app.add_api_route("/check/{model_id:path}", check_request, methods=["POST"])
    app.add_api_route("/generate/{model_id:path}", generate_images, methods=["POST"])
    return app


async def list_models(
    request: Request,
    capability: Annotated[list[str] | None, Query()] = None,
    resolution: str | None = None,
    max_price: Decimal | None = None,
    owned_by: str | None = None,
    text: str | None = None,
    sort: Literal["price", "name", "created"] | None = None,
) -> list[dict[str, Any]]:
    """Models matching every filter given, in catalog order or by ``sort``.

    FastAPI has checked each value's type (a bad one is its usual 422), so
    ``find()`` gets only filters it takes.
    """
    given = {"capability": capability, "resolution": resolution, "max_price": max_price}
    given |= {"owned_by": owned_by, "text": text}
    filters = {name: value for name, value in given.items() if value is not None}
    models = await session_of(request).find(sort=sort, **filters)
    return [model_summary(model, resolution) for model in models]


async def show_model(request: Request, model_id: str) -> dict[str, Any]:
    """One model: what a user picks from, with the price at each resolution."""
    model = await get_model(request, model_id)
    prices = {size: _money(model.price(size)) for size in model.resolutions or ()}
    return model_summary(model) | {
        "description": model.description,
        "owned_by": model.owned_by,
        "max_n": model.max_n,
        "accepts_image_input": model.accepts_image_input,
        "prices": prices,
    }


async def check_request(
    request: Request, model_id: str, params: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    """Pre-flight check of a generation request: the normalised request and price, or why not."""
    status, body = check(await get_model(request, model_id), params)
    return JSONResponse(body, status_code=status)


async def generate_images(
    request: Request, model_id: str, params: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    """Generate, checked before paying: the images as base64 with cost and balance, or why not."""
    params = dict(params)
    prompt = params.pop("prompt", None)
    if not isinstance(prompt, str):
        return JSONResponse({"ok": False, "message": "give a prompt (a string)"}, 422)
    try:
        result = await session_of(request).generate(
            model_id, prompt, max_cost=request.app.state.max_cost, **params
        )
    except ModelNotFoundError as exc:
        return JSONResponse({"ok": False, "message": str(exc), "suggestions": exc.suggestions}, 404)
    except ParameterValidationError as exc:
        return JSONResponse({"ok": False, "problems": [p.message for p in exc.problems]}, 422)
    except BudgetExceededError as exc:
        return JSONResponse({"ok": False, "message": str(exc)}, 402)
    except (TypeError, ValueError) as exc:  # a parameter of the wrong type
        return JSONResponse({"ok": False, "message": str(exc)}, 422)
    except NanoGPTError as exc:  # NanoGPT (or the way to it) failed: not this client's fault
        billed = isinstance(exc, PossiblyBilledError)
        return JSONResponse({"ok": False, "message": str(exc), "may_be_billed": billed}, 502)
    images = [base64.b64encode(await image.read()).decode() for image in result.images]
    balance = result.remaining_balance
    return JSONResponse(
        {
            "ok": True,
            "images": images,
            "cost": str(result.cost),
            "remaining_balance": None if balance is None else str(balance),
        }
    )


def model_summary(model: ImageModel, resolution: str | None = None) -> dict[str, Any]:
    """What a model picker needs: id, name, resolutions and the (from) price as a string."""
    return {
        "id": model.id,
        "name": model.display_name,
        "resolutions": list(model.resolutions or ()),
        "price": _money(model.price(resolution)),
    }


def check(model: ImageModel, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` for a pre-flight check: 200 with the price, or 422 with the problems."""
    try:
        request = model.validate(**params)
    except ParameterValidationError as exc:
        problems = [
            {"parameter": p.parameter, "message": p.message, "suggestion": p.suggestion}
            for p in exc.problems
        ]
        return 422, {"ok": False, "problems": problems}
    price = model.price(request.get("resolution"), request.get("n", 1))
    return 200, {"ok": True, "request": request, "price": _money(price)}


def session_of(request: Request) -> ImageModelsSession:
    """The session the lifespan opened."""
    session: ImageModelsSession = request.app.state.nanogpt
    return session


async def get_model(request: Request, model_id: str) -> ImageModel:
    """The model, or a 404 carrying the close ids."""
    try:
        return await session_of(request).get_model(model_id)
    except ModelNotFoundError as exc:
        detail = {"message": str(exc), "suggestions": list(exc.suggestions)}
        raise HTTPException(404, detail) from None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
