"""Image file headers built by hand, byte by byte, for the input-image tests and benchmarks."""

from __future__ import annotations

import struct


def png(width: int, height: int, payload: int = 0) -> bytes:
    """A PNG signature and IHDR chunk (CRC not checked), then ``payload`` bytes."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x06\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 4 + b"\0" * payload
    )


def gif(width: int, height: int) -> bytes:
    """A GIF89a header with its logical screen size."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def webp_lossy(width: int, height: int) -> bytes:
    """A RIFF/WEBP file with a VP8 key frame header."""
    frame = b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\0" * 8
    return _riff(b"VP8 ", frame)


def webp_lossless(width: int, height: int) -> bytes:
    """A RIFF/WEBP file with a VP8L header (14-bit width-1 and height-1)."""
    bits = (width - 1) | ((height - 1) << 14)
    return _riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\0" * 8)


def webp_extended(width: int, height: int) -> bytes:
    """A RIFF/WEBP file with a VP8X header (24-bit width-1 and height-1)."""
    body = b"\x10\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X", body)


def jpeg(width: int, height: int, *, exif: int = 0, scan: int = 16, sof: int = 0xC0) -> bytes:
    """A JPEG: SOI, APP0, an APP1 of ``exif`` bytes, fill bytes, DQT, SOF, SOS, ``scan`` bytes."""
    app0 = _segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    app1 = _segment(0xE1, b"Exif\0\0" + b"\x42" * max(exif - 6, 0)) if exif else b""
    dqt = _segment(0xDB, b"\0" + b"\x01" * 64)
    frame = _segment(sof, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + b"\x01\x22\0" * 3)
    sos = _segment(0xDA, b"\x03\x01\0\x02\x11\x03\x11\0\x3f\0")
    return (
        b"\xff\xd8" + app0 + app1 + b"\xff\xff" + dqt + frame + sos + b"\xab" * scan + b"\xff\xd9"
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _riff(kind: bytes, body: bytes) -> bytes:
    chunk = kind + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
