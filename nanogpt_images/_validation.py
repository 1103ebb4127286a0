"""Request checks (placeholder until issue 5 lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import ImageModel


def allowed_resolutions(model: ImageModel) -> tuple[str, ...] | None:
    raise NotImplementedError


def max_n(model: ImageModel) -> int | None:
    raise NotImplementedError


def accepts_image_input(model: ImageModel) -> bool:
    raise NotImplementedError


def validate(model: ImageModel, params: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError
