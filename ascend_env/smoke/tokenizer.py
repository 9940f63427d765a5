"""Text <-> token ids for a SentencePiece ``tokenizer.model``: the ``sentencepiece`` library when importable, else a
pure-Python BPE encoder/decoder that follows sentencepiece's algorithm (so containers without it still run).

Pure-Python encoding, as sentencepiece's ``bpe_model.cc`` does it: normalise (identity normaliser: drop leading,
trailing and repeated spaces if ``remove_extra_whitespaces``; prefix ``▁`` if ``add_dummy_prefix``; spaces become
``▁``), split into characters (user-defined pieces kept whole), then repeatedly merge the adjacent pair whose
concatenation is a piece with the highest score (ties: leftmost); a final symbol that is no piece becomes its UTF-8
bytes ``<0xXX>`` (byte fallback) or ``<unk>``. Unigram models and non-identity normalisers need ``sentencepiece``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TokenizerError
from .spm_model import BPE, BYTE, CONTROL, MODEL_TYPES, NORMAL, UNKNOWN, UNUSED, USER_DEFINED, SpModel, load

if TYPE_CHECKING:  # optional at run time (containers without it use the pure-Python encoder)
    from sentencepiece import SentencePieceProcessor

SPACE = "\u2581"
UNK_SURFACE = " \u2047 "


class PureSpm:
    """A SentencePiece BPE model in pure Python: ``encode(text) -> ids`` (no BOS) and ``decode(ids) -> text``."""

    def __init__(self, model: SpModel, source: str = "tokenizer.model") -> None:
        if model.model_type != BPE:
            raise TokenizerError(f"{source}: a {MODEL_TYPES.get(model.model_type, model.model_type)} SentencePiece "
                                 "model; the pure-Python encoder handles BPE only -- pip install sentencepiece")
        if model.precompiled_charsmap and model.normalizer_name != "identity":
            raise TokenizerError(f"{source}: normaliser {model.normalizer_name!r} needs its precompiled character "
                                 "map; the pure-Python encoder handles 'identity' only -- pip install sentencepiece")
        self.model = model
        self.pieces: dict[str, int] = {}  # mergeable: NORMAL, USER_DEFINED, UNUSED
        self.reserved: dict[str, int] = {}  # CONTROL, UNKNOWN, BYTE
        self.user_defined: list[str] = []
        for i, p in enumerate(model.pieces):
            if p.type in (NORMAL, USER_DEFINED, UNUSED):
                self.pieces.setdefault(p.piece, i)
                if p.type == USER_DEFINED:
                    self.user_defined.append(p.piece)
            else:
                self.reserved.setdefault(p.piece, i)
        self.user_defined.sort(key=len, reverse=True)
        self.bos_id, self.eos_id, self.unk_id = model.bos_id, model.eos_id, model.unk_id
        self.vocab_size = len(model.pieces)

    # -- encoding -------------------------------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        m = self.model
        if m.remove_extra_whitespaces:
            text = " ".join(t for t in text.split(" ") if t)
        if not text:
            return ""
        if m.add_dummy_prefix and not m.treat_whitespace_as_suffix:
            text = " " + text
        elif m.add_dummy_prefix:
            text = text + " "
        return text.replace(" ", SPACE) if m.escape_whitespaces else text

    def _symbols(self, norm: str) -> list[tuple[str, bool]]:
        out, i = [], 0
        while i < len(norm):
            for u in self.user_defined:
                if norm.startswith(u, i):
                    out.append((u, True))
                    i += len(u)
                    break
            else:
                out.append((norm[i], False))
                i += 1
        return out

    def _score(self, piece: str) -> float:
        return self.model.pieces[self.pieces[piece]].score

    def encode_pieces(self, text: str) -> list[str]:
        syms = self._symbols(self.normalize(text))
        while True:
            best, best_score = -1, 0.0
            for i in range(len(syms) - 1):
                (a, fa), (b, fb) = syms[i], syms[i + 1]
                if fa or fb:
                    continue
                cand = a + b
                if cand in self.pieces:
                    s = self._score(cand)
                    if best < 0 or s > best_score:
                        best, best_score = i, s
            if best < 0:
                return [s for s, _ in syms]
            syms[best:best + 2] = [(syms[best][0] + syms[best + 1][0], False)]

    def piece_id(self, piece: str) -> int:
        if piece in self.reserved:
            return self.reserved[piece]
        return self.pieces.get(piece, self.unk_id)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self.encode_pieces(text):
            pid = self.piece_id(piece)
            if pid == self.unk_id and self.model.byte_fallback:
                ids.extend(self.piece_id(f"<0x{b:02X}>") for b in piece.encode("utf-8"))
            else:
                ids.append(pid)
        return ids

    # -- decoding -------------------------------------------------------------------------------------------------
    def decode(self, ids: list[int]) -> str:
        out: list[str] = []
        pending = bytearray()
        first = True  # the dummy-prefix space of the first piece is dropped

        def flush() -> None:
            if pending:
                out.append(_decode_bytes(bytes(pending)))
                pending.clear()

        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise TokenizerError(f"token id {i} is out of range for a vocabulary of {self.vocab_size}")
            p = self.model.pieces[i]
            if p.type == CONTROL:
                continue
            if p.type == BYTE:
                pending.append(int(p.piece[3:5], 16))
                first = False
                continue
            flush()
            text = UNK_SURFACE if p.type == UNKNOWN else p.piece
            if first and (self.model.add_dummy_prefix or self.model.remove_extra_whitespaces):
                text = text[1:] if text.startswith(SPACE) else text
            first = False
            out.append(text)
        flush()
        return "".join(out).replace(SPACE, " ")


def _decode_bytes(data: bytes) -> str:
    """UTF-8 decoding with one U+FFFD per invalid byte, as sentencepiece does for byte pieces."""
    out, i = [], 0
    while i < len(data):
        lead = data[i]
        n = 1 if lead < 0x80 else 2 if lead >> 5 == 6 else 3 if lead >> 4 == 14 else 4 if lead >> 3 == 30 else 0
        try:
            if n == 0:
                raise UnicodeDecodeError("utf-8", data, i, i + 1, "invalid lead byte")
            out.append(data[i:i + n].decode("utf-8"))
            i += n
        except UnicodeDecodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


class Tokenizer:
    """``encode(text)`` (with BOS, as Llama's tokenizer) and ``decode(ids)``; ``backend`` says which encoder runs."""

    def __init__(self, path: Path, prefer_library: bool = True) -> None:
        self.path = Path(path)
        model = load(self.path)  # also validates the file for the library path
        self._sp: SentencePieceProcessor | None = None
        self.backend = "pure-python"
        if prefer_library:
            try:
                import sentencepiece
            except ImportError:
                pass  # the pure-Python encoder
            else:
                sp = sentencepiece.SentencePieceProcessor()
                try:
                    sp.LoadFromSerializedProto(self.path.read_bytes())
                except (OSError, RuntimeError) as e:
                    raise TokenizerError(f"corrupt tokenizer {self.path}: sentencepiece cannot load it ({e})") from None
                self._sp = sp
                self.backend = f"sentencepiece {getattr(sentencepiece, '__version__', '?')}"
        self._pure = None if self._sp is not None else PureSpm(model, str(self.path))
        self.bos_id, self.eos_id = model.bos_id, model.eos_id
        self.vocab_size = len(model.pieces)

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        ids = list(self._sp.EncodeAsIds(text)) if self._sp is not None else self._pure.encode(text)  # type: ignore[union-attr]
        return ([self.bos_id] if add_bos and self.bos_id >= 0 else []) + ids

    def decode(self, ids: list[int]) -> str:
        if self._sp is not None:
            return self._sp.DecodeIds([int(i) for i in ids])
        return self._pure.decode(ids)  # type: ignore[union-attr]
