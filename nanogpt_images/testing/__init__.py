"""Test helpers shipped with nanogpt_images: a real fake server, a fake clock, factories."""

from ._server import FakeNanoGPT, Fault, RecordedRequest

__all__ = ["FakeNanoGPT", "Fault", "RecordedRequest"]
