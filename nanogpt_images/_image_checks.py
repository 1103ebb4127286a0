"""The check of input images against a model's limits, before anything is paid for.

The limits come from an endpoint's ``input_reference_constraints``: the
``route`` block (what NanoGPT checks before it calls the provider) and the
``provider`` block (the provider's own documented limits) where it is
stricter.  Each problem names what is allowed.  What is not known of an
image (a dimension the header did not give, say) is not held against it,
except its format when only some formats are allowed: NanoGPT would refuse
data it cannot read.
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

__all__ = ["ImageLimits", "check_input_images", "image_limits"]

PARAMETER = "input_images"


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
    if formats is not None and image.format not in formats:
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
    if limits.max_bytes is not None and image.size is not None and image.size > limits.max_bytes:
        message = (
            f"{which} is {_bytes(image.size)}; `{model_id}` takes at most "
            f"{_bytes(limits.max_bytes)} an image"
        )
        problems.append(ValidationProblem(name, image.size, message, maximum=limits.max_bytes))
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
    allowed: tuple[str, ...] | None = None
    for block in blocks:
        if block.formats is None:
            continue
        names = tuple(_format_name(name) for name in block.formats)
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
