"""Async SDK for NanoGPT's image-model catalog: cached, refreshed in the background, typed.

Everything public is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from typing import Any

from ._cache import CacheStats
from ._converter import dump_catalog, parse_catalog
from ._diff import CatalogChange, ModelChange
from ._endpoints import Endpoint, ModelEndpoints, PriceLine, dump_endpoints, parse_endpoints
from ._errors import (
    APIStatusError,
    AuthenticationError,
    DecodeError,
    ModelNotFoundError,
    NanoGPTError,
    NotFoundError,
    ParameterValidationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._input_images import InputImage
from ._models import (
    Architecture,
    Capabilities,
    Catalog,
    CatalogMeta,
    ImageModel,
    InputImageConstraints,
    InputImageLimits,
    Pricing,
    RejectedEntry,
    SupportedParameters,
    ValidationProblem,
)
from ._session import ImageModelsSession
from ._store import FileStore, Store, StoredResponse

__all__ = [
    "APIStatusError",
    "Architecture",
    "AuthenticationError",
    "CacheStats",
    "Capabilities",
    "Catalog",
    "CatalogChange",
    "CatalogMeta",
    "DecodeError",
    "Endpoint",
    "FileStore",
    "ImageModel",
    "ImageModelsSession",
    "InputImage",
    "InputImageConstraints",
    "InputImageLimits",
    "ModelChange",
    "ModelEndpoints",
    "ModelNotFoundError",
    "NanoGPTError",
    "NotFoundError",
    "ParameterValidationError",
    "PermissionDeniedError",
    "PriceLine",
    "Pricing",
    "RateLimitError",
    "RejectedEntry",
    "RequestTimeoutError",
    "ServerError",
    "SessionClosedError",
    "Store",
    "StoredResponse",
    "SupportedParameters",
    "TransportError",
    "ValidationProblem",
    "dump_catalog",
    "dump_endpoints",
    "parse_catalog",
    "parse_endpoints",
]


def __getattr__(name: str) -> Any:
    """``__version__`` is read from the installed metadata on first use."""
    if name == "__version__":
        from importlib.metadata import version

        return version("nanogpt-images")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
