"""A discord.py bot with model autocomplete and an ``/imagine`` that generates within a budget.

Needs ``pip install discord.py`` (not a dependency of nanogpt-images)::

    DISCORD_TOKEN=... NANOGPT_API_KEY=... python examples/discord_bot.py

One ``ImageModelsSession`` lives as long as the bot (:class:`ImagineBot`
starts it in ``setup_hook`` and closes it in ``close``): autocomplete answers
from the cached catalog in microseconds (Discord gives autocomplete 3 s), and
``/imagine`` refuses a bad size or count, or an attached image the model
cannot take (wrong format, too small, too big), before anything is paid for,
then generates, drawing on one :class:`~nanogpt_images.Budget` that every
user of the bot shares (reset it each day to make it a daily cap).  The
attachment is checked from what Discord says of it (pixels, bytes, content
type), so nothing is downloaded for a request that would fail.  The logic
lives in plain functions (:func:`autocomplete_models`, :func:`preflight`,
:func:`imagine_images`) that know nothing about Discord; the command
callbacks only turn their answers into replies.
"""

# No ``from __future__ import annotations`` here: discord.py reads the command
# annotations at run time.
import io
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs
import discord
from discord import app_commands

from nanogpt_images import (
    Budget,
    BudgetExceededError,
    ImageModel,
    ImageModelsSession,
    InputImage,
    InsufficientBalanceError,
    ModelNotFoundError,
    NanoGPTError,
    ParameterValidationError,
    PossiblyBilledError,
)

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
MAX_CHOICE_NAME = 100  # and cuts each label at 100 characters
DAILY_BUDGET = Decimal("5.00")  # USD the whole bot may spend a day


def autocomplete_models(
    models: Iterable[ImageModel], typed: str, limit: int = MAX_CHOICES
) -> list[tuple[str, str]]:
    """``(label, model id)`` choices for what the user has typed so far.

    An exact id or name comes first, then ids or names that start with the
    text, then those containing it; an empty text lists the first models.
    Labels show the name and the "from" price, cut to Discord's 100 characters.
    """
    needle = typed.strip().casefold()
    ranked: tuple[list[ImageModel], list[ImageModel], list[ImageModel]] = ([], [], [])
    for model in models:
        haystacks = (model.id.casefold(), model.display_name.casefold())
        if needle in haystacks:
            ranked[0].append(model)
        elif any(text.startswith(needle) for text in haystacks):
            ranked[1].append(model)
        elif any(needle in text for text in haystacks):
            ranked[2].append(model)
    best = [model for group in ranked for model in group][:limit]
    return [(_label(model), model.id) for model in best]


@attrs.frozen
class Preflight:
    """The answer to an ``/imagine`` before generating: go ahead, or why not."""

    ok: bool
    message: str
    request: dict[str, Any] = attrs.Factory(dict)
    price: Decimal | None = None


async def preflight(
    session: ImageModelsSession,
    model_id: str,
    *,
    size: str | None = None,
    n: int = 1,
    images: Sequence[InputImage] = (),
) -> Preflight:
    """Check ``/imagine model size n [image]`` before generating; the message is fit for the user.

    ``images`` are the attached input images, checked against the model's
    endpoint details (formats, pixels, bytes, how many it takes).
    """
    try:
        model = await session.get_model(model_id)
    except ModelNotFoundError as exc:
        hint = f" Did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
        return Preflight(False, f"I don't know the model `{model_id}`.{hint}")
    params: dict[str, Any] = {"n": n}
    if size is not None:
        params["resolution"] = size
    try:
        request = await session.validate(model.id, input_images=images, **params)
    except ParameterValidationError as exc:
        lines = "\n".join(f"• {problem.message}" for problem in exc.problems)
        return Preflight(False, f"That request won't work:\n{lines}")
    price = await session.price(model.id, resolution=request.get("resolution"), n=request["n"])
    cost = f" for ${price}" if price is not None else ""
    what = f"{request['n']} x {request.get('resolution', 'default size')}"
    return Preflight(True, f"Generating {what} with {model.display_name}{cost}…", request, price)


@attrs.frozen
class Imagined:
    """What ``/imagine`` generated (``files`` of ``(name, bytes)``), or why it could not."""

    ok: bool
    message: str
    files: list[tuple[str, bytes]] = attrs.Factory(list)


