"""What a model accepts, and the check of a generation request against it.

The catalog describes a model's parameters in overlapping ways: flat legacy
keys (``resolutions``, ``max_images``...), typed ``{"type": "enum" | "range" |
"boolean"}`` descriptors, and capability flags that are sometimes wrong.  The
functions here reconcile them.  :func:`validate` collects every problem of a
request before raising, so a bot can show them all at once.

Which source wins:

* resolutions: the flat ``resolutions`` list, else an enum descriptor named
  ``resolution`` or ``size``;
* the largest ``n``: ``fixed_image_count`` when set (``n`` must equal it),
  else the smallest of ``max_images``, ``max_output_images`` and the ``n``
  range descriptor's ``max``;
* input images: the numbers (``max_input_images``,
  ``input_image_constraints.max_items``, the ``input_references`` range) win
  over the flags, because the route enforces the numbers while the flags are
  hand-kept metadata known to be wrong; without numbers, any flag that says
  yes wins, because every known wrong flag said no to a model that needs an
  image.  :func:`validate` enforces only the numbers, never the flags.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ._errors import ParameterValidationError
from ._problems import ValidationProblem, suggest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._models import ImageModel, SupportedParameters

__all__ = [
    "IMAGE_PARAMS",
    "ValidatedParams",
    "accepts_image_input",
    "allowed_resolutions",
    "check_n",
    "fixed_count",
    "max_input_images",
    "max_n",
    "normalise_resolution",
    "resolution_index",
    "validate",
]

#: Request parameters that carry input images, as the NanoGPT routes name them.
IMAGE_PARAMS = frozenset({"input_references", "imageDataUrls", "imageDataUrl", "images", "image"})
_RESOLUTION_PARAMS = frozenset({"resolution", "size"})
_SHOWN = 12  # allowed values listed in a message before "and N more"


def allowed_resolutions(model: ImageModel) -> tuple[str, ...] | None:
    """The model's own resolution strings; ``None`` when it does not list any."""
    params = model.supported_parameters
    if params is None:
        return None
    if params.resolutions:
        return params.resolutions
    for name in ("resolution", "size"):
        descriptor = _descriptor(params, name, "enum")
        if descriptor is not None:
            values = descriptor.get("values")
            if type(values) is list and values:
                return tuple(str(value) for value in values)
    return None


def max_n(model: ImageModel) -> int | None:
    """The largest ``n`` a request may ask for; ``fixed_image_count`` when the model has one."""
    params = model.supported_parameters
    if params is None:
        return None
    fixed = fixed_count(model)
    if fixed is not None:
        return fixed
    descriptor = _descriptor(params, "n", "range")
    limits = (
        params.max_images,
        params.max_output_images,
        descriptor.get("max") if descriptor is not None else None,
    )
    known = [limit for limit in limits if type(limit) is int and limit >= 1]
    return min(known) if known else None


def max_input_images(model: ImageModel) -> int | None:
    """How many input images a request may carry, by the numbers; ``None`` when none is given."""
    params = model.supported_parameters
    if params is None:
        return None
    limit = params.max_input_images
    if limit is not None and limit < 0:
        limit = None
    constraints = params.input_image_constraints
    if constraints is not None:
        limit = _stricter(limit, constraints.max_items)
    if params.extras:
        descriptor = _descriptor(params, "input_references", "range")
        if descriptor is not None:
            limit = _stricter(limit, descriptor.get("max"))
    return limit


def accepts_image_input(model: ImageModel) -> bool:
    """Whether the model takes input images: the numbers win, else any flag saying yes."""
    params = model.supported_parameters
    if params is not None and (
        params.max_input_images is not None
        or params.input_image_constraints is not None
        or params.extras
    ):
        limit = max_input_images(model)
        if limit is not None:
            return limit > 0
        if params.input_image_constraints is not None:
            return True
    caps = model.capabilities
    if caps is not None and (caps.image_to_image is True or caps.inpainting is True):
        return True
    arch = model.architecture
    if arch is None:
        return False
    inputs, modality = arch.input_modalities, arch.modality
    return (inputs is not None and "image" in inputs) or (
        modality is not None and "image" in modality.partition("->")[0] and "->" in modality
    )


class ValidatedParams(dict[str, Any]):
    """The request :meth:`ImageModel.validate` returns: a ``dict`` of the normalised params.

    It also says what was checked: ``checked`` names the parameters held
    against something the model describes, ``unchecked`` those passed
    through as given because the model does not describe them (a ``prompt``,
    or a ``quality`` the model has no values for).  Both keep the request's
    order.
    """

    __slots__ = ("checked", "unchecked")

    checked: tuple[str, ...]
    unchecked: tuple[str, ...]


