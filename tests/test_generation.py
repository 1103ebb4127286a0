"""generate(): refusals send nothing, a paid request is never sent twice, answers read exactly."""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from conftest import load_fixture
from hypothesis import given
from hypothesis import strategies as st
from images import png

from nanogpt_images import (
    APIStatusError,
    AuthenticationError,
    Budget,
    BudgetExceededError,
    DecodeError,
    GeneratedImage,
    ImageModelsSession,
    InsufficientBalanceError,
    ModelNotFoundError,
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
from nanogpt_images._transport import Transport
from nanogpt_images.testing import FakeClock, FakeNanoGPT, png_bytes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import MakeSession

KEY = "sk-nano-11111111-generation-secret"
ERRORS = load_fixture("generation_errors.json")
GENERATE = "/v1/images/generations"


@pytest.fixture
async def paid_server() -> AsyncIterator[FakeNanoGPT]:
    """A FakeNanoGPT with the bundled sample catalog and $10 of balance."""
    async with FakeNanoGPT() as served:
        yield served


@pytest.fixture
async def auto_clock() -> AsyncIterator[FakeClock]:
    """A FakeClock that jumps to the next sleeper when idle, so retries never stall."""
    async with FakeClock(auto_advance=True) as auto:
        yield auto


@pytest.fixture
def make(make_session: MakeSession, paid_server: FakeNanoGPT, auto_clock: FakeClock) -> MakeSession:
    """Sessions on ``paid_server`` and ``auto_clock`` with the test key (no retries by default)."""

    def build(**options: Any) -> ImageModelsSession:
        options.setdefault("api_key", KEY)
        options.setdefault("base_url", paid_server.url)
        options.setdefault("clock", auto_clock)
        return make_session(**options)

    return build


@pytest.fixture
def session(make: MakeSession) -> ImageModelsSession:
    return make()


def retries(caplog: pytest.LogCaptureFixture) -> int:
    """How many retries of a generation the log tells of."""
    return caplog.text.count("retrying POST /v1/images/generations")


def posts(paid_server: FakeNanoGPT) -> list[Any]:
    """The generation requests the server received."""
    return [r for r in paid_server.requests if r.method == "POST" and r.path == GENERATE]


# -- the happy path ---------------------------------------------------------------


async def test_generate_returns_png_bytes_with_exact_cost_and_balance(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """One image comes back as PNG bytes at the catalog price, balance as the server said."""
    result = await session.generate(
        "flux-pro", "a red fox", resolution="1024x1024", n=1, max_cost=Decimal("0.10")
    )
    assert result.cost == Decimal("0.068")
    assert str(result.cost) == "0.068"  # exactly as written, no float noise
    assert result.remaining_balance == Decimal("9.932")
    assert result.payment_source == "USD"
    assert result.model == "flux-pro"
    assert isinstance(result.created, int)
    [image] = result.images
    assert image.data is not None
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert await image.read() == image.data
    assert result.request == {
        "model": "flux-pro",
        "prompt": "a red fox",
        "size": "1024x1024",
        "response_format": "b64_json",
        "n": 1,
    }
    [sent] = posts(paid_server)
    assert sent.json == result.request
    assert sent.headers["authorization"] == "***"


async def test_resolution_is_sent_in_the_models_spelling_and_params_pass_through(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """``1024*1024`` goes out as the model's ``1024x1024``; unknown params pass through."""
    await session.generate("gpt-image-2", "a cat", resolution="1024*1024", n=2, seed=7, user="u1")
    [sent] = posts(paid_server)
    assert sent.json["size"] == "1024x1024"
    assert sent.json["n"] == 2
    assert (sent.json["seed"], sent.json["user"]) == (7, "u1")


async def test_size_is_taken_as_resolution(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """``size=`` (the route's own word) works as ``resolution=``; both at once is a TypeError."""
    await session.generate("flux-pro", "a cat", size="1024x768")
    assert posts(paid_server)[0].json["size"] == "1024x768"
    with pytest.raises(TypeError, match="not both"):
        await session.generate("flux-pro", "a cat", size="1024x768", resolution="1024x768")


async def test_url_images_are_downloaded_once_without_the_key(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """``response_format="url"``: ``read()`` downloads each link once and never sends the key."""
    result = await session.generate("gpt-image-2", "a cat", n=2, response_format="url")
    assert [image.data for image in result.images] == [None, None]
    first = result.images[0]
    assert first.url is not None
    assert first.url.startswith(paid_server.url + "/files/")
    before = paid_server.request_count
    data = await asyncio.gather(first.read(), first.read(), first.read())
    assert data[0].startswith(b"\x89PNG")
    assert data[0] == data[1] == data[2]
    assert paid_server.request_count == before + 1
    download = paid_server.requests[-1]
    assert download.method == "GET"
    assert "authorization" not in download.headers
    assert "x-api-key" not in download.headers
    assert await result.images[1].read() != data[0]  # two different images


async def test_reading_a_link_respects_the_size_cap(paid_server: FakeNanoGPT) -> None:
    """A download bigger than ``max_response_bytes`` is refused with the cap named."""
    transport = Transport(api_key=None, base_url=paid_server.url, max_response_bytes=100)
    try:
        image = GeneratedImage(url=paid_server.url + "/files/big.png", download=transport.download)
        paid_server.respond_next(200, b"x" * 5000)
        with pytest.raises(DecodeError, match="max_response_bytes=100"):
            await image.read()
    finally:
        await transport.close()


async def test_an_expired_link_is_a_typed_error(session: ImageModelsSession) -> None:
    """A link that is gone (404) raises NotFound with a hint that links expire."""
    result = await session.generate("flux-pro", "a cat", response_format="url")
    image = GeneratedImage(url=result.images[0].url + "-gone", download=session._transport.download)
    with pytest.raises(APIStatusError, match="expires after an hour") as caught:
        await image.read()
    assert caught.value.status == 404


async def test_an_image_without_data_or_link_says_so(session: ImageModelsSession) -> None:
    """An image entry with neither b64_json nor url keeps what came in extras; read() explains."""
    image = GeneratedImage(extras={"revised_prompt": "x"})
    with pytest.raises(ValueError, match="neither b64_json nor url"):
        await image.read()
    assert "bytes" not in repr(image)


async def test_input_images_go_as_data_urls(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """Input image bytes are sent as ``data:image/png;base64,`` URLs in ``imageDataUrls``."""
    png = png_bytes(64, 64, seed=3)  # within gpt-image-2's limits (8 px at least)
    await session.generate("gpt-image-2", "like this", input_images=[png, png])
    [sent] = posts(paid_server)
    urls = sent.json["imageDataUrls"]
    assert len(urls) == 2
    assert urls[0].startswith("data:image/png;base64,")
    ready = "data:image/jpeg;base64,/9j/4AAQ"
    await session.generate("gpt-image-2", "like this", input_images=[ready])
    assert posts(paid_server)[1].json["imageDataUrls"] == [ready]


async def test_a_generation_with_no_cost_counts_the_estimate(
    session: ImageModelsSession, paid_server: FakeNanoGPT, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer without ``cost`` is counted at the estimate, with a warning."""
    await session.catalog()
    paid_server.respond_next(200, {"created": 1, "data": [{"b64_json": ""}]})
    with caplog.at_level(logging.WARNING, "nanogpt_images"):
        result = await session.generate("flux-pro", "a cat", resolution="1344x768")
    assert result.cost == Decimal("0.102")
    assert result.remaining_balance is None
    assert "gave no cost" in caplog.text


async def test_unknown_answer_keys_are_kept_and_numbers_are_exact(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """Numbers read as written (``Decimal``); keys the library does not know land in extras."""
    await session.catalog()
    raw = (
        b'{"created": 5, "data": [{"b64_json": "aGk=", "revised_prompt": "a fox"}], '
        b'"cost": 0.1, "remainingBalance": 12.345678901234567890, "paymentSource": "XNO", '
        b'"usage": {"images": 1}}'
    )
    paid_server.respond_next(200, raw)
    result = await session.generate("flux-pro", "a cat")
    assert result.cost == Decimal("0.1")
    assert result.remaining_balance == Decimal("12.345678901234567890")
    assert result.payment_source == "XNO"
    assert result.extras == {"usage": {"images": 1}}
    assert result.images[0].data == b"hi"
    assert result.images[0].extras == {"revised_prompt": "a fox"}


# -- pre-flight: nothing is sent ----------------------------------------------------


async def test_no_key_is_refused_before_anything_is_sent(
    make: MakeSession, paid_server: FakeNanoGPT
) -> None:
    """Without a key generate() says how to set one, and sends nothing at all."""
    session = make(api_key="")
    with pytest.raises(AuthenticationError, match="NANOGPT_API_KEY") as caught:
        await session.generate("flux-pro", "a cat")
    assert caught.value.code == "missing_api_key"
    assert "nothing was sent" in str(caught.value)
    assert paid_server.request_count == 0


REFUSALS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("flux-pr", {}, ModelNotFoundError, "did you mean 'flux-pro'"),
    ("flux-pro", {"resolution": "7x7"}, ParameterValidationError, "1024x1024"),
    ("flux-pro", {"n": 3}, ParameterValidationError, "n"),
    ("flux-pro", {"prompt": "   "}, ParameterValidationError, "the prompt is empty"),
    ("flux-pro", {"response_format": "png"}, ParameterValidationError, "'b64_json' or 'url'"),
    (
        "flux-pro",
        {"resolution": "1344x768", "max_cost": "0.10"},
        BudgetExceededError,
        r"estimated at \$0.102, more than max_cost=\$0.10",
    ),
    ("auto-image-selection", {"max_cost": 1}, BudgetExceededError, "price .* is unknown"),
    ("flux-pro", {"input_images": [b"not an image"]}, ParameterValidationError, "not a PNG"),
    (
        "flux-pro",
        {"input_images": [b"\x89PNG\r\n\x1a\n" + bytes(4 * 2**20)]},
        ParameterValidationError,
        "at most 4194304 bytes",
    ),
    (
        "flux-pro",
        {"input_images": ["https://example.com/cat.png"]},
        ParameterValidationError,
        "takes no links",
    ),
    ("flux-kontext", {"input_images": [png_bytes()] * 2}, ParameterValidationError, "at most 1"),
]


@pytest.mark.parametrize(
    ("model", "options", "error", "message"), REFUSALS, ids=[r[3][:24] for r in REFUSALS]
)
async def test_preflight_refusals_send_no_generation_request(
    session: ImageModelsSession,
    paid_server: FakeNanoGPT,
    model: str,
    options: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    """Each pre-flight refusal is its typed error saying what is wrong; no POST goes out."""
    prompt = options.pop("prompt", "a cat")
    with pytest.raises(error, match=message):
        await session.generate(model, prompt, **options)
    assert posts(paid_server) == []
    assert paid_server.balance == Decimal("10")


async def test_budget_refusals_carry_estimate_and_limit(session: ImageModelsSession) -> None:
    """BudgetExceededError is a ValueError with ``.estimate`` and ``.limit`` as Decimals."""
    with pytest.raises(BudgetExceededError) as caught:
        await session.generate("flux-pro", "a cat", resolution="1344x768", max_cost=0.1)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.estimate, caught.value.limit) == (Decimal("0.102"), Decimal("0.1"))
    with pytest.raises(BudgetExceededError) as unknown:
        await session.generate("auto-image-selection", "a cat", max_cost=1)
    assert unknown.value.estimate is None
    copied = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert (copied.estimate, copied.limit, str(copied)) == (
        caught.value.estimate,
        caught.value.limit,
        str(caught.value),
    )


async def test_every_problem_is_listed_at_once(session: ImageModelsSession) -> None:
    """A bad prompt, size and input image are reported together in one error."""
    with pytest.raises(ParameterValidationError) as caught:
        await session.generate("flux-pro", "", resolution="7x7", input_images=[b"nope"])
    assert {p.parameter for p in caught.value.problems} == {"prompt", "resolution", "input_images"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"prompt": 5}, "prompt must be a string"),
        ({"input_images": b"\x89PNG"}, "wrap a single image in a list"),
        ({"model": "x"}, "first two arguments"),
        ({"max_cost": "cheap"}, "amount in USD"),
        ({"max_cost": [1]}, "amount in USD"),
        ({"budget": 5}, "nanogpt_images.Budget"),
    ],
)
async def test_wrong_argument_types_are_refused(
    session: ImageModelsSession, paid_server: FakeNanoGPT, call: dict[str, Any], message: str
) -> None:
    """Arguments of the wrong type fail with what was expected, before any request."""
    prompt = call.pop("prompt", "a cat")
    with pytest.raises((TypeError, ValueError), match=message):
        await session.generate("flux-pro", prompt, **call)
    assert posts(paid_server) == []


async def test_without_a_size_the_estimate_is_the_dearest_size(
    session: ImageModelsSession,
) -> None:
    """With no resolution the server picks one, so max_cost is checked against the dearest."""
    with pytest.raises(BudgetExceededError) as caught:
        await session.generate("flux-pro", "a cat", max_cost="0.1")
    assert caught.value.estimate == Decimal("0.102")


async def test_a_closed_session_refuses_to_generate(session: ImageModelsSession) -> None:
    """generate() after close() raises SessionClosedError."""
    await session.close()
    with pytest.raises(SessionClosedError):
        await session.generate("flux-pro", "a cat")


# -- never billed twice ------------------------------------------------------------


async def test_a_billed_500_is_sent_once_and_says_it_may_have_been_billed(
    make: MakeSession, paid_server: FakeNanoGPT
) -> None:
    """NanoGPT's real "has been billed" 500 is not retried; the error says to check the balance."""
    session = make(max_retries=5)
    await session.catalog()
    paid_server.fault_next("billed_500")
    with pytest.raises(PossiblyBilledServerError) as caught:
        await session.generate("flux-pro", "a cat")
    assert isinstance(caught.value, ServerError)
    assert isinstance(caught.value, PossiblyBilledError)
    assert caught.value.status == 500
    assert "has been billed" in str(caught.value)
    assert "may have been billed, so it was not sent again" in str(caught.value)
    assert len(posts(paid_server)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_no_5xx_is_retried(make: MakeSession, paid_server: FakeNanoGPT, status: int) -> None:
    """Any 5xx to a generation is final: exactly one request, a PossiblyBilledServerError."""
    session = make(max_retries=5)
    await session.catalog()
    paid_server.fail_next(5, status, retry_after=1)
    with pytest.raises(PossiblyBilledServerError):
        await session.generate("flux-pro", "a cat")
    assert len(posts(paid_server)) == 1


async def test_a_timeout_after_sending_is_not_retried(
    make: MakeSession, paid_server: FakeNanoGPT
) -> None:
    """A request sent but unanswered within generation_timeout is a TimeoutError, sent once."""
    session = make(max_retries=5, generation_timeout=0.05)
    await session.catalog()
    paid_server.hold()
    try:
        with pytest.raises(PossiblyBilledTimeoutError) as caught:
            await session.generate("flux-pro", "a cat")
    finally:
        paid_server.release()
    assert isinstance(caught.value, TimeoutError)
    assert "generation_timeout=0.05 s" in str(caught.value)
    assert "may have been billed" in str(caught.value)
    assert len(posts(paid_server)) == 1


@pytest.mark.parametrize("fault", ["no_answer", "drop_connection", "bad_http"])
async def test_a_dropped_connection_is_not_retried(
    make: MakeSession, paid_server: FakeNanoGPT, fault: Any
) -> None:
    """A connection that breaks after the request went out is sent once and flagged as billed."""
    session = make(max_retries=5)
    await session.catalog()
    paid_server.fault_next(fault)
    with pytest.raises(PossiblyBilledTransportError, match="may have been billed"):
        await session.generate("flux-pro", "a cat")
    assert len(posts(paid_server)) == 1


async def test_an_unreadable_success_is_billed_and_not_retried(
    make: MakeSession, paid_server: FakeNanoGPT
) -> None:
    """A 200 whose body is not a generation raises PossiblyBilledDecodeError; one request."""
    session = make(max_retries=5)
    await session.catalog()
    for body in (b"<html>oops</html>", b'{"data": "nope"}', b'{"data": [{"b64_json": "**"}]}'):
        paid_server.respond_next(200, body)
        with pytest.raises(PossiblyBilledDecodeError, match="billed"):
            await session.generate("flux-pro", "a cat")
    paid_server.respond_next(200, b'{"data": [7]}')
    with pytest.raises(DecodeError, match="image 0 is not an object"):
        await session.generate("flux-pro", "a cat")
    assert len(posts(paid_server)) == 4


async def test_an_oversized_success_is_billed(make: MakeSession, paid_server: FakeNanoGPT) -> None:
    """A 2xx bigger than max_response_bytes is refused unread, and flagged as billed."""
    session = make(max_retries=5)
    await session.catalog()
    session._transport._max_response_bytes = 1000  # the catalog is far bigger
    paid_server.respond_next(200, b"x" * 5000)
    with pytest.raises(PossiblyBilledDecodeError, match="max_response_bytes=1000"):
        await session.generate("flux-pro", "a cat")
    assert len(posts(paid_server)) == 1


async def test_a_redirect_is_not_followed(make: MakeSession, paid_server: FakeNanoGPT) -> None:
    """A redirect of the paid POST is not followed; the error says to fix base_url."""
    session = make(max_retries=5)
    await session.catalog()
    paid_server.redirect_next(paid_server.url + "/elsewhere", status=307)
    with pytest.raises(APIStatusError, match="set base_url") as caught:
        await session.generate("flux-pro", "a cat")
    assert caught.value.code == "redirect"
    assert len(posts(paid_server)) == 1
    assert paid_server.requests[-1].path == GENERATE


async def test_a_429_is_retried_after_retry_after(
    make: MakeSession,
    paid_server: FakeNanoGPT,
    auto_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 429 surely did not run: it is retried after the server's Retry-After, then succeeds."""
    session = make(max_retries=2)
    await session.catalog()
    paid_server.fail_next(1, 429, retry_after=7)
    with caplog.at_level(logging.INFO, "nanogpt_images"):
        result = await session.generate("flux-pro", "a cat")
    assert result.cost == Decimal("0.0612")
    assert auto_clock.monotonic() == 7
    assert retries(caplog) == 1
    assert len(posts(paid_server)) == 2


async def test_a_429_past_max_retry_after_is_raised_at_once(
    make: MakeSession, paid_server: FakeNanoGPT, auto_clock: FakeClock
) -> None:
    """A Retry-After longer than max_retry_after (a daily cap) is raised, not waited for."""
    session = make(max_retries=2, max_retry_after=60)
    await session.catalog()
    paid_server.fail_next(1, 429, retry_after=3600)
    with pytest.raises(RateLimitError) as caught:
        await session.generate("flux-pro", "a cat")
    assert caught.value.retry_after == 3600
    assert not isinstance(caught.value, PossiblyBilledError)
    assert auto_clock.monotonic() == 0
    assert len(posts(paid_server)) == 1


async def test_a_refused_connection_is_retried(
    make: MakeSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening: the request surely did not run, so it is retried, then raised plainly."""
    async with FakeNanoGPT() as gone:
        session = make(base_url=gone.url, max_retries=2)
        await session.catalog()
    with (
        caplog.at_level(logging.INFO, "nanogpt_images"),
        pytest.raises(TransportError, match="connection refused") as caught,
    ):
        await session.generate("flux-pro", "a cat")
    assert not isinstance(caught.value, PossiblyBilledError)
    assert retries(caplog) == 2


# -- error bodies NanoGPT really sent --------------------------------------------

_KINDS = {400: APIStatusError, 403: PermissionDeniedError, 422: APIStatusError}
_KINDS |= {500: PossiblyBilledServerError, 503: PossiblyBilledServerError}


@pytest.mark.parametrize("case", ERRORS["census"], ids=lambda case: case["model"])
async def test_real_error_bodies_map_to_typed_errors(
    session: ImageModelsSession, paid_server: FakeNanoGPT, case: dict[str, Any]
) -> None:
    """Each error NanoGPT sent in the census becomes its typed error with its code and message."""
    await session.catalog()
    paid_server.respond_next(case["status"], case["body"])
    with pytest.raises(APIStatusError) as caught:
        await session.generate("flux-pro", "a cat")
    error = caught.value
    assert type(error) is _KINDS[case["status"]]
    assert error.status == case["status"]
    assert error.code == (case["body"]["code"] or None)
    assert error.message.startswith(case["body"]["error"][:60])
    assert len(posts(paid_server)) == 1


@pytest.mark.parametrize("case", ERRORS["documented"], ids=lambda case: case["name"])
async def test_documented_envelopes_map_to_typed_errors(
    make: MakeSession, paid_server: FakeNanoGPT, case: dict[str, Any]
) -> None:
    """The other documented envelopes (OpenAI, Image API, balance, x402) give status and code."""
    session = make(max_retries=0)
    await session.catalog()
    paid_server.respond_next(case["status"], case["body"])
    with pytest.raises(APIStatusError) as caught:
        await session.generate("flux-pro", "a cat")
    assert caught.value.status == case["status"]
    assert caught.value.code == case["code"]
    if case["status"] == 402:
        error = caught.value
        assert isinstance(error, InsufficientBalanceError)
        expected = case["required_balance"]
        assert error.required_balance == (None if expected is None else Decimal(expected))
        balance = case["balance"]
        assert error.balance == (None if balance is None else Decimal(balance))


async def test_a_402_from_the_fake_names_the_required_balance(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """With too little balance the server answers 402; the error has the amount it needs."""
    paid_server.balance = Decimal("0.01")
    with pytest.raises(InsufficientBalanceError) as caught:
        await session.generate("flux-pro", "a cat", resolution="1024x1024")
    assert caught.value.required_balance == Decimal("0.068")
    assert caught.value.balance == Decimal("0.01")
    assert "needs $0.068, balance $0.01" in str(caught.value)
    copied = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert copied.required_balance == Decimal("0.068")


# -- budget ------------------------------------------------------------------------


async def test_concurrent_generations_never_overspend_a_budget(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """Twenty racing generations against room for three: three are sent, the rest refused."""
    await session.catalog()
    budget = Budget(Decimal("0.068") * 3 + Decimal("0.05"))
    results = await asyncio.gather(
        *(
            session.generate("flux-pro", f"cat {i}", resolution="1024x1024", budget=budget)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert (len(done), len(refused)) == (3, 17)
    assert budget.spent == Decimal("0.204")
    assert budget.reserved == 0
    assert budget.remaining == Decimal("0.050")
    assert len(posts(paid_server)) == 3


async def test_a_budget_is_given_back_when_nothing_was_billed(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """A request the server refused (402) releases its reservation: nothing counts as spent."""
    budget = Budget("1")
    paid_server.balance = Decimal(0)
    with pytest.raises(InsufficientBalanceError):
        await session.generate("flux-pro", "a cat", budget=budget)
    assert (budget.spent, budget.reserved, budget.remaining) == (0, 0, 1)


async def test_a_possibly_billed_request_counts_its_estimate(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """When the outcome is unknown the budget counts the estimate as spent (the safe side)."""
    budget = Budget("1")
    await session.catalog()
    paid_server.fault_next("billed_500")
    with pytest.raises(PossiblyBilledServerError):
        await session.generate("flux-pro", "a cat", resolution="1344x768", budget=budget)
    assert budget.spent == Decimal("0.102")
    assert budget.reserved == 0


async def test_a_cancelled_generation_counts_its_estimate(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """Cancelling a generation in flight keeps its estimate counted: it may have run."""
    budget = Budget("1")
    await session.catalog()
    paid_server.hold()
    task = asyncio.create_task(
        session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
    )
    await paid_server.wait_for_requests(2)
    assert budget.reserved == Decimal("0.068")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    paid_server.release()
    assert (budget.spent, budget.reserved) == (Decimal("0.068"), 0)


async def test_an_exhausted_or_unpriced_budget_sends_nothing(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """A spent budget, or a model with no price, is refused before sending, saying why."""
    budget = Budget("0.05")
    with pytest.raises(BudgetExceededError, match=r"more than the \$0.05 left") as caught:
        await session.generate("flux-pro", "a cat", resolution="1024x1024", budget=budget)
    assert caught.value.limit == Decimal("0.05")
    with pytest.raises(BudgetExceededError, match="unknown"):
        await session.generate("auto-image-selection", "a cat", budget=budget)
    assert posts(paid_server) == []


def test_budget_amounts_and_reset() -> None:
    """A Budget takes exact amounts (a float as it prints), refuses junk, and resets spending."""
    assert Budget(0.1).limit == Decimal("0.1")
    assert Budget("$2.50").limit == Decimal("2.50")
    budget = Budget(Decimal(1))
    held = budget.reserve(Decimal("0.4"), what="a test")
    held.settle(Decimal("0.5"))
    held.settle(Decimal("9"))  # settling twice changes nothing
    assert budget.spent == Decimal("0.5")
    budget.reset()
    assert budget.remaining == 1
    assert repr(budget).startswith("Budget(limit=1, spent=0, reserved=0")
    for bad in ("-1", "nan", "lots"):
        with pytest.raises(ValueError, match="limit"):
            Budget(bad)
    with pytest.raises(TypeError, match="not bool"):
        Budget(True)  # type: ignore[arg-type]


# -- secrets -------------------------------------------------------------------------


async def test_the_key_is_in_no_message_repr_log_or_recorded_request(
    make: MakeSession, paid_server: FakeNanoGPT, caplog: pytest.LogCaptureFixture
) -> None:
    """A server echoing the key in errors leaks it nowhere: errors, reprs, logs, the request log."""
    session = make(max_retries=1)
    await session.catalog()
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG, "nanogpt_images"):
        result = await session.generate("flux-pro", "a cat", resolution="1024x1024")
        seen += [repr(result), repr(result.images), str(result.request)]
        for status in (500, 402, 400, 429):
            paid_server.respond_next(status, {"error": f"bad key {KEY}", "requiredBalance": 1})
            if status == 429:
                paid_server.respond_next(429, {"error": {"message": f"slow down {KEY}"}})
            with pytest.raises(APIStatusError) as caught:
                await session.generate("flux-pro", "a cat")
            seen += [str(caught.value), repr(caught.value), caught.value.body]
    seen += [caplog.text, repr(session), repr(paid_server.requests)]
    assert all(KEY not in text for text in seen)
    assert "***" in seen[3]


async def test_a_stale_borrowed_connection_is_retried_not_billed(
    paid_server: FakeNanoGPT, auto_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A pooled connection the server dropped carries no request: retried, not called billed."""
    async with aiohttp.ClientSession() as http:
        session = ImageModelsSession(
            KEY,
            base_url=paid_server.url,
            clock=auto_clock,
            refresh_interval=None,
            http_session=http,
        )
        async with session:
            await session.catalog()  # leaves a keep-alive connection in the pool
            await paid_server.close()
            with (
                caplog.at_level(logging.INFO, "nanogpt_images"),
                pytest.raises(TransportError) as caught,
            ):
                await session.generate("flux-pro", "a cat")
    assert not isinstance(caught.value, PossiblyBilledError)
    assert "Can not write request body" in caplog.text
    assert retries(caplog) == 2


async def test_the_plugins_paid_session_generates_on_the_fake(
    nanogpt_paid_session: ImageModelsSession, nanogpt_server: FakeNanoGPT
) -> None:
    """The pytest plugin's keyed session generates against its server, billed from its balance."""
    result = await nanogpt_paid_session.generate("gpt-image-2", "a cat", resolution="1024x1024")
    assert result.cost == Decimal("0.06551")
    assert nanogpt_server.balance == Decimal("9.93449")
    assert nanogpt_server.requests[-1].headers["authorization"] == "***"


# -- odd answers and odd inputs -------------------------------------------------------


async def test_odd_values_in_an_answer_are_kept_in_extras(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """A known key with a value of the wrong shape reads as None and stays in extras as sent."""
    await session.catalog()
    paid_server.respond_next(
        200,
        {
            "created": "yesterday",
            "data": [{"b64_json": 5, "url": ["x"]}],
            "cost": "0.25",
            "remainingBalance": "lots",
        },
    )
    result = await session.generate("flux-pro", "a cat")
    assert result.created is None
    assert result.cost == Decimal("0.25")
    assert result.remaining_balance is None
    assert result.extras == {"created": "yesterday", "remainingBalance": "lots"}
    [image] = result.images
    assert (image.data, image.url) == (None, None)
    assert image.extras == {"b64_json": 5, "url": ["x"]}


async def test_webp_and_odd_input_images(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """WebP bytes go as image/webp; an input image of another type is a listed problem."""
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8 "
    await session.generate("gpt-image-2", "like this", input_images=[webp])
    assert posts(paid_server)[0].json["imageDataUrls"][0].startswith("data:image/webp;base64,")
    with pytest.raises(ParameterValidationError, match="must be bytes or a data:image/ URL"):
        await session.generate("gpt-image-2", "like this", input_images=[42])


async def test_a_hand_made_image_cannot_download_itself() -> None:
    """A GeneratedImage built without the session's downloader says how to get its bytes."""
    with pytest.raises(RuntimeError, match="download its url yourself"):
        await GeneratedImage(url="https://example.invalid/a.png").read()


async def test_downloads_fail_with_typed_errors(paid_server: FakeNanoGPT) -> None:
    """A link that is not http(s), one that hangs, one nobody serves: each a typed error."""
    async with FakeNanoGPT() as gone:
        closed = gone.url
    transport = Transport(api_key=KEY, base_url=paid_server.url, timeout=0.05)
    try:
        with pytest.raises(TransportError, match="not an http"):
            await transport.download("ftp://example.invalid/a.png")
        with pytest.raises(TransportError, match="could not download"):
            await transport.download(closed + "/files/a.png")
        paid_server.hold()
        try:
            with pytest.raises(RequestTimeoutError, match=r"timeout=0\.05 s"):
                await transport.download(paid_server.url + "/files/a.png")
        finally:
            paid_server.release()
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("body", "required", "balance"),
    [
        (b"Payment Required", None, None),
        (b"[1, 2]", None, None),
        (b'{"error": {"message": "low", "required_balance": "1.5"}, "balance": "x"}', "1.5", None),
        (
            b'{"error": "low", "payment": {"requiredBalance": 2, "currentBalance": "NaN"}}',
            "2",
            None,
        ),
    ],
)
async def test_a_402_reads_balances_wherever_they_are(
    session: ImageModelsSession,
    paid_server: FakeNanoGPT,
    body: bytes,
    required: str | None,
    balance: Any,
) -> None:
    """The required balance is read from the top level, the error object or the x402 payment."""
    await session.catalog()
    paid_server.respond_next(402, body)
    with pytest.raises(InsufficientBalanceError) as caught:
        await session.generate("flux-pro", "a cat")
    assert caught.value.required_balance == (None if required is None else Decimal(required))
    assert caught.value.balance == balance


@given(
    limit=st.decimals(min_value=0, max_value=5, places=3),
    steps=st.lists(
        st.tuples(st.decimals(min_value=0, max_value=1, places=4), st.sampled_from("srk")),
        max_size=40,
    ),
)
def test_a_budget_never_holds_more_than_its_limit(limit: Decimal, steps: list[Any]) -> None:
    """Whatever the order of reservations, settlements and releases, held + spent ≤ limit."""
    budget = Budget(limit)
    open_ones = []
    for estimate, then in steps:
        if estimate <= budget.remaining:
            open_ones.append(budget.reserve(estimate, what="an image"))
        else:
            with pytest.raises(BudgetExceededError):
                budget.reserve(estimate, what="an image")
        assert budget.spent + budget.reserved <= limit
        if open_ones and then == "s":
            held = open_ones.pop(0)
            held.settle(held.estimate)
        elif open_ones and then == "r":
            open_ones.pop().release()
        assert budget.spent + budget.reserved <= limit


# -- the server server's generation route --------------------------------------------


async def test_the_fake_checks_generations_as_nanogpt_does(paid_server: FakeNanoGPT) -> None:
    """No key, a wrong key, bad JSON, no prompt, an unknown model: each its own error answer."""
    url = paid_server.url + GENERATE
    auth = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as http:

        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            async with http.post(url, data=body, headers=headers) as response:
                return response.status, await response.json()

        assert (await post(b"{}", {}))[1]["error"]["code"] == "missing_api_key"
        assert (await post(b"nope", auth)) == (
            400,
            {"error": "Invalid JSON body", "code": "invalid_json"},
        )
        assert (await post(b'{"model": "flux-pro"}', auth))[1]["code"] == "missing_prompt"
        unknown = await post(b'{"model": "flux-pr", "prompt": "x"}', auth)
        assert unknown[1]["code"] == "model_not_found"
        bad_n = await post(b'{"model": "flux-pro", "prompt": "x", "n": 0}', auth)
        assert (bad_n[0], bad_n[1]["code"]) == (400, "invalid_parameter_value")
        paid_server.require_key = "sk-other"
        status, body = await post(b'{"model": "flux-pro", "prompt": "x"}', auth)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert paid_server.balance == Decimal("10")


async def test_concurrent_generations_each_get_their_own_answer(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """Requests in flight together are billed by their own bodies, not each other's."""
    await session.catalog()
    paid_server.hold()
    calls = [
        asyncio.create_task(session.generate("gpt-image-2", "a cat", resolution=size, n=n))
        for size, n in (("1024x1024", 1), ("2560x1440", 3), ("1024x768", 2))
    ]
    await paid_server.wait_for_requests(4)  # the catalog and three generations
    paid_server.release()
    costs = [generation.cost for generation in await asyncio.gather(*calls)]
    assert costs == [Decimal("0.06551"), Decimal("0.21867"), Decimal("0.10450")]


@pytest.mark.parametrize(
    "error",
    [
        PossiblyBilledServerError("boom", status=500, code="x", hint="billed"),
        PossiblyBilledTimeoutError("no answer"),
        PossiblyBilledTransportError("dropped"),
        PossiblyBilledDecodeError("not JSON", ["line 1"]),
        InsufficientBalanceError("low", required_balance=Decimal("0.5"), request_id="r"),
        BudgetExceededError("too dear", estimate=Decimal("1"), limit=Decimal("0.5")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_generation_errors_are_both_kinds_and_pickle(error: Exception) -> None:
    """Each billed error is also its ordinary kind; all copy and pickle with their attributes."""
    kinds = {
        PossiblyBilledServerError: (ServerError, PossiblyBilledError),
        PossiblyBilledTimeoutError: (TimeoutError, TransportError, PossiblyBilledError),
        PossiblyBilledTransportError: (TransportError, PossiblyBilledError),
        PossiblyBilledDecodeError: (DecodeError, PossiblyBilledError),
        InsufficientBalanceError: (APIStatusError,),
        BudgetExceededError: (ValueError,),
    }
    assert isinstance(error, kinds[type(error)])
    twin = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(twin) is type(error)
    assert (str(twin), vars(twin)) == (str(error), vars(error))


# -- input images: the check session.validate() runs ----------------------------------


async def test_an_image_over_the_models_width_limit_is_refused_before_paying(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """generate() holds input images to the model's endpoint limits, as validate() does."""
    wide = png(20000, 100)
    with pytest.raises(ParameterValidationError) as caught:
        await session.generate("gpt-image-2", "like this", input_images=[wide])
    (problem,) = caught.value.problems
    assert problem.parameter == "input_images[0]"
    assert problem.message == "input image 1 is 20000 px wide; `gpt-image-2` takes at most 16384 px"
    with pytest.raises(ParameterValidationError) as validated:
        await session.validate("gpt-image-2", input_images=[wide])
    assert validated.value.problems == caught.value.problems
    assert posts(paid_server) == []
    assert paid_server.balance == Decimal("10")


async def test_data_urls_are_checked_by_what_they_hold(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """A data URL is read for its header; one that is not base64 is held to its size."""
    small = "data:image/png;base64," + base64.b64encode(png(4, 4)).decode()
    huge = "data:image/png;base64," + "!" * (6 * 2**20)
    with pytest.raises(ParameterValidationError) as caught:
        await session.generate("gpt-image-2", "like this", input_images=[small, huge])
    messages = [problem.message for problem in caught.value.problems]
    assert "input image 1 is 4 px wide; `gpt-image-2` needs at least 8 px" in messages
    assert any(m.startswith("input image 2 is 4.5 MiB") and "4194304 bytes" in m for m in messages)
    named = "data:image/gif;base64," + base64.b64encode(b"no header").decode()  # as it says
    with pytest.raises(ParameterValidationError, match="input image 1 is GIF; `gpt-image-2` takes"):
        await session.generate("gpt-image-2", "like this", input_images=[named])
    assert posts(paid_server) == []


async def test_images_within_the_limits_are_checked_once_per_model(
    session: ImageModelsSession, paid_server: FakeNanoGPT
) -> None:
    """The endpoint details are fetched once and cached; requests without images need none."""
    await session.generate("gpt-image-2", "a cat")
    assert not [r for r in paid_server.requests if r.path.endswith("/endpoints")]
    image = png_bytes(64, 64)
    await session.generate("gpt-image-2", "like this", input_images=[image])
    await session.generate("gpt-image-2", "like this", input_images=[image])
    assert len([r for r in paid_server.requests if r.path.endswith("/endpoints")]) == 1
    assert len(posts(paid_server)) == 3
