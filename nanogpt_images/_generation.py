"""Generating images: checked before paying, sent once, read exactly.

:func:`generate` runs the pre-flight (key, model, parameters, input images,
price against ``max_cost`` and a :class:`~nanogpt_images.Budget`) and only
then sends ``POST {base_url}/v1/images/generations`` through the transport,
whose retry rule never resends a request that may have been billed.  The
answer becomes a :class:`Generation` with the cost and balance exactly as
NanoGPT wrote them (JSON numbers read as ``Decimal``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ._budget import Budget, as_usd
from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    ParameterValidationError,
    PossiblyBilledDecodeError,
    PossiblyBilledError,
)
from ._image_checks import PARAMETER as IMAGES_PARAMETER
from ._image_checks import ROUTE_MAX_BYTES
from ._input_images import InputImage
from ._models import ValidationProblem
from ._pricing import spelling_prices
from ._responses import read_amount
from ._transport import Progress

if TYPE_CHECKING:
    from ._models import ImageModel
    from ._transport import Transport

__all__ = [
    "GENERATIONS_PATH",
    "MAX_INPUT_IMAGE_BYTES",
    "GeneratedImage",
    "Generation",
    "estimate_cost",
    "generate",
]

log = logging.getLogger("nanogpt_images")

GENERATIONS_PATH = "/v1/images/generations"
#: The route takes input images as data URLs of at most 4 MB each (checked with the model's
#: own limits, by the check ``session.validate()`` runs).
MAX_INPUT_IMAGE_BYTES = ROUTE_MAX_BYTES
RESPONSE_FORMATS = ("b64_json", "url")
_KNOWN_KEYS = frozenset({"created", "data", "cost", "remainingBalance", "paymentSource"})

Download = Callable[[str], Awaitable[bytes]]
#: The input-image check of ``session.validate()``: the problems of these images (``None`` for
#: one refused already, as not an image) under the model's endpoint limits and the 4 MB cap.
CheckImages = Callable[
    ["ImageModel", Sequence[InputImage | None]], Awaitable[list[ValidationProblem]]
]

#: Names NanoGPT reads as the image count besides ``n`` (``nImages`` wins over ``n`` there).
_COUNT_ALIASES = ("nImages", "n_images", "num_images", "numImages")


@attrs.frozen(repr=False)
class GeneratedImage:
    """One generated image: its bytes (``b64_json`` answers) or a link to them (``url``).

    ``await image.read()`` returns the bytes either way, downloading the link
    once (within the session's ``max_response_bytes``; the key is never sent
    to it).  NanoGPT's links expire after about an hour.
    """

    data: bytes | None = None
    url: str | None = None
    extras: dict[str, Any] = attrs.Factory(dict)
    _download: Download | None = attrs.field(default=None, eq=False, alias="download")
    _read: _Once = attrs.field(factory=lambda: _Once(), eq=False, init=False)

    def __repr__(self) -> str:
        data = "None" if self.data is None else f"<{len(self.data)} bytes>"
        url = self.url if self.url is None or len(self.url) <= 60 else self.url[:57] + "..."
        return f"GeneratedImage(data={data}, url={url!r})"

    async def read(self) -> bytes:
        """The image's bytes: ``data``, else the ``url`` downloaded (once, then remembered)."""
        if self.data is not None:
            return self.data
        if self.url is None:
            raise ValueError(
                "this image came with neither b64_json nor url; what NanoGPT sent for it "
                f"is in .extras: {sorted(self.extras)}"
            )
        if self._download is None:
            raise RuntimeError("this GeneratedImage was built by hand; download its url yourself")
        return await self._read.get(self._download, self.url)


@attrs.frozen(repr=False)
class Generation:
    """What a generation returned: the images, what it cost and what is left.

    ``cost`` and ``remaining_balance`` are USD exactly as NanoGPT wrote them
    (``remaining_balance`` is ``None`` when the answer does not say);
    ``request`` is the JSON body that was sent; ``extras`` holds the keys of
    the answer this library does not know.
    """

    images: tuple[GeneratedImage, ...]
    cost: Decimal
    remaining_balance: Decimal | None = None
    payment_source: str | None = None
    created: int | None = None
    model: str = ""
    request: Mapping[str, Any] = attrs.Factory(dict)
    extras: dict[str, Any] = attrs.Factory(dict)

    def __repr__(self) -> str:
        return (
            f"Generation(model={self.model!r}, images={len(self.images)}, cost={self.cost}, "
            f"remaining_balance={self.remaining_balance}, payment_source={self.payment_source!r})"
        )


