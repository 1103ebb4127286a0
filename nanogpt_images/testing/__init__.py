"""Test helpers shipped with nanogpt_images: a real fake server, a fake clock, factories."""

from ._clock import FakeClock
from ._factories import basic_model_payload, catalog_payload, error_body, model_payload
from ._sample import sample_catalog, sample_catalog_bytes
from ._server import BILLED_500_BODY, FakeNanoGPT, Fault, RecordedRequest, png_bytes

__all__ = [
    "BILLED_500_BODY",
    "FakeClock",
    "FakeNanoGPT",
    "Fault",
    "RecordedRequest",
    "basic_model_payload",
    "catalog_payload",
    "error_body",
    "model_payload",
    "png_bytes",
    "sample_catalog",
    "sample_catalog_bytes",
]
