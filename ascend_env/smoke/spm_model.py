"""SentencePiece ``tokenizer.model`` files (a ``ModelProto`` protobuf), read and written by hand: no protobuf package.

Only the fields a BPE encoder needs are modelled; unknown fields are skipped on reading. Field numbers are those of
sentencepiece's ``sentencepiece_model.proto``: ModelProto 1 pieces, 2 trainer_spec, 3 normalizer_spec;
SentencePiece 1 piece, 2 score, 3 type; TrainerSpec 3 model_type, 4 vocab_size, 35 byte_fallback, 40-43
unk/bos/eos/pad ids; NormalizerSpec 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
5 escape_whitespaces.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .errors import TokenizerError

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4
MODEL_TYPES = {UNIGRAM: "UNIGRAM", BPE: "BPE", WORD: "WORD", CHAR: "CHAR"}


class Piece(NamedTuple):
    piece: str
    score: float
    type: int = NORMAL


@dataclass
class SpModel:
    """The parts of a SentencePiece model that encoding and decoding depend on."""

    pieces: list[Piece]
    model_type: int = BPE
    vocab_size: int = 0
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    normalizer_name: str = "identity"
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    treat_whitespace_as_suffix: bool = False
    extra: dict = field(default_factory=dict)


# -- wire format -------------------------------------------------------------------------------------------------

def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int32/int64 negatives: ten-byte two's complement
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _f_varint(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _f_bytes(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _f_float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i
        if shift > 70:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of each field of one message: an int for a varint (wire type 0),
    the bytes for the others."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire} (field {number})")
        if i > len(buf):
            raise ValueError(f"field {number} runs past the end of the message")
        out.append((number, wire, value))
    return out


def _bytes(value: int | bytes) -> bytes:
    """The bytes of a length-delimited or fixed-size field (the caller checked its wire type)."""
    if isinstance(value, int):
        raise ValueError(f"expected a length-delimited field, got the varint {value}")
    return value


def _int(value: int | bytes) -> int:
    """The value of a varint field (the caller checked its wire type)."""
    if not isinstance(value, int):
        raise ValueError("expected a varint field, got bytes")
    return value


def _int32(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# -- ModelProto --------------------------------------------------------------------------------------------------

def serialize(model: SpModel) -> bytes:
    """The ``tokenizer.model`` bytes of ``model`` (deterministic: same model, same bytes)."""
    out = bytearray()
    for p in model.pieces:
        body = _f_bytes(1, p.piece.encode("utf-8")) + _f_float(2, p.score)
        if p.type != NORMAL:
            body += _f_varint(3, p.type)
        out += _f_bytes(1, body)
    trainer = (_f_varint(3, model.model_type) + _f_varint(4, model.vocab_size or len(model.pieces))
               + _f_varint(35, model.byte_fallback) + _f_varint(40, model.unk_id) + _f_varint(41, model.bos_id)
               + _f_varint(42, model.eos_id) + _f_varint(43, model.pad_id)
               + _f_bytes(45, b"<unk>") + _f_bytes(46, b"<s>") + _f_bytes(47, b"</s>") + _f_bytes(48, b"<pad>"))
    out += _f_bytes(2, trainer)
    normalizer = (_f_bytes(1, model.normalizer_name.encode()) + _f_varint(3, model.add_dummy_prefix)
                  + _f_varint(4, model.remove_extra_whitespaces) + _f_varint(5, model.escape_whitespaces))
    if model.precompiled_charsmap:
        normalizer += _f_bytes(2, model.precompiled_charsmap)
    out += _f_bytes(3, normalizer)
    return bytes(out)


def parse(data: bytes, source: str = "tokenizer.model") -> SpModel:
    """Read a serialized ModelProto; TokenizerError names ``source`` and what is wrong."""
    try:
        return _parse(data)
    except (ValueError, UnicodeDecodeError, struct.error) as e:
        raise TokenizerError(f"corrupt tokenizer {source}: not a SentencePiece model ({e})") from None


def _parse(data: bytes) -> SpModel:
    model = SpModel(pieces=[])
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            piece, score, ptype = "", 0.0, NORMAL
            for n, w, v in _fields(_bytes(value)):
                if n == 1 and w == 2:
                    piece = _bytes(v).decode("utf-8")
                elif n == 2 and w == 5:
                    (score,) = struct.unpack("<f", _bytes(v))
                elif n == 3 and w == 0:
                    ptype = _int(v)
            model.pieces.append(Piece(piece, score, ptype))
        elif number == 2 and wire == 2:
            _parse_trainer(model, _bytes(value))
        elif number == 3 and wire == 2:
            _parse_normalizer(model, _bytes(value))
    if not model.pieces:
        raise ValueError("no pieces")
    return model


def _parse_trainer(model: SpModel, buf: bytes) -> None:
    ints = {3: "model_type", 4: "vocab_size", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
    for n, w, v in _fields(buf):
        if w == 0 and n in ints:
            setattr(model, ints[n], _int32(_int(v)))
        elif w == 0 and n == 35:
            model.byte_fallback = bool(v)
        elif w == 0 and n == 24:
            model.treat_whitespace_as_suffix = bool(v)


def _parse_normalizer(model: SpModel, buf: bytes) -> None:
    for n, w, v in _fields(buf):
        if n == 1 and w == 2:
            model.normalizer_name = _bytes(v).decode("utf-8")
        elif n == 2 and w == 2:
            model.precompiled_charsmap = _bytes(v)
        elif n == 3 and w == 0:
            model.add_dummy_prefix = bool(v)
        elif n == 4 and w == 0:
            model.remove_extra_whitespaces = bool(v)
        elif n == 5 and w == 0:
            model.escape_whitespaces = bool(v)


def load(path: Path) -> SpModel:
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"missing tokenizer: {path} does not exist (a SentencePiece tokenizer.model is needed)")
    return parse(path.read_bytes(), str(path))