async def generate(
    transport: Transport,
    get_model: Callable[[str], Awaitable[ImageModel]],
    model_id: str,
    prompt: str,
    *,
    resolution: str | None,
    n: int | None,
    input_images: Sequence[bytes | str],
    max_cost: Decimal | float | str | None,
    response_format: str,
    budget: Budget | None,
    params: dict[str, Any],
    check_images: CheckImages,
) -> Generation:
    """Pre-flight, then one paid request; see :meth:`ImageModelsSession.generate`."""
    limit = None if max_cost is None else as_usd("max_cost", max_cost)
    if budget is not None and not isinstance(budget, Budget):
        raise TypeError(f"budget must be a nanogpt_images.Budget, not {type(budget).__name__}")
    resolution = _take_size(resolution, params)
    if not transport.has_key:
        raise AuthenticationError(
            "generating images needs an API key: pass api_key= to ImageModelsSession or set "
            "NANOGPT_API_KEY (the catalog is public, generation is not); nothing was sent",
            status=401,
            code="missing_api_key",
        )
    model = await get_model(model_id)
    described = describe_input_images(input_images)
    checked = await check_images(model, described) if described else []
    request = build_request(
        model, prompt, resolution, n, input_images, response_format, params, checked
    )
    count = request.get("n", 1)
    estimate = estimate_cost(model, request.get("size"), count)
    what = _describe(model, request)
    if limit is not None:
        _check_max_cost(what, estimate, limit)
    reservation = budget.reserve(estimate, what=what) if budget is not None else None
    log.info("generating %s (estimate %s)", what, "unknown" if estimate is None else f"${estimate}")
    progress = Progress()
    try:
        body = await transport.post_json(GENERATIONS_PATH, request, progress=progress)
    except BaseException as exc:
        if reservation is not None:
            # A doubtful outcome, or cancelled while a request was out: it may have been billed.
            billed = isinstance(exc, PossiblyBilledError) or (
                isinstance(exc, asyncio.CancelledError) and progress.maybe_sent
            )
            if billed:
                reservation.settle(reservation.estimate)
            else:
                reservation.release()
        raise
    try:
        generation = parse_generation(
            body,
            request=request,
            estimate=estimate,
            download=transport.download,
            redact=transport.redact,
        )
    except BaseException:
        if reservation is not None:  # a 2xx came back: it was billed, whatever it said
            reservation.settle(reservation.estimate)
        raise
    if reservation is not None:
        reservation.settle(generation.cost)
    _note_a_dearer_bill(what, generation.cost, estimate, limit)
    log.info(
        "generated %d image%s with %s for $%s",
        len(generation.images),
        "" if len(generation.images) == 1 else "s",
        model.id,
        generation.cost,
    )
    return generation


def _note_a_dearer_bill(
    what: str, cost: Decimal, estimate: Decimal | None, limit: Decimal | None
) -> None:
    """max_cost and a Budget check the estimate, from the catalog: say when the bill was more."""
    if limit is not None and cost > limit:
        log.warning(
            "%s cost $%s, more than max_cost=$%s: the estimate ($%s) came from the cached "
            "catalog, whose price was out of date",
            what,
            cost,
            limit,
            estimate,
        )
    elif estimate is not None and cost > estimate:
        log.warning("%s cost $%s, more than its estimate of $%s", what, cost, estimate)


def build_request(
    model: ImageModel,
    prompt: str,
    resolution: str | None,
    n: int | None,
    input_images: Sequence[bytes | str],
    response_format: str,
    params: Mapping[str, Any],
    image_problems: Sequence[ValidationProblem] = (),
) -> dict[str, Any]:
    """The JSON body to send, or :class:`ParameterValidationError` listing every problem.

    ``image_problems`` are those of the input-image check (:data:`CheckImages`);
    its count problem is left out when the model's own ``validate()`` has one.
    """
    for name in ("model", "prompt"):
        if name in params:
            raise TypeError(
                f"generate() takes the model id and the prompt as its first two arguments, "
                f"not as {name}="
            )
    problems = _check_prompt(prompt) + _check_format(response_format) + _check_counts(params)
    urls, unreadable = _data_urls(input_images)
    problems += unreadable
    asked = dict(params)
    if resolution is not None:
        asked["resolution"] = resolution
    if n is not None:
        asked["n"] = n
    if urls:
        asked["imageDataUrls"] = urls
    checked: dict[str, Any]
    try:
        checked = dict(model.validate(**asked))
    except ParameterValidationError as exc:
        problems += exc.problems
        checked = asked
    counted = any(problem.parameter == "imageDataUrls" for problem in problems)
    problems += [p for p in image_problems if not (counted and p.parameter == IMAGES_PARAMETER)]
    if problems:
        raise ParameterValidationError(model.id, problems)
    body: dict[str, Any] = {"model": model.id, "prompt": prompt}
    if "resolution" in checked:
        body["size"] = checked.pop("resolution")
    body["response_format"] = response_format
    body.update(checked)
    return body


