"""``python -m nanogpt_images``: the same as the ``nanogpt-images`` command."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
