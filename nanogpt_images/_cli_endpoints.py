"""The endpoint-details side of the ``nanogpt-images`` command.

Printing a model's endpoint details (``nanogpt-images endpoints MODEL``) and
reading the files given to ``check --input-image``; public API only.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from nanogpt_images import InputImage

from ._cli_output import money, printable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nanogpt_images import Endpoint, InputImageConstraints, InputImageLimits, ModelEndpoints

__all__ = ["describe_image", "print_endpoints", "read_images"]


def print_endpoints(details: ModelEndpoints) -> None:
    """Provider, price per resolution and input-image limits of each endpoint."""
    if not details.endpoints:
        print(printable(f"{details.id}: NanoGPT lists no endpoint for this model"))
        return
    for endpoint in details.endpoints:
        _print_endpoint(details.id, endpoint)


def _print_endpoint(model_id: str, endpoint: Endpoint) -> None:
    provider = endpoint.provider_name or "-"
    if endpoint.provider_slug:
        provider += f" ({endpoint.provider_slug})"
    print(printable(f"{model_id}  provider: {provider}"))
    lines = endpoint.pricing or ()
    print("prices:" if lines else "prices: none listed")
    width = max((len(line.resolution or "-") for line in lines), default=0)
    for line in lines:
        unit = line.per_image_usd
        if unit is not None:
            cost = f"{money(Decimal(str(unit)))} an image"
        else:
            cost = f"{line.cost_usd} {line.currency or ''} per {line.unit or '?'}".rstrip()
            cost += f" ({line.billable})" if line.billable else ""
        print(printable(f"  {(line.resolution or '-').ljust(width)}  {cost}"))
    constraints = endpoint.input_constraints
    print(printable(f"input images: {_limits(constraints)}"))
    for block in (constraints.route, constraints.provider) if constraints else ():
        if block is not None and block.note:
            print(printable(f"  note ({block.source or 'unknown source'}): {block.note}"))


def _limits(constraints: InputImageConstraints | None) -> str:
    if constraints is None:
        return "no limits listed (the model may not take any)"
    parts = []
    if constraints.max_items is not None:
        parts.append(f"up to {constraints.max_items}")
    for name, block in (("route", constraints.route), ("provider", constraints.provider)):
        if block is not None:
            parts.append(f"{name}: {_block(block)}")
    return "; ".join(parts) or "listed, but empty"


def _block(block: InputImageLimits) -> str:
    parts = []
    if block.formats:
        parts.append(", ".join(block.formats))
    if block.min_width is not None or block.max_width is not None:
        parts.append(f"width {_span(block.min_width, block.max_width)} px")
    if block.min_height is not None or block.max_height is not None:
        parts.append(f"height {_span(block.min_height, block.max_height)} px")
    if block.max_bytes is not None:
        parts.append(f"at most {_size(block.max_bytes)}")
    return ", ".join(parts) or "no numbers"


def _span(low: int | None, high: int | None) -> str:
    return f"{low if low is not None else 0}-{high if high is not None else '…'}"


def _size(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:g} MiB"
    return f"{size:,} bytes"


def read_images(paths: Sequence[str]) -> list[InputImage]:
    """Each file read as an :class:`InputImage`; an unreadable file is an ``OSError`` naming it."""
    images = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot read the input image {path}: {exc.strerror}"
            ) from None
        images.append(InputImage.from_bytes(data))
    return images


def describe_image(path: str, image: InputImage) -> str:
    """One line about an input image: its file, format, pixels and bytes."""
    fmt = image.format.upper() if image.format else "unknown format"
    pixels = f"{image.width}x{image.height} px" if image.width and image.height else "size unknown"
    return printable(f"  {path}: {fmt}, {pixels}, {_size(image.size or 0)}")