def estimate_cost(model: ImageModel, size: str | None, n: int) -> Decimal | None:
    """USD the request should cost: at ``size``, or the dearest size when none is given.

    With no size the server picks one, so the estimate is the highest price
    among the sizes the model lists (or prices); ``None`` when any of them
    has no known price.
    """
    if size is not None:
        return model.price(size, n)
    sizes: Sequence[str | None] = model.resolutions or tuple(spelling_prices(model) or ()) or [None]
    quotes = [model.price(each, n) for each in sizes]
    known = [quote for quote in quotes if quote is not None]
    return max(known) if known and len(known) == len(quotes) else None


def parse_generation(
    body: bytes,
    *,
    request: Mapping[str, Any],
    estimate: Decimal | None,
    download: Download | None,
    redact: Callable[[str], str] = str,
) -> Generation:
    """The answer of a 2xx as a :class:`Generation`; a body that is not one was still billed.

    Whatever goes wrong reading it is a :class:`PossiblyBilledDecodeError`,
    and what it quotes of the body has the key blanked out (``redact``).
    """
    try:
        return _parse_generation(body, request=request, estimate=estimate, download=download)
    except PossiblyBilledDecodeError as exc:
        raise PossiblyBilledDecodeError(redact(str(exc))) from None
    except Exception as exc:  # deep nesting, a bug: still an answer that was billed
        raise _unreadable(f"reading it failed ({type(exc).__name__})") from None


