"""One smoke run, start to end: pick the runner, get the model, load, warm up, time, check, and build the report.

Everything that can go wrong before any token is generated raises a :class:`~.errors.SmokeError` whose exit code
says whose fault it is (2: the input or this host's setup as asked; 1: the run failed); a run that completes returns
the report, with ``problems`` listing every check that failed (golden ids, token count, repeatability).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import DEFAULT_SEED, ModelDir, ensure_tiny_checkpoint, inspect_model_dir
from .errors import CheckpointError, RunnerUnavailable, SmokeError, SmokeFailed
from .golden import PROMPT, golden_problems, load_golden
from .metrics import peak_rss_mb, reference_for, summarize
from .runners import runner_class, select
from .runners.base import Generation, Runner, check_length

SCHEMA = "ascend-env/smoke/1"


@dataclass
class SmokeOptions:
    framework: str = "numpy"
    runner: str = "auto"
    device: str = "auto"
    model_path: str | None = None
    work_dir: str | None = None
    max_new_tokens: int = 30
    prompt: str = PROMPT
    warmup: int = 1
    repeat: int = 3


def default_work_dir(seed: int = DEFAULT_SEED) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ascend-env" / "smoke" / f"seed-{seed}"


def validate(opts: SmokeOptions) -> None:
    if opts.max_new_tokens < 1:
        raise RunnerUnavailable(f"--max-new-tokens {opts.max_new_tokens}: must be at least 1")
    if opts.repeat < 1 or opts.warmup < 0:
        raise RunnerUnavailable(f"--repeat {opts.repeat} / --warmup {opts.warmup}: need repeat >= 1, warmup >= 0")
    if not opts.prompt:
        raise RunnerUnavailable("--prompt is empty: give the text to continue")


def get_model(opts: SmokeOptions) -> tuple[ModelDir, bool]:
    """The model directory to run and whether it is the generated one."""
    if opts.model_path:
        return inspect_model_dir(Path(opts.model_path)), False
    work = Path(opts.work_dir).expanduser() if opts.work_dir else default_work_dir()
    path, _ = ensure_tiny_checkpoint(work, DEFAULT_SEED)
    return inspect_model_dir(path), True


def _guarded(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a runner step; SmokeErrors pass through, anything else becomes a one-line SmokeFailed."""
    if os.environ.get("ASCEND_ENV_SMOKE_DEBUG"):
        return fn(*args)
    try:
        return fn(*args)
    except SmokeError:
        raise
    except MemoryError:
        raise SmokeFailed(f"{what}: out of memory -- the model does not fit in this host's RAM / device memory") \
            from None
    except Exception as e:
        first = str(e).strip().splitlines()[0][:400] if str(e).strip() else ""
        raise SmokeFailed(f"{what} failed: {type(e).__name__}: {first} (set ASCEND_ENV_SMOKE_DEBUG=1 for the "
                          "traceback)") from None


def prepare_runner(opts: SmokeOptions) -> Runner:
    name = select(opts.framework, opts.runner)
    runner = runner_class(name)()
    avail = runner.availability()
    if not avail.usable:
        raise RunnerUnavailable(f"runner {name} is not usable here: {avail.reason}")
    return runner


