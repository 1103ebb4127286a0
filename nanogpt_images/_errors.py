"""The exception tree of nanogpt_images.

Every error the library raises is a :class:`NanoGPTError`; errors that are
"really" a builtin kind also inherit it, so ``except ValueError`` and
``except TimeoutError`` keep working::

    NanoGPTError
    ├── TransportError                 could not get an answer (DNS, refused, reset)
    │   ├── RequestTimeoutError        also a builtin TimeoutError
    │   │   └── PossiblyBilledTimeoutError    no answer in time after sending (*)
    │   └── PossiblyBilledTransportError      the connection broke after sending (*)
    ├── APIStatusError                 the server said no: .status .code .message .request_id
    │   │                              .body .retry_after
    │   ├── AuthenticationError        401
    │   ├── InsufficientBalanceError   402, .required_balance .balance (USD or None)
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── RateLimitError             429, .retry_after (seconds or None)
    │   └── ServerError                5xx
    │       └── PossiblyBilledServerError     5xx to a generation (*)
    ├── DecodeError                    the answer was not a catalog: .errors
    │   └── PossiblyBilledDecodeError         a generation's 200 could not be read (*)
    ├── ModelNotFoundError             also a LookupError: .model_id .suggestions
    ├── ParameterValidationError       also a ValueError: .problems
    ├── BudgetExceededError            also a ValueError: .estimate .limit
    ├── PossiblyBilledError            base of the four marked (*): a generation request
    │                                  that may have been billed, never sent again
    └── SessionClosedError             used after close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from ._models import ValidationProblem

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BudgetExceededError",
    "DecodeError",
    "InsufficientBalanceError",
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
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "SessionClosedError",
    "TransportError",
]


class NanoGPTError(Exception):
    """Root of every error raised by nanogpt_images.

    Every error copies and pickles with its attributes (``copy.copy``, a
    process pool, a logging queue), though subclasses take keyword arguments.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds with cls(*args), which keyword-only arguments refuse.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[NanoGPTError], args: tuple[Any, ...], state: dict[str, Any]) -> NanoGPTError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class TransportError(NanoGPTError):
    """No HTTP answer could be had: DNS failure, refused or reset connection."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The request did not complete within the configured timeout."""


class APIStatusError(NanoGPTError):
    """NanoGPT answered with an error status.

    ``code`` and ``message`` are read from whichever error envelope the body
    used; ``body`` is a bounded excerpt of the raw body, never the whole of it;
    ``retry_after`` is the wait in seconds the server asked for with a
    ``Retry-After`` header (a 429 or a 503 usually), or ``None``; ``hint``,
    when there is one, says what to do about it (a 404 names the URL tried).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        self.hint = hint
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"HTTP {self.status}"
        if self.code:
            text += f" ({self.code})"
        if self.message:
            text += f": {self.message}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g} s"
        if self.hint:
            text += f" ({self.hint})"
        return text


class AuthenticationError(APIStatusError):
    """401: the API key was missing, wrong or revoked."""


class InsufficientBalanceError(APIStatusError):
    """402: the account's balance does not cover the request; nothing was generated or billed.

    ``required_balance`` is the USD amount the server said the request needs,
    and ``balance`` what the account holds, when the body says so (else
    ``None``).
    """

    def __init__(
        self,
        message: str,
        *,
        required_balance: Decimal | None = None,
        balance: Decimal | None = None,
        **fields: Any,
    ) -> None:
        self.required_balance = required_balance
        self.balance = balance
        fields.setdefault("status", 402)
        super().__init__(message, **fields)

    def _describe(self) -> str:
        text = super()._describe()
        known = [
            f"{name} ${value}"
            for name, value in (("needs", self.required_balance), ("balance", self.balance))
            if value is not None
        ]
        return f"{text} ({', '.join(known)})" if known else text


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not use this resource."""


class NotFoundError(APIStatusError):
    """404: the URL does not exist (check ``base_url``)."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if it gave one."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        code: str | None = None,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            request_id=request_id,
            body=body,
            retry_after=retry_after,
            hint=hint,
        )


class ServerError(APIStatusError):
    """5xx: NanoGPT (or a proxy in front of it) failed; a 503 may carry ``retry_after``."""


class DecodeError(NanoGPTError):
    """The body was not a catalog: not JSON, not an object, or no ``data`` list.

    ``errors`` holds one readable line per problem found.
    """

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(message)


class ModelNotFoundError(NanoGPTError, LookupError):
    """No model has this id; ``suggestions`` lists up to three close ids."""

    def __init__(self, model_id: str, suggestions: Sequence[str] = ()) -> None:
        self.model_id = model_id
        self.suggestions = tuple(suggestions)
        text = f"no image model with id {model_id!r}"
        if self.suggestions:
            text += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(text)


class ParameterValidationError(NanoGPTError, ValueError):
    """A generation request does not fit the model; ``problems`` lists every problem found."""

    def __init__(self, model_id: str, problems: Sequence[ValidationProblem]) -> None:
        self.model_id = model_id
        self.problems = tuple(problems)
        lines = [f"invalid request for {model_id}:"]
        lines += [f"- {p.message}" for p in self.problems]
        super().__init__("\n".join(lines) if len(self.problems) != 1 else self.problems[0].message)


class BudgetExceededError(NanoGPTError, ValueError):
    """A generation was refused before sending: its estimate exceeds ``max_cost`` or a ``Budget``.

    ``estimate`` is the USD estimate (``None`` when the price is unknown,
    which is refused too whenever a limit is set); ``limit`` is the limit it
    was checked against: ``max_cost``, or what was left of the budget.
    """

    def __init__(self, message: str, *, estimate: Decimal | None, limit: Decimal) -> None:
        self.estimate = estimate
        self.limit = limit
        super().__init__(message)


class PossiblyBilledError(NanoGPTError):
    """A generation request may have reached NanoGPT, and may have been billed.

    The library never sends such a request again by itself: a second try
    could be billed a second time.  Look at your NanoGPT balance or usage
    before trying again.  Every error of this family is also the ordinary
    error of its kind (a :class:`ServerError`, a :class:`RequestTimeoutError`,
    a :class:`TransportError` or a :class:`DecodeError`).
    """


class PossiblyBilledServerError(ServerError, PossiblyBilledError):
    """5xx to a generation request: NanoGPT may have started (and billed) it."""


class PossiblyBilledTimeoutError(RequestTimeoutError, PossiblyBilledError):
    """No answer to a generation request in time, after it was sent."""


class PossiblyBilledTransportError(TransportError, PossiblyBilledError):
    """The connection broke after a generation request was sent."""


class PossiblyBilledDecodeError(DecodeError, PossiblyBilledError):
    """NanoGPT accepted a generation request (and billed it) but its answer could not be read."""


class SessionClosedError(NanoGPTError, RuntimeError):
    """The session was used after ``close()``."""