def _parse_generation(
    body: bytes,
    *,
    request: Mapping[str, Any],
    estimate: Decimal | None,
    download: Download | None,
) -> Generation:
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError:
        raise _unreadable(f"the body is not JSON: {body[:200]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise _unreadable(f"the body has no 'data' list of images: {body[:200]!r}")
    images = tuple(_image(index, entry, download) for index, entry in enumerate(data["data"]))
    extras = {key: value for key, value in data.items() if key not in _KNOWN_KEYS}
    cost = _read(data, "cost", read_amount, extras)
    if cost is not None and cost < 0:  # not a cost: it would refund a Budget
        extras["cost"] = data["cost"]
        cost = None
    if cost is None:
        log.warning(
            "NanoGPT's answer gave no cost; counting the estimate (%s)",
            "unknown" if estimate is None else f"${estimate}",
        )
        cost = estimate if estimate is not None else Decimal(0)
    return Generation(
        images=images,
        cost=cost,
        remaining_balance=_read(data, "remainingBalance", read_amount, extras),
        payment_source=_read(data, "paymentSource", _str, extras),
        created=_read(data, "created", _int, extras),
        model=str(request.get("model", "")),
        request=request,
        extras=extras,
    )


# -- pre-flight helpers ----------------------------------------------------------


def _take_size(resolution: str | None, params: dict[str, Any]) -> str | None:
    """``size=`` (the route's own name) is taken as ``resolution``; both is an error."""
    if "size" not in params:
        return resolution
    if resolution is not None:
        raise TypeError("give resolution= or size= (the same thing), not both")
    size: str | None = params.pop("size")
    return size


def _check_prompt(prompt: Any) -> list[ValidationProblem]:
    if not isinstance(prompt, str):
        raise TypeError(f"the prompt must be a string, not {type(prompt).__name__}")
    if prompt.strip():
        return []
    return [ValidationProblem("prompt", prompt, "the prompt is empty; say what to draw")]


def _check_counts(params: Mapping[str, Any]) -> list[ValidationProblem]:
    """Another name for the image count would get past the model's limit and the price."""
    return [
        ValidationProblem(
            name,
            params[name],
            f"give the number of images as n= (checked against the model and priced), "
            f"not as `{name}`, which NanoGPT also reads and would bypass both",
        )
        for name in _COUNT_ALIASES
        if name in params
    ]


def _check_format(response_format: Any) -> list[ValidationProblem]:
    if response_format in RESPONSE_FORMATS:
        return []
    message = f"`response_format` must be 'b64_json' or 'url'; got `{response_format}`"
    return [ValidationProblem("response_format", response_format, message, RESPONSE_FORMATS)]


def _check_list(images: Any) -> None:
    if isinstance(images, bytes | bytearray | memoryview | str) or not isinstance(images, Sequence):
        raise TypeError(
            "input_images must be a list of images (bytes, or data:image/... URLs), "
            f"not {type(images).__name__}; wrap a single image in a list"
        )


def describe_input_images(images: Any) -> list[InputImage | None]:
    """What each input image is, by its header; ``None`` for one refused as not an image."""
    _check_list(images)
    return [_describe_image(image) for image in images]


def _describe_image(image: Any) -> InputImage | None:
    if isinstance(image, bytes | bytearray | memoryview):
        info = InputImage.from_bytes(image)
        return info if info.format is not None else None  # refused: not an image
    if not isinstance(image, str) or not _is_data_url(image):
        return None  # refused: not bytes, or not a data URL
    head, _, payload = image.partition(",")
    named = head.removeprefix("data:image/").removesuffix(";base64")
    try:
        info = InputImage.from_bytes(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):  # sent as it is: what is known is its size and name
        return InputImage(size=len(payload) * 3 // 4, format=named or None)
    return info if info.format is not None else attrs.evolve(info, format=named or None)


def _is_data_url(image: str) -> bool:
    head, _, payload = image.partition(",")
    return head.startswith("data:image/") and head.endswith(";base64") and bool(payload)


def _data_urls(images: Any) -> tuple[list[str], list[ValidationProblem]]:
    """Each input image as a data URL, and what is wrong with any of them (not the size:
    the input-image check, :data:`CheckImages`, holds it to the 4 MB cap)."""
    _check_list(images)
    urls: list[str] = []
    problems: list[ValidationProblem] = []
    for number, image in enumerate(images, start=1):
        url, problem = _data_url(number, image)
        if problem is not None:
            problems.append(problem)
        else:
            urls.append(url)
    return urls, problems


def _data_url(number: int, image: Any) -> tuple[str, ValidationProblem | None]:
    label = f"input image {number}"
    if isinstance(image, str):
        if not _is_data_url(image):
            message = (
                f"{label} must be bytes or a data:image/...;base64, URL (the route takes no "
                f"links); got {image[:40]!r}"
            )
            return "", ValidationProblem("input_images", image[:40], message)
        url = image
    elif isinstance(image, bytes | bytearray | memoryview):
        raw = bytes(image)
        image_format = InputImage.from_bytes(raw).format  # the data URL names it
        if image_format is None:
            message = f"{label} is not a PNG, JPEG, WebP or GIF image (by its first bytes)"
            return "", ValidationProblem("input_images", f"<{len(raw)} bytes>", message)
        url = f"data:image/{image_format};base64,{base64.b64encode(raw).decode('ascii')}"
    else:
        message = f"{label} must be bytes or a data:image/ URL, not {type(image).__name__}"
        return "", ValidationProblem("input_images", type(image).__name__, message)
    return url, None


def _describe(model: ImageModel, request: Mapping[str, Any]) -> str:
    count = request.get("n", 1)
    size = request.get("size", "the default size")
    return f"{count} image{'' if count == 1 else 's'} with {model.id} at {size}"


def _check_max_cost(what: str, estimate: Decimal | None, limit: Decimal) -> None:
    if estimate is None:
        raise BudgetExceededError(
            f"the price of {what} is unknown, so max_cost=${limit} cannot be checked; name a "
            "priced resolution, or leave max_cost out to generate anyway",
            estimate=None,
            limit=limit,
        )
    if estimate > limit:
        raise BudgetExceededError(
            f"{what} is estimated at ${estimate}, more than max_cost=${limit}",
            estimate=estimate,
            limit=limit,
        )


# -- reading the answer ----------------------------------------------------------


def _unreadable(detail: str) -> PossiblyBilledDecodeError:
    return PossiblyBilledDecodeError(
        f"NanoGPT accepted the generation (it was billed) but its answer could not be read: "
        f"{detail}"
    )


def _image(index: int, entry: Any, download: Download | None) -> GeneratedImage:
    if not isinstance(entry, dict):
        raise _unreadable(f"image {index} is not an object: {entry!r:.80}")
    extras = {key: value for key, value in entry.items() if key not in ("b64_json", "url")}
    data = None
    encoded = entry.get("b64_json")
    if isinstance(encoded, str):
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _unreadable(f"image {index}'s b64_json is not base64") from None
    elif encoded is not None:
        extras["b64_json"] = encoded
    url = entry.get("url")
    if url is not None and not isinstance(url, str):
        extras["url"] = url
        url = None
    return GeneratedImage(data=data, url=url, extras=extras, download=download)


def _read(
    data: Mapping[str, Any], key: str, kind: Callable[[Any], Any], extras: dict[str, Any]
) -> Any:
    """``data[key]`` read by ``kind``; a value that does not fit goes to ``extras`` as sent."""
    if key not in data or data[key] is None:
        return None
    value = kind(data[key])
    if value is None:
        extras[key] = data[key]
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@attrs.define
class _Once:
    """The bytes of one download, fetched by the first reader; later readers share them."""

    data: bytes | None = None
    lock: asyncio.Lock = attrs.Factory(asyncio.Lock)

    async def get(self, download: Download, url: str) -> bytes:
        async with self.lock:
            if self.data is None:
                self.data = await download(url)
            return self.data
