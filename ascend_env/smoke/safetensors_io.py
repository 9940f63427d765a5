"""A small safetensors reader and writer (numpy only), with errors that name the file and what is wrong.

Format: 8-byte little-endian header length N, N bytes of JSON ``{name: {dtype, shape, data_offsets}, ...,
"__metadata__": {...}}``, then the raw little-endian data; ``data_offsets`` are relative to the end of the header.
The reader maps the file (``mmap``) so a multi-GB shard is not read twice; F32/F16 come back as numpy arrays of
that dtype, BF16 as ``uint16`` bit patterns (numpy has no bfloat16) -- :func:`to_float32` widens any of them.
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import CheckpointError

#: safetensors dtype -> (numpy storage dtype, bytes per element)
DTYPES: dict[str, tuple[np.dtype[Any], int]] = {
    "F32": (np.dtype("<f4"), 4), "F16": (np.dtype("<f2"), 2), "BF16": (np.dtype("<u2"), 2)}
_NUMPY_TO_ST = {np.dtype("float32"): "F32", np.dtype("float16"): "F16"}
MAX_HEADER = 100 * 1024 * 1024


class RawTensor(NamedTuple):
    """One stored tensor: its safetensors dtype, shape and data (BF16 as uint16 bit patterns)."""

    dtype: str
    shape: tuple
    data: np.ndarray


def to_float32(t: RawTensor) -> np.ndarray:
    """Widen a stored tensor to a new float32 array (BF16: the bit pattern shifted into the high half)."""
    if t.dtype == "BF16":
        return (t.data.astype(np.uint32) << 16).view(np.float32).reshape(t.shape)
    return t.data.astype(np.float32).reshape(t.shape)


def encode(tensors: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (F32/F16 arrays), names in sorted order: same input, same bytes."""
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        st = _NUMPY_TO_ST.get(arr.dtype)
        if st is None:
            raise ValueError(f"tensor {name}: dtype {arr.dtype} not supported by this writer (use float32 or float16)")
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)  # the data section starts 8-byte aligned
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def write(path: Path, tensors: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    Path(path).write_bytes(encode(tensors, metadata))


def read_header(path: Path) -> tuple[dict, int, int]:
    """``(header, data_start, file_size)`` of a safetensors file, validated; CheckpointError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing weights file: {path} does not exist")
    size = path.stat().st_size
    with path.open("rb") as fh:
        first = fh.read(8)
        if len(first) < 8:
            raise CheckpointError(f"corrupt weights file {path}: {size} bytes, too short for the 8-byte header "
                                  "length of a safetensors file (truncated download?)")
        (n,) = struct.unpack("<Q", first)
        if n > size - 8 or n > MAX_HEADER:
            raise CheckpointError(f"corrupt weights file {path}: header length {n} runs past the end of the file "
                                  f"({size} bytes) -- truncated, or not a safetensors file")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"corrupt weights file {path}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"corrupt weights file {path}: the header is {type(header).__name__}, not an object")
    data_size = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        _check_entry(path, name, entry, data_size)
    return header, 8 + n, size


def _check_entry(path: Path, name: str, entry: object, data_size: int) -> None:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise CheckpointError(f"corrupt weights file {path}: tensor {name!r} lacks dtype/shape/data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(f"weights file {path}: tensor {name!r} has dtype {dtype}; this reader supports "
                              f"{', '.join(DTYPES)} -- convert the checkpoint to fp16/bf16/fp32")
    if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
            or not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)):
        raise CheckpointError(f"corrupt weights file {path}: tensor {name!r} has a malformed shape {shape!r} or "
                              f"data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise CheckpointError(f"corrupt weights file {path}: tensor {name!r} data_offsets [{begin}, {end}] lie "
                              f"outside the data section ({data_size} bytes) -- the file is truncated")
    want = int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype][1]
    if end - begin != want:
        raise CheckpointError(f"corrupt weights file {path}: tensor {name!r} has {end - begin} bytes but shape "
                              f"{shape} of {dtype} needs {want}")


def read(path: Path, names: set[str] | None = None) -> dict[str, RawTensor]:
    """The tensors of one safetensors file (all, or those in ``names``), zero-copy over a read-only map."""
    header, start, size = read_header(path)
    if size == start:
        return {}
    with Path(path).open("rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    out: dict[str, RawTensor] = {}
    for name, entry in header.items():
        if name == "__metadata__" or (names is not None and name not in names):
            continue
        np_dtype = DTYPES[entry["dtype"]][0]
        begin, end = entry["data_offsets"]
        count = (end - begin) // np_dtype.itemsize
        arr = np.frombuffer(mm, dtype=np_dtype, count=count, offset=start + begin)
        out[name] = RawTensor(entry["dtype"], tuple(entry["shape"]), arr.reshape(entry["shape"]))
    return out