def run_smoke(opts: SmokeOptions) -> dict:
    """Run the smoke test; returns the report (``problems`` empty when it passed)."""
    validate(opts)
    runner = prepare_runner(opts)
    model, generated = get_model(opts)
    t = time.perf_counter()
    device = _guarded(f"{runner.name}: preparing device {opts.device}", runner.prepare, opts.device)
    import_s = time.perf_counter() - t
    runner.max_len_hint = opts.max_new_tokens + len(opts.prompt.encode("utf-8")) + 2  # bytes bound tokens (+BOS, ▁)
    t = time.perf_counter()
    _guarded(f"{runner.name}: loading {model.path}", runner.load, model)
    load_s = time.perf_counter() - t
    prompt_ids = _guarded(f"{runner.name}: tokenizing the prompt", runner.encode, opts.prompt)
    check_length(model, prompt_ids, opts.max_new_tokens)
    n = opts.max_new_tokens
    for _ in range(opts.warmup):
        _guarded(f"{runner.name}: warm-up generation", runner.generate, prompt_ids, n)
    runs: list[Generation] = [_guarded(f"{runner.name}: generation", runner.generate, prompt_ids, n)
                              for _ in range(opts.repeat)]
    ids = runs[0].ids
    problems = []
    for i, g in enumerate(runs):
        if len(g.ids) != n:
            problems.append(f"run {i + 1} produced {len(g.ids)} new tokens, expected {n}")
        elif g.ids != ids:
            problems.append(f"run {i + 1} produced other ids than run 1 (greedy decoding must repeat exactly)")
    golden, golden_probs = None, []
    if generated:
        golden = load_golden()
        golden_probs = golden_problems(golden, model.path, opts.prompt, prompt_ids, ids)
        problems += golden_probs
    report = build_report(opts, runner, model, generated, device, prompt_ids, runs, problems, import_s, load_s)
    if golden is not None and opts.prompt == golden["prompt"]:
        report["golden"] = {"checked": True, "match": not golden_probs, "seed": golden["seed"],
                            "expected_ids": golden["output_ids"][:n]}
    return report


def build_report(opts: SmokeOptions, runner: Runner, model: ModelDir, generated: bool, device: str,
                 prompt_ids: list[int], runs: list[Generation], problems: list[str], import_s: float,
                 load_s: float) -> dict:
    ids = runs[0].ids
    metrics = {"import_s": round(import_s, 4), "load_s": round(load_s, 4), **summarize(runs),
               "peak_rss_mb": peak_rss_mb(), "warmup": opts.warmup, "repeat": opts.repeat}
    report = {
        "schema": SCHEMA,
        "ok": not problems,
        "framework": runner.framework,
        "runner": runner.name,
        "path": runner.path_description,
        "device": device,
        "versions": dict(runner.versions),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "model": {"path": str(model.path), "generated": generated, "seed": DEFAULT_SEED if generated else None,
                  "config": model.spec.summary()},
        "prompt": opts.prompt,
        "prompt_ids": prompt_ids,
        "max_new_tokens": opts.max_new_tokens,
        "output_ids": ids,
        "output_text": _guarded(f"{runner.name}: decoding", runner.decode, ids),
        "golden": {"checked": False},
        "metrics": metrics,
        "problems": problems,
        "notes": list(runner.notes),
    }
    ref = reference_for(device, model.spec.looks_like_7b)
    if ref:
        report["reference"] = ref
    return report


def error_report(opts: SmokeOptions, err: SmokeError) -> dict:
    """The JSON report of a run that stopped before generating (bad input, unusable runner, diagnosed failure)."""
    return {"schema": SCHEMA, "ok": False, "exit_code": err.exit_code, "error": str(err),
            "error_kind": "bad input" if isinstance(err, (CheckpointError, RunnerUnavailable)) else "failed",
            "framework": opts.framework, "runner": opts.runner, "device": opts.device,
            "python": platform.python_version()}


def list_runners() -> list[dict]:
    """Each runner, whether it is usable here and why not (imports nothing heavy)."""
    from .runners import RUNNERS

    out = []
    for name in RUNNERS:
        runner = runner_class(name)()
        try:
            avail = runner.availability()
        except Exception as e:
            avail_d = {"usable": False, "reason": f"{type(e).__name__}: {e}", "versions": {}}
        else:
            avail_d = {"usable": avail.usable, "reason": avail.reason, "versions": avail.versions}
        out.append({"runner": name, "framework": runner.framework, "kind": runner.kind,
                    "path": runner.path_description, **avail_d})
    return out
