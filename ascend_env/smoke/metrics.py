"""The numbers of a smoke run: medians over the timed repetitions, peak memory, and the seeds' reference figures.

Definitions (docs/smoke.md): load = checkpoint read + model build (+ tokenizer); first-token latency (TTFT) = prompt
prefill + first new token, host-synchronised; decode tokens/s = (n - 1) / (t_last - t_first), the first token
excluded; total = start to last token; peak RSS = ``ru_maxrss`` of this process (whole run, all repetitions).
"""

from __future__ import annotations

import sys
from typing import Any

from .runners.base import Generation

#: figures the seeds report for 7B on Ascend, shown beside measured ones on an NPU host with a 7B model
REFERENCE_7B = (
    {"source": "seed: Llama-2 deployment notes (zzudongxiang/ascend.llama2)",
     "setup": "Llama-2-7B, one 910B card, MindFormers high-level API (pipeline/generate)", "decode_tok_s": 1.3},
    {"source": "seed: Llama-2 deployment notes (zzudongxiang/ascend.llama2)",
     "setup": "Llama-2-7B, one 910B card, MindFormers run from source", "decode_tok_s": 10.0},
    {"source": "seed: Alpaca2-7B inference guide (ModelZoo)", "setup": "Alpaca2-7B, batch 1, 910B3 (313T)",
     "decode_tok_s": 14.26, "first_token_tok_s": 59.44},
    {"source": "seed: Alpaca2-7B inference guide (ModelZoo)", "setup": "Alpaca2-7B, batch 1, A100",
     "decode_tok_s": 11.25, "first_token_tok_s": 44.10},
)


def median(values: list[float]) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def run_record(g: Generation) -> dict:
    tok_s = g.decode_tok_s
    return {"ttft_s": round(g.ttft_s, 6), "decode_tok_s": None if tok_s is None else round(tok_s, 2),
            "total_s": round(g.total_s, 6), "new_tokens": len(g.ids)}


def summarize(runs: list[Generation]) -> dict:
    records = [run_record(g) for g in runs]
    out: dict[str, Any] = {k: median([r[k] for r in records]) for k in ("ttft_s", "decode_tok_s", "total_s")}
    out["runs"] = records
    return out


def reference_for(device: str, looks_like_7b: bool) -> list[dict] | None:
    return [dict(r) for r in REFERENCE_7B] if device.startswith("npu") and looks_like_7b else None
