"""Test helpers shipped with nanogpt_images: a real fake server, a fake clock, factories."""

from ._clock import FakeClock
from ._factories import basic_model_payload, catalog_payload, error_body, model_payload
from ._sample import sample_catalog, sample_catalog_bytes
from ._server import FakeNanoGPT, Fault, RecordedRequest

__all__ = [
    "FakeClock",
    "FakeNanoGPT",
    "Fault",
    "RecordedRequest",
    "basic_model_payload",
    "catalog_payload",
    "error_body",
    "model_payload",
    "sample_catalog",
    "sample_catalog_bytes",
]
