"""The project inside a picture: PNGs Layerloom writes (screenshots, sample grids, plots) carry
the ``.loom`` text in a compressed iTXt chunk, so dropping the picture on the window opens the
project that made it.

Plain chunk surgery (the PNG format is a signature, then length-type-data-CRC chunks ending
with IEND), so the Qt side, Pillow's writer and the CLI all share one reader and one writer.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["KEY", "embed", "read", "PngTextError"]

KEY = b"layerloom.project"
SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngTextError(ValueError):
    """Not a PNG file, or a damaged one."""


def _chunks(data: bytes):
    if not data.startswith(SIGNATURE):
        raise PngTextError("not a PNG file")
    at = len(SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        end = at + 12 + length
        if end > len(data):
            raise PngTextError("the PNG file is cut short")
        yield at, kind, data[at + 8:at + 8 + length], end
        if kind == b"IEND":
            return
        at = end
    raise PngTextError("the PNG file is cut short")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def embed(path: str | Path, text: str) -> None:
    """Write ``text`` into the PNG at ``path`` (replacing an earlier one), before IEND."""
    path = Path(path)
    data = path.read_bytes()
    kept, iend = [], None
    for start, kind, body, end in _chunks(data):
        if kind == b"IEND":
            iend = start
            break
        if not (kind == b"iTXt" and body.split(b"\0", 1)[0] == KEY):
            kept.append(data[start:end])
    if iend is None:
        raise PngTextError("the PNG file has no end chunk")
    # keyword, 0, compressed (1), method 0, no language tag, no translated keyword, zlib text
    body = KEY + b"\0\x01\x00\0\0" + zlib.compress(text.encode("utf-8"), 9)
    path.write_bytes(SIGNATURE + b"".join(kept) + _chunk(b"iTXt", body) + data[iend:])


def read(path: str | Path) -> str | None:
    """The project text in the PNG at ``path``, or None when it holds none."""
    for _, kind, body, _ in _chunks(Path(path).read_bytes()):
        if kind == b"IEND":
            break
        if kind != b"iTXt" or body.split(b"\0", 1)[0] != KEY:
            continue
        rest = body[len(KEY) + 1:]
        compressed = rest[0] == 1
        rest = rest[2:]
        rest = rest.split(b"\0", 2)[2]  # skip the language tag and translated keyword
        try:
            return (zlib.decompress(rest) if compressed else rest).decode("utf-8")
        except (zlib.error, UnicodeDecodeError) as e:
            raise PngTextError(f"the project in the picture is damaged ({e})") from None
    return None
