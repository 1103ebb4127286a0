"""The check of input images against a model's limits, before anything is paid for.

The limits come from an endpoint's ``input_reference_constraints``: the
``route`` block (what NanoGPT checks before it calls the provider) and the
``provider`` block (the provider's own documented limits) where it is
stricter; and the generation route's own cap of 4 MB an image
(:data:`ROUTE_MAX_BYTES`).  Each problem names what is allowed.  A limit
that cannot be read (a ``formats`` list with no format name in it, say) is
no limit.  What is not known of an image (a dimension the header did not
give, say) is not held against it, except its format when only some formats
are allowed: NanoGPT would refuse data it cannot read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ._models import InputImageLimits, ValidationProblem
from ._validation import accepts_image_input, max_input_images

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._input_images import InputImage
    from ._models import ImageModel, InputImageConstraints

__all__ = ["ROUTE_MAX_BYTES", "ImageLimits", "check_input_images", "image_limits"]

PARAMETER = "input_images"
#: The generation route (``POST /v1/images/generations``) takes input images of at most 4 MB
#: each, whatever the model's own limit: every request is checked against it too.
ROUTE_MAX_BYTES = 4 * 2**20


@attrs.frozen
class ImageLimits:
    """What one request's input images must fit: how many, and (``each``) the stricter of
    the route's and the provider's limits on every image."""

    max_items: int | None = None
    each: InputImageLimits = attrs.Factory(InputImageLimits)


def image_limits(model: ImageModel, constraints: InputImageConstraints | None) -> ImageLimits:
    """The stricter of every limit the catalog and the endpoint's constraints give.

    ``constraints`` are the endpoint's; without them, the catalog's own
    ``input_image_constraints``.  With neither, a model that does not take
    images (by :attr:`ImageModel.accepts_image_input`) allows none.
    """
    max_items = max_input_images(model)
    if constraints is None and model.supported_parameters is not None:
        constraints = model.supported_parameters.input_image_constraints
    if constraints is None:
        if max_items is None and not accepts_image_input(model):
            max_items = 0
        return ImageLimits(max_items=max_items)
    max_items = _least(max_items, constraints.max_items)
    blocks = [block for block in (constraints.route, constraints.provider) if block is not None]
    each = InputImageLimits(
        min_width=_most(*(_count(block.min_width) for block in blocks)),
        min_height=_most(*(_count(block.min_height) for block in blocks)),
        max_width=_least(*(block.max_width for block in blocks)),
        max_height=_least(*(block.max_height for block in blocks)),
        max_bytes=_least(*(block.max_bytes for block in blocks)),
        formats=_formats(blocks),
    )
    return ImageLimits(max_items=max_items, each=each)


def check_input_images(
    model_id: str, limits: ImageLimits, images: Sequence[InputImage]
) -> list[ValidationProblem]:
    """Every problem of ``images`` under ``limits``; empty when they all fit."""
    problems: list[ValidationProblem] = []
    count = len(images)
    if limits.max_items == 0:
        message = f"`{model_id}` takes no input images; got {count}"
        return [ValidationProblem(PARAMETER, count, message, maximum=0)]
    if limits.max_items is not None and count > limits.max_items:
        most = _plural(limits.max_items, "input image")
        message = f"`{model_id}` takes at most {most}; got {count}"
        problems.append(ValidationProblem(PARAMETER, count, message, maximum=limits.max_items))
    for index, image in enumerate(images):
        problems += _check_one(model_id, limits.each, index, image)
    return problems


def _check_one(
    model_id: str, limits: InputImageLimits, index: int, image: InputImage
) -> list[ValidationProblem]:
    name = f"{PARAMETER}[{index}]"
    which = f"input image {index + 1}"
    problems = []
    formats = limits.formats
    if formats == ():
        shown = "data it cannot read" if image.format is None else image.format.upper()
        message = (
            f"{which} is {shown}; `{model_id}` accepts no input image format (the formats "
            "its route allows and those its provider allows have none in common)"
        )
        problems.append(ValidationProblem(name, image.format, message, allowed=formats))
    elif formats is not None and image.format not in formats:
        allowed = ", ".join(formats)
        if image.format is None:
            message = (
                f"{which} is not data `{model_id}` can read (not a PNG, JPEG, WebP or GIF "
                f"header); allowed formats: {allowed}"
            )
        else:
            message = f"{which} is {image.format.upper()}; `{model_id}` takes {allowed}"
        problems.append(ValidationProblem(name, image.format, message, allowed=formats))
    for axis, value, low, high in (
        ("width", image.width, limits.min_width, limits.max_width),
        ("height", image.height, limits.min_height, limits.max_height),
    ):
        if value is None:
            continue
        if low is not None and value < low:
            message = f"{which} is {value} px {_across(axis)}; `{model_id}` needs at least {low} px"
            problems.append(ValidationProblem(name, value, message, minimum=low, maximum=high))
        elif high is not None and value > high:
            message = f"{which} is {value} px {_across(axis)}; `{model_id}` takes at most {high} px"
            problems.append(ValidationProblem(name, value, message, minimum=low, maximum=high))
    size, most = image.size, limits.max_bytes
    if size is not None and most is not None and size > most:
        message = f"{which} is {_bytes(size)}; `{model_id}` takes at most {_bytes(most)} an image"
        problems.append(ValidationProblem(name, size, message, maximum=most))
    if size is not None and size > ROUTE_MAX_BYTES and (most is None or most > ROUTE_MAX_BYTES):
        message = (
            f"{which} is {_bytes(size)}; the generation route takes at most {ROUTE_MAX_BYTES} "
            "bytes (4 MiB) an image: scale it down or compress it"
        )
        problems.append(ValidationProblem(name, size, message, maximum=ROUTE_MAX_BYTES))
    return problems


# -- helpers -----------------------------------------------------------------


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _least(*values: Any) -> int | None:
    known = [value for value in values if type(value) is int and value >= 0]
    return min(known) if known else None


def _most(*values: int | None) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _formats(blocks: list[InputImageLimits]) -> tuple[str, ...] | None:
    """The formats every block allows; a block with no readable format name is no limit
    (``[1, null]`` or ``[]`` is a limit not known, not "no format allowed")."""
    allowed: tuple[str, ...] | None = None
    for block in blocks:
        names = tuple(_format_name(name) for name in block.formats or () if isinstance(name, str))
        names = tuple(name for name in names if name)
        if not names:
            continue
        allowed = names if allowed is None else tuple(n for n in allowed if n in names)
    return allowed


def _format_name(name: str) -> str:
    folded = name.strip().lower().removeprefix("image/")
    return "jpeg" if folded == "jpg" else folded


def _across(axis: str) -> str:
    return "wide" if axis == "width" else "high"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _bytes(size: int) -> str:
    if size >= 2**20 and size % 2**20 == 0:
        return f"{size // 2**20} MiB ({size:,} bytes)"
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB ({size:,} bytes)"
    return f"{size:,} bytes"
