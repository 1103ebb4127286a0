"""InputImage.from_bytes: format and size from the header of PNG, JPEG, WebP and GIF data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from images import gif, jpeg, png, webp_extended, webp_lossless, webp_lossy

from nanogpt_images import InputImage

HEADERS = {
    "png": png(640, 480),
    "gif": gif(320, 200),
    "webp-vp8": webp_lossy(800, 600),
    "webp-vp8l": webp_lossless(1000, 750),
    "webp-vp8x": webp_extended(16383, 9000),
    "jpeg": jpeg(1920, 1080, exif=5000),
    "jpeg-progressive": jpeg(1024, 768, sof=0xC2),
}
EXPECTED = {
    "png": ("png", 640, 480),
    "gif": ("gif", 320, 200),
    "webp-vp8": ("webp", 800, 600),
    "webp-vp8l": ("webp", 1000, 750),
    "webp-vp8x": ("webp", 16383, 9000),
    "jpeg": ("jpeg", 1920, 1080),
    "jpeg-progressive": ("jpeg", 1024, 768),
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_each_format_gives_its_dimensions(name: str) -> None:
    """Format, width and height come from the header; size is the data's length."""
    data = HEADERS[name]
    image = InputImage.from_bytes(data)
    assert (image.format, image.width, image.height) == EXPECTED[name]
    assert image.size == len(data)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_bytearray_and_memoryview_all_read(wrap: type) -> None:
    """Any bytes-like file content reads the same."""
    assert InputImage.from_bytes(wrap(png(3, 4))) == InputImage(3, 4, len(png(3, 4)), "png")


def test_a_big_jpeg_is_read_from_its_header_only() -> None:
    """20 MB of scan data after the frame header change nothing but the size."""
    big = jpeg(4000, 3000, exif=60000, scan=20 * 2**20)
    image = InputImage.from_bytes(big)
    assert (image.format, image.width, image.height) == ("jpeg", 4000, 3000)
    assert image.size == len(big)


def test_a_jpeg_whose_image_data_starts_before_a_frame_header_has_no_size() -> None:
    """SOS before any SOF: the format is known, the dimensions are not guessed."""
    data = b"\xff\xd8\xff\xda\x00\x08" + b"\0" * 20
    assert InputImage.from_bytes(data) == InputImage(size=len(data), format="jpeg")


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x00" * 64, b"RIFF\0\0\0\0WAVEfmt "])
def test_unknown_data_gives_only_its_size(data: bytes) -> None:
    """Data that is no known image gives an InputImage with just its size."""
    assert InputImage.from_bytes(data) == InputImage(size=len(data))


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_every_truncation_reads_without_an_exception(name: str) -> None:
    """Any prefix of a header gives what could be read: never an exception, never a wrong size."""
    data = HEADERS[name]
    fmt, width, height = EXPECTED[name]
    for cut in range(len(data)):
        image = InputImage.from_bytes(data[:cut])
        assert image.size == cut
        assert image.format in (None, fmt)
        assert image.width in (None, width)
        assert image.height in (None, height)


@given(st.binary(max_size=200), st.sampled_from(sorted(HEADERS)))
def test_garbage_after_a_signature_never_raises(tail: bytes, name: str) -> None:
    """A known signature followed by anything reads as that format or nothing, never raises."""
    data = HEADERS[name][:12] + tail
    image = InputImage.from_bytes(data)
    assert image.size == len(data)


def test_made_by_hand_the_format_is_normalised() -> None:
    """jpg, JPEG and image/jpeg all read as jpeg."""
    assert InputImage(format="jpg").format == "jpeg"
    assert InputImage(format="image/JPEG").format == "jpeg"
    assert InputImage(format=" PNG ").format == "png"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"width": -1}, ValueError),
        ({"height": 1.5}, TypeError),
        ({"size": True}, TypeError),
        ({"format": 3}, TypeError),
    ],
)
def test_bad_values_by_hand_are_typed_errors(kwargs: dict[str, object], error: type) -> None:
    """A negative or non-integer dimension, or a non-string format, is refused at once."""
    with pytest.raises(error):
        InputImage(**kwargs)  # type: ignore[arg-type]


def test_from_bytes_refuses_a_path() -> None:
    """A file name is not the file's bytes: TypeError saying what it takes."""
    with pytest.raises(TypeError, match="the image file's bytes"):
        InputImage.from_bytes("cat.png")  # type: ignore[arg-type]