def validate(model: ImageModel, params: Mapping[str, Any]) -> ValidatedParams:
    """The normalised request, or :class:`ParameterValidationError` with every problem.

    Resolutions, speeds and enum values come back in the model's own
    spelling; ``n`` as an ``int``.  Parameters the model does not describe
    pass through untouched, named in the result's ``unchecked``.
    """
    supported = model.supported_parameters
    out = dict(params)
    problems: list[ValidationProblem] = []
    images: list[str] = []
    unchecked: list[str] = []
    for name, value in params.items():
        problem: ValidationProblem | None
        if name in _RESOLUTION_PARAMS and (allowed := allowed_resolutions(model)) is not None:
            out[name], problem = _check_resolution(model, name, value, allowed)
        elif name == "n":
            out[name], problem = check_n(model, value)
        elif name in IMAGE_PARAMS:
            images.append(name)
            continue
        elif supported is None:
            unchecked.append(name)
            continue
        elif name == "rendering_speed" and supported.rendering_speed:
            out[name], problem = _check_choice(model, name, value, supported.rendering_speed)
        elif type(descriptor := supported.extras.get(name)) is dict and _describes(descriptor):
            out[name], problem = _check_descriptor(model, name, value, descriptor)
        else:
            unchecked.append(name)
            continue
        if problem is not None:
            problems.append(problem)
    if images:
        problems.extend(_check_images(model, params, images))
    if problems:
        raise ParameterValidationError(model.id, problems)
    result = ValidatedParams(out)
    result.checked = tuple(name for name in params if name not in unchecked)
    result.unchecked = tuple(unchecked)
    return result


@functools.lru_cache(maxsize=4096)
def normalise_resolution(value: str) -> str:
    """The form two spellings of one resolution share: ``1024*1024`` and ``1024X1024`` match."""
    return value.strip().casefold().replace("*", "x").replace("\u00d7", "x").replace(" ", "")


@functools.lru_cache(maxsize=1024)
def resolution_index(allowed: tuple[str, ...]) -> Mapping[str, str]:
    """Normalised spelling -> the model's spelling, built once per distinct list."""
    index: dict[str, str] = {}
    for resolution in allowed:
        index.setdefault(normalise_resolution(resolution), resolution)
    return index


# -- one check per parameter kind; each returns (normalised value, problem) ---

_Checked = tuple[Any, "ValidationProblem | None"]


def _check_resolution(
    model: ImageModel, name: str, value: Any, allowed: tuple[str, ...]
) -> _Checked:
    suggestion = None
    if type(value) is str:
        if value in allowed:
            return value, None
        wanted = normalise_resolution(value)
        match = resolution_index(allowed).get(wanted)
        if match is not None:
            return match, None
        suggestion = _closest(wanted, allowed)
    message = (
        f"`{value}` is not a resolution of `{model.id}`; allowed: {_listing(allowed)}"
        f"{_did_you_mean(suggestion)}"
    )
    return value, _problem(name, value, message, allowed=allowed, suggestion=suggestion)


def check_n(model: ImageModel, value: Any) -> _Checked:
    """``n`` as an ``int`` and ``None``, or as given and the problem with it."""
    n = as_int(value)
    if n is None:
        message = f"`n` must be a whole number of images; got `{value}`"
        return value, _problem("n", value, message, minimum=1)
    supported = model.supported_parameters
    fixed = fixed_count(model)
    if fixed is not None:
        if n == fixed:
            return n, None
        message = (
            f"`{model.id}` always makes {_images(fixed)}; "
            f"leave `n` out or set it to {fixed} (got {n})"
        )
        return value, _problem("n", value, message, allowed=(fixed,))
    descriptor = _descriptor(supported, "n", "range") if supported is not None else None
    low = descriptor.get("min") if descriptor is not None else None
    low = low if type(low) is int and low > 1 else 1
    high = max_n(model)
    if n < low or (high is not None and n > high):
        if n < low:
            message = f"`n` must be at least {low}; got {n}"
        else:
            message = f"`n` = {n} is too many for `{model.id}`; at most {_images(high)} a request"
        return value, _problem("n", value, message, minimum=low, maximum=high)
    return n, None


def _describes(descriptor: dict[str, Any]) -> bool:
    """Whether a typed descriptor says what a value may be (one :func:`_check_descriptor` reads)."""
    kind = descriptor.get("type")
    if kind == "enum":
        values = descriptor.get("values")
        return type(values) is list and bool(values)
    return kind in ("range", "boolean")


def _check_descriptor(
    model: ImageModel, name: str, value: Any, descriptor: dict[str, Any]
) -> _Checked:
    kind = descriptor.get("type")
    if kind == "enum":
        return _check_choice(model, name, value, tuple(descriptor["values"]))
    if kind == "range":
        return _check_range(model, name, value, descriptor.get("min"), descriptor.get("max"))
    # a boolean descriptor: _describes() lets no other kind through
    if type(value) is bool:
        return value, None
    if type(value) is str and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true", None
    message = f"`{name}` must be true or false for `{model.id}`; got `{value}`"
    return value, _problem(name, value, message, allowed=(True, False))


