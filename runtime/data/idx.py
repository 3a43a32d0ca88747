"""A strict reader (and a writer) for IDX files, the format of MNIST and its relatives.

Layout: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32
sizes, then the elements big-endian in C order.  The reader refuses anything that does not
add up exactly (wrong magic, unknown type, truncated or over-long data) with a message naming
the file and the numbers, since a silently misread dataset trains into nonsense.
Gzip-compressed files (``.gz``, or any file starting with the gzip magic) are accepted.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IdxError", "read_idx", "parse_idx", "write_idx"]

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in _TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_BYTES = 1 << 30  # refuse to inflate a file past 1 GiB: MNIST's largest is 47 MB


class IdxError(ValueError):
    """The file is not a well-formed IDX file; the message says what is wrong."""


def read_idx(path: str | Path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The array stored in IDX file ``path`` (raw or gzip), in native byte order."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=f) as g:
                    data = g.read(max_bytes + 1)
            except (EOFError, OSError, zlib.error) as e:
                raise IdxError(f"{path.name}: the gzip stream is truncated or corrupt ({e})") \
                    from None
        else:
            data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise IdxError(f"{path.name}: larger than {max_bytes} bytes; refusing to load it")
    return parse_idx(data, path.name)


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise IdxError(f"{name}: not an IDX file (magic {data[:4].hex()} should start with "
                       "0000)")
    code, ndim = data[2], data[3]
    if code not in _TYPES:
        known = ", ".join(f"0x{c:02x}" for c in _TYPES)
        raise IdxError(f"{name}: unknown element type 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise IdxError(f"{name}: the header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                       f"the file holds {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _TYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(data) - header
    shape = "×".join(map(str, dims))
    if have < need:
        raise IdxError(f"{name}: truncated: a {shape} array of {dtype.name} needs {need} bytes "
                       f"of data, the file holds {have}")
    if have > need:
        raise IdxError(f"{name}: {have - need} unexpected bytes after the {shape} array")
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzip-compressed when ``compress`` (default: path ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in _CODES:
        raise IdxError(f"IDX cannot store {array.dtype}; use one of "
                       f"{', '.join(sorted(_CODES))}")
    if not 1 <= array.ndim <= 255:
        raise IdxError(f"IDX stores 1 to 255 dimensions; the array has {array.ndim}")
    code = _CODES[key]
    blob = (bytes((0, 0, code, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
            + np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes())
    if compress if compress is not None else path.suffix == ".gz":
        blob = gzip.compress(blob, mtime=0)
    path.write_bytes(blob)
    return path
