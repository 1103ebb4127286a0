"""The package logger: silent unless the application, or ``NANOGPT_IMAGES_LOG``, says otherwise.

A library adds only a :class:`logging.NullHandler` and leaves output to the
application (the logging HOWTO, "Configuring Logging for a Library"), so an
application without logging set up gets no stray lines on stderr.  For a
quick look without touching the application, ``NANOGPT_IMAGES_LOG=debug``
(or ``info``, ``warning``, ``error``) gives the package logger a handler on
stderr at that level, as ``OPENAI_LOG`` does for the OpenAI SDK.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["ENV_VAR", "LOGGER_NAME", "configure_logging", "env_handler"]

LOGGER_NAME = "nanogpt_images"
ENV_VAR = "NANOGPT_IMAGES_LOG"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Give the package logger its NullHandler, and a stderr handler when the env var asks.

    Called once, when the package is imported; calling it again adds nothing.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if not any(type(handler) is logging.NullHandler for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
    value = os.environ.get(ENV_VAR, "").strip()
    if not value or env_handler() is not None:
        return
    level = LEVELS.get(value.lower())
    if level is None:
        # A line on stderr, not a warning: under `python -W error` a warning here would
        # make `import nanogpt_images` itself fail over a typo in an environment variable.
        sys.stderr.write(
            f"nanogpt_images: ignoring {ENV_VAR}={value!r}; use one of {', '.join(LEVELS)}\n"
        )
        return
    handler = _EnvHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)


def env_handler() -> logging.Handler | None:
    """The stderr handler ``NANOGPT_IMAGES_LOG`` installed, if it did."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, _EnvHandler):
            return handler
    return None


class _EnvHandler(logging.StreamHandler[TextIO]):
    """The StreamHandler on stderr that ``NANOGPT_IMAGES_LOG`` asked for."""