async def imagine_images(
    session: ImageModelsSession,
    model_id: str,
    prompt: str,
    request: dict[str, Any],
    budget: Budget,
    *,
    input_images: Sequence[bytes] = (),
) -> Imagined:
    """Generate a checked request within ``budget``; the message is fit for the channel.

    ``input_images`` are the attached images' bytes, sent along.
    """
    try:
        result = await session.generate(
            model_id, prompt, budget=budget, input_images=input_images, **request
        )
    except BudgetExceededError as refused:
        if refused.estimate is None:  # no price known for this request: nothing to budget
            return Imagined(False, "I can't price that request, so I won't pay for it blindly.")
        return Imagined(False, "The bot has spent today's image budget; try again tomorrow.")
    except InsufficientBalanceError:
        return Imagined(False, "The bot's NanoGPT balance is empty; tell its owner.")
    except PossiblyBilledError:
        # Never retry these: NanoGPT may already have billed the request.
        return Imagined(False, "NanoGPT failed half-way; I won't retry, so as not to pay twice.")
    except NanoGPTError as exc:
        return Imagined(False, f"NanoGPT refused: {exc}")
    files = [
        (f"imagine-{number}.png", await image.read())
        for number, image in enumerate(result.images, start=1)
    ]
    return Imagined(True, f"Done for ${result.cost} (${budget.remaining} left today).", files)


def _label(model: ImageModel) -> str:
    price = model.price()
    label = model.display_name if price is None else f"{model.display_name} · from ${price}"
    if model.display_name != model.id:
        label += f" ({model.id})"
    return label if len(label) <= MAX_CHOICE_NAME else label[: MAX_CHOICE_NAME - 1] + "…"


class ImagineBot(discord.Client):
    """The bot: one session for its lifetime and a command tree holding ``/imagine``."""

    def __init__(
        self, session: ImageModelsSession | None = None, budget: Budget | None = None
    ) -> None:
        super().__init__(intents=discord.Intents.default())
        self.session = session if session is not None else ImageModelsSession()
        self.budget = budget if budget is not None else Budget(DAILY_BUDGET)
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(imagine)

    async def setup_hook(self) -> None:
        await self.session.start()
        await self.tree.sync()  # registers /imagine with Discord

    async def close(self) -> None:
        await self.session.close()
        await super().close()


@app_commands.command(name="imagine", description="Generate an image")
@app_commands.describe(
    prompt="what to draw",
    model="image model",
    size="e.g. 1024x1024",
    n="how many images",
    image="an input image",
)
async def imagine(
    interaction: discord.Interaction[ImagineBot],
    prompt: str,
    model: str,
    size: str | None = None,
    n: app_commands.Range[int, 1, 10] = 1,
    image: discord.Attachment | None = None,
) -> None:
    """Check the request (a refusal goes to the user alone), then generate."""
    bot = interaction.client
    images: list[InputImage] = []
    if image is not None:  # what Discord says of the file: no download needed to check it
        images.append(
            InputImage(
                width=image.width, height=image.height, size=image.size, format=image.content_type
            )
        )
    check = await preflight(bot.session, model, size=size, n=n, images=images)
    await interaction.response.send_message(check.message, ephemeral=not check.ok)
    if not check.ok:
        return
    attached = [await image.read()] if image is not None else []  # checked: now it is worth it
    done = await imagine_images(
        bot.session, model, prompt, check.request, bot.budget, input_images=attached
    )
    files = [discord.File(io.BytesIO(data), filename=name) for name, data in done.files]
    await interaction.followup.send(done.message, files=files, ephemeral=not done.ok)


@imagine.autocomplete("model")
async def model_choices(
    interaction: discord.Interaction[ImagineBot], current: str
) -> list[app_commands.Choice[str]]:
    """Model choices for what the user has typed, from the cached catalog."""
    catalog = await interaction.client.session.catalog()
    return [
        app_commands.Choice(name=label, value=model_id)
        for label, model_id in autocomplete_models(catalog, current)
    ]


if __name__ == "__main__":
    ImagineBot().run(os.environ["DISCORD_TOKEN"])