def _check_choice(model: ImageModel, name: str, value: Any, allowed: tuple[Any, ...]) -> _Checked:
    for choice in allowed:
        if choice == value and type(choice) is type(value):
            return choice, None
    suggestion = None
    if type(value) is str:
        folded = value.strip().casefold()
        for choice in allowed:
            if type(choice) is str and choice.casefold() == folded:
                return choice, None
        suggestion = _closest(folded, tuple(c for c in allowed if type(c) is str))
    message = (
        f"`{value}` is not a valid `{name}` for `{model.id}`; allowed: {_listing(allowed)}"
        f"{_did_you_mean(suggestion)}"
    )
    return value, _problem(name, value, message, allowed=allowed, suggestion=suggestion)


def _check_range(model: ImageModel, name: str, value: Any, low: Any, high: Any) -> _Checked:
    low = low if _is_number(low) else None
    high = high if _is_number(high) else None
    number = _as_number(value)
    if number is not None and (low is None or number >= low) and (high is None or number <= high):
        return number, None
    bounds = (
        f"between {low} and {high}"
        if low is not None and high is not None
        else f"at least {low}"
        if low is not None
        else f"at most {high}"
        if high is not None
        else "a number"
    )
    if number is None and bounds != "a number":
        bounds = f"a number {bounds}"
    message = f"`{name}` must be {bounds} for `{model.id}`; got `{value}`"
    return value, _problem(name, value, message, minimum=low, maximum=high)


def _check_images(
    model: ImageModel, params: Mapping[str, Any], names: list[str]
) -> list[ValidationProblem]:
    counts = {name: _count_images(params[name]) for name in names}
    used = [name for name, count in counts.items() if count]
    first = used[0] if used else names[0]
    total = sum(counts.values())
    problems = []
    if len(used) > 1:
        both = " and ".join(f"`{name}`" for name in used)
        message = f"give input images in one parameter, not in both {both}"
        problems.append(_problem(first, params[first], message))
    limit = max_input_images(model)
    supported = model.supported_parameters
    descriptor = _descriptor(supported, "input_references", "range") if supported else None
    low = descriptor.get("min") if descriptor is not None else None
    if limit == 0 and total:
        message = f"`{model.id}` takes no input images; got {total}"
        problems.append(_problem(first, params[first], message, maximum=0))
    elif limit is not None and total > limit:
        message = f"`{model.id}` takes at most {_images(limit, 'input image')}; got {total}"
        problems.append(_problem(first, params[first], message, maximum=limit))
    if type(low) is int and total < low:
        message = f"`{model.id}` needs at least {_images(low, 'input image')}; got {total}"
        problems.append(_problem(first, params[first], message, minimum=low, maximum=limit))
    return problems


# -- helpers -----------------------------------------------------------------


def _descriptor(params: SupportedParameters, name: str, kind: str) -> dict[str, Any] | None:
    descriptor = params.extras.get(name)
    if type(descriptor) is dict and descriptor.get("type") == kind:
        return descriptor
    return None


def _stricter(limit: int | None, other: Any) -> int | None:
    if type(other) is int and other >= 0 and (limit is None or other < limit):
        return other
    return limit


def fixed_count(model: ImageModel) -> int | None:
    """How many images every request to the model makes, when it says (``fixed_image_count``)."""
    params = model.supported_parameters
    fixed = params.fixed_image_count if params is not None else None
    return fixed if fixed is not None and fixed >= 1 else None


def _problem(
    parameter: str,
    value: Any,
    message: str,
    *,
    allowed: tuple[Any, ...] | None = None,
    suggestion: Any = None,
    minimum: Any = None,
    maximum: Any = None,
) -> ValidationProblem:
    return ValidationProblem(
        parameter, value, message, allowed, suggestion, minimum=minimum, maximum=maximum
    )


def _closest(word: str, candidates: tuple[str, ...]) -> str | None:
    matches = suggest(word, candidates, 1)
    return matches[0] if matches else None


def _did_you_mean(suggestion: Any) -> str:
    return f"; did you mean {suggestion}?" if suggestion is not None else ""


def _listing(values: tuple[Any, ...]) -> str:
    shown = ", ".join(str(value) for value in values[:_SHOWN])
    more = len(values) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _images(count: int | None, noun: str = "image") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def as_int(value: Any) -> int | None:
    """``value`` as a whole number when it is one (``2``, ``2.0``, ``"2"``), else ``None``."""
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is float and value.is_integer():
        return int(value)
    if kind is str and value.strip().isdecimal() and value.strip().isascii():
        return int(value)
    return None


def _as_number(value: Any) -> int | float | None:
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if type(value) is str:
        whole = as_int(value)
        if whole is not None:
            return whole
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _count_images(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, list | tuple):
        return len(value)
    return 1
