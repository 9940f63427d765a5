"""The golden token ids of the generated checkpoint, and the check every runner's output must pass.

``golden.json`` (beside this module) holds the generator's seed, the model config, the prompt, its ids, the 30 new
ids from the numpy reference, the sha256 of the generated weights and tokenizer (so a changed generator is caught as
such, not as a framework bug), and the smallest top-1/top-2 logit margin met while decoding (how far fp32 rounding
would have to go to flip a token). Regenerate only on purpose: ``python -m ascend_env.smoke.golden --write``.
"""

from __future__ import annotations

import hashlib
import json
import pkgutil
import sys
import tempfile
from pathlib import Path

from .checkpoint import DEFAULT_SEED, TINY_CONFIG, ensure_tiny_checkpoint, inspect_model_dir, tiny_files

GOLDEN_PATH = Path(__file__).with_name("golden.json")
PROMPT = "I love Beijing, because"
MAX_NEW_TOKENS = 30


def load_golden(path: Path | None = None) -> dict:
    """The golden record: from ``path``, else the packaged file (also when the package runs from a zip)."""
    if path is not None:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    data = pkgutil.get_data(__package__ or "ascend_env.smoke", "golden.json")
    if data is None:  # pragma: no cover - a loader without get_data
        raise FileNotFoundError(f"golden.json not found beside {__name__}")
    return json.loads(data.decode("utf-8"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_golden(seed: int = DEFAULT_SEED) -> dict:
    """Run the numpy reference on a freshly generated checkpoint and return the golden record."""
    import numpy as np

    from .runners.numpy_ref import NumpyRunner

    files = tiny_files(seed)
    with tempfile.TemporaryDirectory() as tmp:
        model = inspect_model_dir(ensure_tiny_checkpoint(Path(tmp), seed)[0])
        runner = NumpyRunner()
        runner.prepare("cpu")
        runner.load(model)
        prompt_ids = runner.encode(PROMPT)
        gen = runner.generate(prompt_ids, MAX_NEW_TOKENS)
        text = runner.decode(gen.ids)
    return {
        "seed": seed,
        "config": {k: TINY_CONFIG[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                               "num_attention_heads", "num_key_value_heads", "head_dim",
                                               "rope_theta", "rms_norm_eps")},
        "prompt": PROMPT,
        "prompt_ids": prompt_ids,
        "max_new_tokens": MAX_NEW_TOKENS,
        "output_ids": gen.ids,
        "output_text": text,
        "model_safetensors_sha256": sha256(files["model.safetensors"]),
        "tokenizer_model_sha256": sha256(files["tokenizer.model"]),
        "min_logit_margin": float(min(runner.net.margins)),
        "reference": f"numpy {np.__version__} fp32 (ascend_env.smoke.runners.numpy_ref)",
    }


def golden_problems(golden: dict, model_dir: Path, prompt: str, prompt_ids: list[int],
                    new_ids: list[int]) -> list[str]:
    """Every way a run on the generated checkpoint differs from the golden record (empty: it matches)."""
    problems = []
    for name, key in (("model.safetensors", "model_safetensors_sha256"), ("tokenizer.model", "tokenizer_model_sha256")):
        digest = sha256((Path(model_dir) / name).read_bytes())
        if digest != golden[key]:
            problems.append(f"the generated {name} (sha256 {digest[:12]}) is not the one the golden ids were made from "
                            f"({golden[key][:12]}): the generator changed (numpy RNG?) -- regenerate golden.json")
    if prompt != golden["prompt"]:
        return problems  # no golden for another prompt: only the token count is checked
    if prompt_ids != golden["prompt_ids"]:
        problems.append(f"prompt ids {prompt_ids} differ from golden {golden['prompt_ids']} (tokenizer mismatch)")
    want = golden["output_ids"][:len(new_ids)]
    got = new_ids[:len(want)]
    if got != want:
        first = next(i for i in range(len(want)) if got[i] != want[i])
        problems.append(f"token ids differ from golden at new token {first}: got {got[first:first + 5]}..., golden "
                        f"{want[first:first + 5]}... (full: got {got}, golden {want})")
    return problems


def dumps(golden: dict) -> str:
    """JSON with one key per line and each id list on one line (reviewable diffs)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in golden.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(dumps(make_golden()), end="")
        print("(dry run; pass --write to replace golden.json)", file=sys.stderr)
        return 0
    GOLDEN_PATH.write_text(dumps(make_golden()), encoding="utf-8")
    print(f"wrote {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
