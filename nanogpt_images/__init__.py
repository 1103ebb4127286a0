"""Async SDK for NanoGPT's image-model catalog: cached, refreshed in the background, typed.

Everything public is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from typing import Any

from ._budget import Budget
from ._cache import CacheStats
from ._converter import dump_catalog, parse_catalog
from ._coordinator import Coordinator
from ._diff import CatalogChange, ModelChange
from ._endpoints import Endpoint, ModelEndpoints, PriceLine, dump_endpoints, parse_endpoints
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BudgetExceededError,
    DecodeError,
    InsufficientBalanceError,
    ModelNotFoundError,
    NanoGPTError,
    NotFoundError,
    ParameterValidationError,
    PermissionDeniedError,
    PossiblyBilledDecodeError,
    PossiblyBilledError,
    PossiblyBilledServerError,
    PossiblyBilledTimeoutError,
    PossiblyBilledTransportError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._generation import GeneratedImage, Generation
from ._input_images import InputImage
from ._logging import configure_logging as _configure_logging
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
)
from ._problems import ValidationProblem
from ._session import ImageModelsSession
from ._store import FileStore, Store, StoredResponse
from ._validation import ValidatedParams

__all__ = [
    "APIStatusError",
    "Architecture",
    "AuthenticationError",
    "Budget",
    "BudgetExceededError",
    "CacheStats",
    "Capabilities",
    "Catalog",
    "CatalogChange",
    "CatalogMeta",
    "Coordinator",
    "DecodeError",
    "Endpoint",
    "FileStore",
    "GeneratedImage",
    "Generation",
    "ImageModel",
    "ImageModelsSession",
    "InputImage",
    "InputImageConstraints",
    "InputImageLimits",
    "InsufficientBalanceError",
    "ModelChange",
    "ModelEndpoints",
    "ModelNotFoundError",
    "NanoGPTError",
    "NotFoundError",
    "ParameterValidationError",
    "PermissionDeniedError",
    "PossiblyBilledDecodeError",
    "PossiblyBilledError",
    "PossiblyBilledServerError",
    "PossiblyBilledTimeoutError",
    "PossiblyBilledTransportError",
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
    "ValidatedParams",
    "ValidationProblem",
    "dump_catalog",
    "dump_endpoints",
    "parse_catalog",
    "parse_endpoints",
]

_configure_logging()


def __getattr__(name: str) -> Any:
    """``__version__`` is read from the installed metadata on first use."""
    if name == "__version__":
        from importlib.metadata import version

        return version("nanogpt-images")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
