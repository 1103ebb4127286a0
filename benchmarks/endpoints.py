"""Time endpoint details and input-image checks.

Targets (issue 14): a warm ``await session.endpoints(id)`` within 3x the floor
of an ``async def`` returning ``dict[id]``; ``InputImage.from_bytes`` on a
20 MB JPEG reads only the header (its time does not grow with the size);
``await session.validate(id, input_images=[...])`` under 10 µs.

    .venv/bin/python benchmarks/endpoints.py [--repeat 15]

All requests go to a ``FakeNanoGPT`` on 127.0.0.1 serving the bundled
sample; the details are cached before timing.  The figures go between the
``endpoints`` markers of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import DOCS, fmt_time, machine, markdown_table, median_per_call, replace_section

from nanogpt_images import ImageModelsSession, InputImage
from nanogpt_images.testing import FakeNanoGPT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

WARM_TARGET = 3.0  # x the floor
VALIDATE_TARGET = 10e-6
SIZE_TARGET = 2.0  # 20 MB JPEG time / 2 KB JPEG time
IDS = ("gpt-image-2", "flux-pro", "bytedance/seedream-v5.0-pro", "birefnet/v2")


def jpeg(width: int, height: int, scan: int) -> bytes:
    """A JPEG header (APP0, a 60 KB EXIF block, DQT, SOF0, SOS) and ``scan`` bytes of data."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    head = b"\xff\xd8" + segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    head += segment(0xE1, b"Exif\0\0" + b"\x42" * 60_000)
    head += segment(0xDB, b"\0" + b"\x01" * 64)
    head += segment(0xC0, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x01\x22\0" * 3)
    head += segment(0xDA, b"\x03\x01\0\x02\x11\x03\x11\0\x3f\0")
    return head + b"\xab" * scan + b"\xff\xd9"


async def warm_rows(session: ImageModelsSession, repeat: int) -> tuple[list[Any], float]:
    details = {model_id: await session.endpoints(model_id) for model_id in IDS}

    async def floor(model_id: str) -> Any:
        return details[model_id]

    candidates: dict[str, Callable[[str], Awaitable[Any]]] = {
        "floor": floor,
        "session": session.endpoints,
    }
    order = [IDS[i % len(IDS)] for i in range(50_000)]
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, get in candidates.items():
            start = time.perf_counter()
            for model_id in order:
                await get(model_id)
            samples[name].append((time.perf_counter() - start) / len(order))
    floor_time = statistics.median(samples["floor"])
    session_time = statistics.median(samples["session"])
    ratio = session_time / floor_time
    rows = [
        ("warm endpoints(id): floor (`async def` returning `dict[id]`)", "1.00x",
         fmt_time(floor_time), ""),
        ("warm endpoints(id): **ImageModelsSession.endpoints**", f"**{ratio:.2f}x**",
         fmt_time(session_time), f"≤ {WARM_TARGET:g}x"),
    ]  # fmt: skip
    return rows, ratio


def sniff_rows(repeat: int) -> tuple[list[Any], float]:
    small, big = jpeg(4000, 3000, 2_000), jpeg(4000, 3000, 20 * 2**20)
    assert InputImage.from_bytes(big).width == 4000
    times = median_per_call(
        {
            "small": lambda: InputImage.from_bytes(small),
            "big": lambda: InputImage.from_bytes(big),
        },
        number=2_000,
        repeat=repeat,
    )
    ratio = times["big"] / times["small"]
    rows = [
        (f"InputImage.from_bytes: JPEG of {len(small) / 1e3:.0f} KB", "1.00x",
         fmt_time(times["small"]), ""),
        (f"InputImage.from_bytes: JPEG of {len(big) / 1e6:.0f} MB", f"**{ratio:.2f}x**",
         fmt_time(times["big"]), "independent of size"),
    ]  # fmt: skip
    return rows, ratio


async def validate_rows(session: ImageModelsSession, repeat: int) -> tuple[list[Any], float]:
    images = [InputImage.from_bytes(jpeg(1024, 768, 100)), InputImage(512, 512, 90_000, "png")]
    await session.validate("gpt-image-2", resolution="1024x1024", n=2, input_images=images)
    number = 20_000
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            await session.validate("gpt-image-2", resolution="1024x1024", n=2, input_images=images)
        samples.append((time.perf_counter() - start) / number)
    per_call = statistics.median(samples)
    rows = [
        ("await session.validate(id, resolution, n, input_images=[2 images])", "",
         f"**{fmt_time(per_call)}**", f"≤ {fmt_time(VALIDATE_TARGET)}"),
    ]  # fmt: skip
    return rows, per_call


async def main(repeat: int, write: bool) -> int:
    started = time.perf_counter()
    async with FakeNanoGPT() as fake, ImageModelsSession(base_url=fake.url) as session:
        warm, warm_ratio = await warm_rows(session, repeat)
        validate, validate_time = await validate_rows(session, repeat)
    sniff, size_ratio = sniff_rows(repeat)
    verdicts = [
        (f"warm endpoints(id) ≤ {WARM_TARGET:g}x floor", warm_ratio <= WARM_TARGET,
         f"{warm_ratio:.2f}x"),
        ("from_bytes on 20 MB ≈ on 62 KB", size_ratio <= SIZE_TARGET, f"{size_ratio:.2f}x"),
        (f"validate with input images ≤ {fmt_time(VALIDATE_TARGET)}",
         validate_time <= VALIDATE_TARGET, fmt_time(validate_time)),
    ]  # fmt: skip
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    text = "\n".join(
        [
            f"Measured {today} on {machine()}.",
            f"`python benchmarks/endpoints.py` (took {time.perf_counter() - started:.0f} s); "
            "medians of interleaved rounds.",
            "",
            markdown_table(("what", "ratio", "absolute", "target"), [*warm, *sniff, *validate]),
            "",
            "Targets:",
            "",
            *(f"- {'met' if ok else 'MISSED'}: {name} — {value}" for name, ok, value in verdicts),
        ]
    )
    print(text)
    if write:
        replace_section(DOCS / "performance.md", "endpoints", text, title="Performance")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds per case (default 15)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave the docs")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(asyncio.run(main(args.repeat, not args.no_write)))
