"""The public surface: what `nanogpt_images` exports, and its version."""

from __future__ import annotations

import copy
import importlib.metadata
import inspect
import pickle

import pytest

import nanogpt_images
import nanogpt_images.testing


def test_all_is_sorted() -> None:
    """__all__ is kept in sorted order, so a diff shows exactly what was added."""
    assert nanogpt_images.__all__ == sorted(nanogpt_images.__all__)
    assert nanogpt_images.testing.__all__ == sorted(nanogpt_images.testing.__all__)


def test_all_is_complete() -> None:
    """Every public class or function defined by the package is in __all__, and all exist."""
    public = {
        name
        for name, value in vars(nanogpt_images).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("nanogpt_images")
    }
    assert public <= set(nanogpt_images.__all__)
    for name in nanogpt_images.__all__:
        assert getattr(nanogpt_images, name) is not None


def test_contract_names_are_exported() -> None:
    """Every name of the architecture's public contract imports from the top level."""
    contract = {
        "ImageModelsSession", "Catalog", "CatalogMeta", "CatalogChange", "ModelChange",
        "RejectedEntry", "CacheStats", "ImageModel", "Architecture", "Pricing", "Capabilities",
        "SupportedParameters", "parse_catalog", "dump_catalog", "NanoGPTError", "TransportError",
        "RequestTimeoutError", "APIStatusError", "AuthenticationError", "PermissionDeniedError",
        "NotFoundError", "RateLimitError", "ServerError", "DecodeError", "ModelNotFoundError",
        "ParameterValidationError", "SessionClosedError",
    }  # fmt: skip
    assert contract <= set(nanogpt_images.__all__)
    assert "FakeNanoGPT" in nanogpt_images.testing.__all__
    assert "FakeClock" in nanogpt_images.testing.__all__


def test_version_matches_package_metadata() -> None:
    """__version__ is the installed distribution's version."""
    assert nanogpt_images.__version__ == importlib.metadata.version("nanogpt-images")


def test_unknown_attribute_raises_attribute_error() -> None:
    """A misspelt name fails like any module attribute does."""
    with pytest.raises(AttributeError, match="ImageModelSession"):
        nanogpt_images.ImageModelSession  # type: ignore[attr-defined]  # noqa: B018


def test_error_tree_matches_the_contract() -> None:
    """Errors that are really builtin kinds also inherit those builtins."""
    errors = nanogpt_images
    assert issubclass(errors.RequestTimeoutError, errors.TransportError)
    assert issubclass(errors.RequestTimeoutError, TimeoutError)
    assert issubclass(errors.ModelNotFoundError, LookupError)
    assert issubclass(errors.ParameterValidationError, ValueError)
    for name in (
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "RateLimitError",
        "ServerError",
    ):
        assert issubclass(getattr(errors, name), errors.APIStatusError)
    for name in ("TransportError", "APIStatusError", "DecodeError", "SessionClosedError"):
        assert issubclass(getattr(errors, name), errors.NanoGPTError)


@pytest.mark.parametrize(
    "error",
    [
        nanogpt_images.TransportError("could not fetch"),
        nanogpt_images.RequestTimeoutError("no complete answer"),
        nanogpt_images.APIStatusError("teapot", status=418, code="x", request_id="r", body="b"),
        nanogpt_images.RateLimitError("slow down", retry_after=3.0),
        nanogpt_images.ServerError("down", status=503, retry_after=7.0, hint="later"),
        nanogpt_images.NotFoundError("Not Found", status=404, hint="check base_url"),
        nanogpt_images.DecodeError("not JSON", ["line 1"]),
        nanogpt_images.ModelNotFoundError("flux-pr", ["flux-pro"]),
        nanogpt_images.SessionClosedError("closed"),
        nanogpt_images.ParameterValidationError(
            "flux-pro", [nanogpt_images.ValidationProblem("n", 9, "too many", maximum=1)]
        ),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_copy_and_pickle_with_their_attributes(error: Exception) -> None:
    """A process pool or a logging queue can carry them; copy.copy gives an equal error."""
    for twin in (copy.copy(error), pickle.loads(pickle.dumps(error))):  # noqa: S301 - our own bytes
        assert type(twin) is type(error)
        assert twin is not error
        assert str(twin) == str(error)
        assert vars(twin) == vars(error)
