"""The bundled sample catalog: a realistic ``GET /api/v1/image-models`` body.

About 230 models in the shapes the live API sends (see
``benchmarks/make_sample_catalog.py``, which generates the JSON file), so
tests and demos can work with catalog-sized data without a network.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["sample_catalog", "sample_catalog_bytes"]

_RESOURCE = "sample_catalog.json"


def sample_catalog() -> dict[str, Any]:
    """A fresh copy of the sample body as plain JSON values; mutate it freely."""
    catalog: dict[str, Any] = json.loads(sample_catalog_bytes())
    return catalog


@functools.cache
def sample_catalog_bytes() -> bytes:
    """The sample body exactly as a server would send it (UTF-8 JSON, read once)."""
    return resources.files("nanogpt_images.testing").joinpath(_RESOURCE).read_bytes()
