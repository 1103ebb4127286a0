"""Reading what NanoGPT answers when it says no: error envelopes and ``Retry-After``.

Pure functions, no I/O: the transport hands them the status, headers and the
first bytes of the body, and raises what they build.  NanoGPT's error bodies
come in several envelopes (OpenAI style, the Image API's top-level ``code``,
a plain ``{"error": "text"}``, ``{"code", "message"}``, an x402 payment
quote...); the HTTP status picks the error class, the envelope fills in
``code`` and ``message``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ._errors import (
    APIStatusError,
    AuthenticationError,
    InsufficientBalanceError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_BODY_EXCERPT", "parse_retry_after", "read_amount", "status_error"]

#: ``APIStatusError.body`` keeps at most this many characters of the body.
MAX_BODY_EXCERPT = 1000


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" means UTC with no zone information
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):  # "inf", "nan": no usable wait
        return None
    return max(0.0, seconds)


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def status_error(
    status: int,
    raw: bytes,
    *,
    reason: str | None,
    request_id: str | None,
    retry_after: float | None,
    redact: Callable[[str], str],
    hint: str | None = None,
    server_error: type[ServerError] = ServerError,
) -> APIStatusError:
    """Build the typed error for a status, reading code and message from any envelope.

    Every string the server sent (body, reason phrase, request id) passes
    through ``redact`` before it reaches the error.  ``hint``, when given, says
    what the caller can do about it; ``server_error`` is the class of a 5xx.
    A 402 carries the balances its body gives.
    """
    text = redact(raw.decode("utf-8", errors="replace"))
    read_code, read_message = _read_envelope(text)
    # Decoded JSON escapes ("\u0073k-...") can spell the key again: redact what was read too.
    code = redact(read_code) if read_code else None
    message = redact(read_message) if read_message else None
    if message is None:
        message = _plain_message(text) or (redact(reason) if reason else None)
    if not 400 <= status <= 599:  # 1xx, 3xx, 999: no error status, and no catalog either
        said = f"; the server said: {message}" if message else ""
        message = f"unexpected status (the catalog comes with 200, or 304 when unchanged){said}"
    excerpt = text[:MAX_BODY_EXCERPT]
    if status == 402:
        required, balance = _balances(text)
        return InsufficientBalanceError(
            message or _phrase(status),
            code=code,
            request_id=redact(request_id) if request_id is not None else None,
            body=excerpt,
            retry_after=retry_after,
            hint=hint,
            required_balance=required,
            balance=balance,
        )
    kind = server_error if 500 <= status <= 599 else _STATUS_ERRORS.get(status, APIStatusError)
    return kind(
        message or _phrase(status),
        status=status,
        code=code,
        request_id=redact(request_id) if request_id is not None else None,
        body=excerpt,
        retry_after=retry_after,
        hint=hint,
    )


def _read_envelope(text: str) -> tuple[str | None, str | None]:
    """``(code, message)`` from whichever NanoGPT error envelope the body used."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    nested = error if isinstance(error, dict) else {}
    message = _text(nested.get("message")) or _text(data.get("message"))
    if message is None and isinstance(error, str):
        message = error
    code = _text(nested.get("code")) or _text(data.get("code")) or _text(nested.get("type"))
    if code is None and data.get("type") != "error":
        code = _text(data.get("type"))
    if code is None and "payment" in data:
        code = "payment_required"
    return code, message


_REQUIRED_KEYS = ("requiredBalance", "required_balance", "required", "requiredAmount")
_BALANCE_KEYS = ("currentBalance", "current_balance", "balance")


def _balances(text: str) -> tuple[Decimal | None, Decimal | None]:
    """``(required, current)`` USD balances from a 402 body, wherever the envelope put them.

    Read exactly as written (``parse_float=Decimal``): at the top level, in an
    ``error`` object, or in an x402 ``payment`` object.
    """
    try:
        data: Any = json.loads(text, parse_float=Decimal)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    places = [data, *(data[key] for key in ("error", "payment") if isinstance(data.get(key), dict))]
    return _first_amount(places, _REQUIRED_KEYS), _first_amount(places, _BALANCE_KEYS)


def _first_amount(places: list[dict[str, Any]], keys: tuple[str, ...]) -> Decimal | None:
    for place in places:
        for key in keys:
            amount = read_amount(place.get(key))
            if amount is not None:
                return amount
    return None


def read_amount(value: object) -> Decimal | None:
    """A USD amount written as a JSON number or a numeric string; ``None`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        return str(value) or None
    return None


def _plain_message(text: str) -> str | None:
    """A short plain-text body is its own message; HTML, JSON and long text are not."""
    stripped = text.strip()
    if not stripped or stripped[0] in "<{[" or len(stripped) > 200:
        return None
    return stripped.splitlines()[0]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP status {status}"
