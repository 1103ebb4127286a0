"""A discord.py bot with model autocomplete and an ``/imagine`` pre-flight check.

The logic lives in plain functions (:func:`autocomplete_models`,
:func:`preflight`) that know nothing about Discord, so they are tested
without it.  The Discord glue in :func:`run_bot` needs ``pip install
discord.py`` (not a dependency of nanogpt-images)::

    DISCORD_TOKEN=... python examples/discord_bot.py

One ``ImageModelsSession`` lives as long as the bot: autocomplete answers
from the cached catalog in microseconds (Discord gives autocomplete 3 s), and
``/imagine`` refuses a bad size or count, or an attached image the model
cannot take (wrong format, too small, too big), before anything is paid for.
The attachment is checked from what Discord says of it (pixels, bytes,
content type), so nothing is downloaded for a request that would fail.
"""

# No ``from __future__ import annotations`` here: discord.py reads the command
# annotations at run time, and the discord names exist only inside run_bot().
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from nanogpt_images import (
    ImageModel,
    ImageModelsSession,
    InputImage,
    ModelNotFoundError,
    ParameterValidationError,
)

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
MAX_CHOICE_NAME = 100  # and cuts each label at 100 characters


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


def _label(model: ImageModel) -> str:
    price = model.price()
    label = model.display_name if price is None else f"{model.display_name} · from ${price}"
    if model.display_name != model.id:
        label += f" ({model.id})"
    return label if len(label) <= MAX_CHOICE_NAME else label[: MAX_CHOICE_NAME - 1] + "…"


def run_bot(token: str) -> None:  # pragma: no cover - needs discord.py and a Discord token
    """Start the bot: ``/imagine`` with model autocomplete and the pre-flight check."""
    import discord
    from discord import app_commands

    session = ImageModelsSession()

    class ImagineBot(discord.Client):
        def __init__(self) -> None:
            super().__init__(intents=discord.Intents.default())
            self.tree = app_commands.CommandTree(self)

        async def setup_hook(self) -> None:
            await session.start()  # one session for the bot's lifetime
            await self.tree.sync()

        async def close(self) -> None:
            await session.close()
            await super().close()

    bot = ImagineBot()

    @bot.tree.command(name="imagine", description="Generate an image")
    @app_commands.describe(
        model="image model", size="e.g. 1024x1024", n="how many images", image="an input image"
    )
    async def imagine(
        interaction: discord.Interaction,
        prompt: str,
        model: str,
        size: str | None = None,
        n: int = 1,
        image: discord.Attachment | None = None,
    ) -> None:
        images = []
        if image is not None:  # what Discord says of the file: no download needed to check it
            images.append(
                InputImage(
                    width=image.width,
                    height=image.height,
                    size=image.size,
                    format=image.content_type,
                )
            )
        check = await preflight(session, model, size=size, n=n, images=images)
        await interaction.response.send_message(check.message, ephemeral=not check.ok)
        if check.ok:
            ...  # call NanoGPT's generation endpoint with check.request and the prompt

    @imagine.autocomplete("model")
    async def model_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        catalog = await session.catalog()
        return [
            app_commands.Choice(name=label, value=model_id)
            for label, model_id in autocomplete_models(catalog, current)
        ]

    bot.run(token)


if __name__ == "__main__":  # pragma: no cover
    run_bot(os.environ["DISCORD_TOKEN"])
