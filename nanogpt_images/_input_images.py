"""What is known of an input image, read from the first bytes of its file.

:meth:`InputImage.from_bytes` reads the format and the dimensions from the
header of PNG, JPEG, WebP (lossy ``VP8``, lossless ``VP8L``, extended
``VP8X``) and GIF data with the standard library only.  It reads only the
header: for JPEG it hops from one marker segment to the next until the frame
header (SOF), so the time does not grow with the size of the image data.
Truncated or unknown data gives an :class:`InputImage` with what could be
read (the size, perhaps the format), never an exception.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["FORMATS", "InputImage"]

#: The format names :attr:`InputImage.format` takes, as NanoGPT's limits spell them.
FORMATS = ("png", "jpeg", "webp", "gif")

#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): not C4, C8, CC.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: JPEG markers with no length after them.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
_SOS = 0xDA
#: A JPEG with more segments than this before its frame header is not read further.
_MAX_SEGMENTS = 4096
#: Fill bytes (0xFF) read in all before a JPEG is given up on: the header only, whatever its size.
_MAX_FILL = 1024


def _optional_count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number or None, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"expected a number of 0 or more, not {value}")
    return value


def _optional_format(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"format must be a string such as 'png', not {type(value).__name__}")
    name = value.strip().lower().removeprefix("image/")
    return "jpeg" if name == "jpg" else name


@attrs.frozen
class InputImage:
    """One input image as far as it is known: pixel ``width`` and ``height``, ``size`` in
    bytes, ``format`` (``"png"``, ``"jpeg"``, ``"webp"``, ``"gif"``); ``None`` when unknown.

    Build one from the file's bytes with :meth:`from_bytes`, or by hand when
    the numbers come from elsewhere (an upload's metadata, say).  ``format``
    is lower-cased; ``jpg`` and ``image/jpeg`` read as ``jpeg``.
    """

    width: int | None = attrs.field(default=None, converter=_optional_count)
    height: int | None = attrs.field(default=None, converter=_optional_count)
    size: int | None = attrs.field(default=None, converter=_optional_count)
    format: str | None = attrs.field(default=None, converter=_optional_format)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> InputImage:
        """Format and dimensions from the header of ``data``; ``size`` is ``len(data)``.

        Never raises for the content: unknown or cut-off data gives what
        could be read.  Only the header is read, whatever the size.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"from_bytes() takes the image file's bytes, not {type(data).__name__}")
        view = memoryview(data).cast("B") if isinstance(data, memoryview) else data
        fmt, width, height = _sniff(view)
        return cls(width=width, height=height, size=len(view), format=fmt)


_Sniffed = tuple[str | None, int | None, int | None]


def _sniff(data: Any) -> _Sniffed:
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(data)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(data)
    return None, None, None


def _png(data: Any) -> _Sniffed:
    header = bytes(data[8:24])  # the IHDR chunk: length, type, width, height
    if len(header) < 16 or header[4:8] != b"IHDR":
        return "png", None, None
    return "png", _be(header[8:12]), _be(header[12:16])


def _gif(data: Any) -> _Sniffed:
    screen = bytes(data[6:10])
    if len(screen) < 4:
        return "gif", None, None
    return "gif", _le(screen[0:2]), _le(screen[2:4])


def _webp(data: Any) -> _Sniffed:
    chunk = bytes(data[12:30])
    kind = chunk[:4]
    if kind == b"VP8 " and len(chunk) >= 18 and chunk[11:14] == b"\x9d\x01\x2a":
        return "webp", _le(chunk[14:16]) & 0x3FFF, _le(chunk[16:18]) & 0x3FFF
    if kind == b"VP8L" and len(chunk) >= 13 and chunk[8] == 0x2F:
        bits = _le(chunk[9:13])
        return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(chunk) >= 18:
        return "webp", _le(chunk[12:15]) + 1, _le(chunk[15:18]) + 1
    return "webp", None, None


def _jpeg(data: Any) -> _Sniffed:
    """Hop from marker to marker (each segment says its length) to the frame header."""
    at, end, fill = 2, len(data), 0
    for _ in range(_MAX_SEGMENTS):
        while at + 1 < end and data[at] == 0xFF and data[at + 1] == 0xFF:
            at += 1  # fill bytes before a marker
            fill += 1
            if fill > _MAX_FILL:  # endless fill: not a header worth reading on
                return "jpeg", None, None
        if at + 1 >= end or data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker in _STANDALONE:
            at += 2
            continue
        if marker == _SOS or marker == 0xD9:  # image data (or its end) before any frame header
            break
        segment = bytes(data[at + 2 : at + 9])
        if len(segment) < 2:
            break
        if marker in _SOF:
            if len(segment) < 7:
                break
            return "jpeg", _be(segment[5:7]), _be(segment[3:5])
        at += 2 + _be(segment[0:2])
    return "jpeg", None, None


def _be(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")
