"""The tiny tokenizer.model (hand-written protobuf) and the pure-Python SentencePiece BPE encoder/decoder: both must
agree with the real ``sentencepiece`` library, on our model and on a real Llama-layout one (Mistral's, from the
``mistral-common`` package, when installed)."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.smoke import spm_model
from ascend_env.smoke.errors import TokenizerError
from ascend_env.smoke.golden import PROMPT
from ascend_env.smoke.spm_model import BYTE, CONTROL, UNKNOWN
from ascend_env.smoke.tokenizer import PureSpm, Tokenizer
from ascend_env.smoke.vocab import build_model

TEXTS = [PROMPT, "我爱北京", "I love Beijing, because 北京 is home 🐼", "  leading and   repeated  spaces  ", "",
         " ", "naïve café — 14.26 tokens/s!", "tab\there\nnewline", "The first token takes the longest."]


def mistral_model_path() -> Path | None:
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "data" / "tokenizer.model.v1"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def tiny_bytes() -> bytes:
    return spm_model.serialize(build_model(512))


def _sp(data: bytes):
    spm = pytest.importorskip("sentencepiece")
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(data)
    return sp


def _fuzz_texts(n: int = 300) -> list[str]:
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz     ,.!?'THEIBé北京爱我🐼\t"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def test_tiny_vocab_layout(tiny_bytes: bytes):
    m = spm_model.parse(tiny_bytes)
    assert len(m.pieces) == 512 and m.byte_fallback and (m.unk_id, m.bos_id, m.eos_id, m.pad_id) == (0, 1, 2, -1)
    assert [p.type for p in m.pieces[:3]] == [UNKNOWN, CONTROL, CONTROL]
    assert m.pieces[3].piece == "<0x00>" and m.pieces[258].piece == "<0xFF>"
    assert all(p.type == BYTE for p in m.pieces[3:259])
    normal = m.pieces[259:]
    assert all(normal[i].score > normal[i + 1].score for i in range(len(normal) - 1))
    assert spm_model.serialize(m) == tiny_bytes  # parse/serialize round trip, byte for byte


def test_tiny_model_loads_in_sentencepiece(tiny_bytes: bytes):
    sp = _sp(tiny_bytes)
    assert sp.GetPieceSize() == 512 and (sp.bos_id(), sp.eos_id(), sp.unk_id()) == (1, 2, 0)
    assert sp.EncodeAsPieces(PROMPT)[:2] == ["▁I", "▁love"]


@pytest.mark.parametrize("which", ["tiny", "mistral"])
def test_pure_python_matches_sentencepiece(which: str, tiny_bytes: bytes):
    if which == "tiny":
        data = tiny_bytes
    else:
        path = mistral_model_path()
        if path is None:
            pytest.skip("mistral-common not installed (pip install --no-deps mistral-common)")
        data = path.read_bytes()
    sp = _sp(data)
    pure = PureSpm(spm_model.parse(data))
    for text in TEXTS + _fuzz_texts():
        ids = sp.EncodeAsIds(text)
        assert pure.encode(text) == ids, text
        assert pure.decode(ids) == sp.DecodeIds(ids), text
    rng = random.Random(1)
    for _ in range(300):  # decoding arbitrary ids: byte runs, invalid UTF-8, control tokens
        ids = [rng.randrange(len(pure.model.pieces)) for _ in range(rng.randint(0, 20))]
        assert pure.decode(ids) == sp.DecodeIds(ids), ids


def test_mistral_prompt_ids_as_measured():
    path = mistral_model_path()
    if path is None:
        pytest.skip("mistral-common not installed")
    assert Tokenizer(path, prefer_library=False).encode(PROMPT) == [1, 315, 2016, 27112, 28725, 1096]


def test_tokenizer_facade_both_backends_agree(tmp_path: Path, tiny_bytes: bytes):
    path = tmp_path / "tokenizer.model"
    path.write_bytes(tiny_bytes)
    pure = Tokenizer(path, prefer_library=False)
    assert pure.backend == "pure-python"
    ids = pure.encode(PROMPT)
    assert ids[0] == 1 and pure.decode(ids) == PROMPT
    cjk = pure.encode("我爱北京")
    assert pure.decode(cjk[1:2]) == "" and cjk[2:] == [3 + b for b in "我爱北京".encode()]  # "▁", then bytes
    if importlib.util.find_spec("sentencepiece"):
        lib = Tokenizer(path)
        assert lib.backend.startswith("sentencepiece") and lib.encode(PROMPT) == ids


def test_corrupt_and_missing_tokenizer(tmp_path: Path):
    with pytest.raises(TokenizerError, match="missing tokenizer"):
        Tokenizer(tmp_path / "tokenizer.model")
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"\xff\xff\xff")
    with pytest.raises(TokenizerError, match=f"corrupt tokenizer {bad}"):
        Tokenizer(bad)


def test_unigram_needs_the_library(tiny_bytes: bytes):
    m = spm_model.parse(tiny_bytes)
    m.model_type = spm_model.UNIGRAM
    with pytest.raises(TokenizerError, match="BPE only -- pip install sentencepiece"):
        PureSpm(m)


def test_transformers_llama_tokenizer_reads_the_generated_model(tmp_path: Path):
    """transformers' LlamaTokenizer (slow; v5: tokenizers-backed) and AutoTokenizer load our tokenizer.model and agree
    on the ids. In a subprocess: transformers' protobuf import must not leak into other tests (MindSpore's old
    generated *_pb2 modules then fail with "Descriptors cannot be created directly")."""
    for module in ("sentencepiece", "google.protobuf", "transformers"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{module} not installed")
    from ascend_env.smoke.checkpoint import ensure_tiny_checkpoint
    from ascend_env.smoke.golden import load_golden

    model = ensure_tiny_checkpoint(tmp_path)[0]
    code = ("import json, os, sys; os.environ['TORCH_DEVICE_BACKEND_AUTOLOAD'] = '0'\n"
            "import transformers\n"
            "out = {}\n"
            "for cls in (transformers.LlamaTokenizer, transformers.AutoTokenizer):\n"
            "    tok = cls.from_pretrained(sys.argv[1])\n"
            "    ids = list(tok(sys.argv[2])['input_ids'])\n"
            "    out[cls.__name__] = [ids, tok.decode(ids, skip_special_tokens=True)]\n"
            "print(json.dumps(out))\n")
    r = subprocess.run([sys.executable, "-c", code, str(model), PROMPT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    golden = load_golden()
    for cls, (ids, text) in json.loads(r.stdout.strip().splitlines()[-1]).items():
        assert ids == golden["prompt_ids"] and text == PROMPT, cls
