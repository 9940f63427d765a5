"""``python -m ascend_env smoke``: greedy-generate 30 tokens from "I love Beijing, because" and measure the speed.

Exit codes: 0 ok, 1 the smoke run failed (golden mismatch, wrong token count, runner error -- with a diagnosis),
2 bad input (missing/corrupt checkpoint, wrong layout, runner or device not usable as asked -- naming why and the fix).

Runs with only the standard library + numpy (+ the framework) installed: containers' venvs have no PyYAML/Jinja2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..smoke.devices import DEVICES
from ..smoke.errors import EXIT_FAILED, EXIT_OK, SmokeError
from ..smoke.golden import MAX_NEW_TOKENS, PROMPT
from ..smoke.runners import FRAMEWORKS, KINDS

_EPILOG = """\
examples:
  python -m ascend_env smoke --framework numpy               # the reference, no framework needed
  python -m ascend_env smoke --framework torch               # torch (npu if torch_npu loads, else cuda/cpu)
  python -m ascend_env smoke --framework torch --runner transformers --device cpu
  python -m ascend_env smoke --framework mindspore --json --report /tmp/smoke.json
  python -m ascend_env smoke --framework torch --model-path /data/Llama-2-7b-hf --device npu
  python -m ascend_env smoke --list-runners

Without --model-path a tiny Llama checkpoint is generated (fixed seed, no download) and every runner must
reproduce the golden token ids exactly. Details: docs/smoke.md.
"""


def add_smoke_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "smoke", help="inference smoke run: greedy 30 tokens, golden ids, speed", description=__doc__,
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fill_smoke_parser(p)
    return p


def fill_smoke_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--framework", choices=FRAMEWORKS, default="numpy",
                   help="torch, mindspore, or numpy (the reference; default)")
    p.add_argument("--runner", choices=KINDS, default="auto",
                   help="direct (own forward pass; = auto), transformers (torch), mindformers (mindspore)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto (rules: docs/smoke.md), cpu, npu, cuda")
    p.add_argument("--model-path", metavar="DIR",
                   help="a Llama checkpoint in Hugging Face layout (default: the generated tiny one)")
    p.add_argument("--work-dir", metavar="DIR",
                   help="where the generated checkpoint lives (default ~/.cache/ascend-env/smoke/seed-0)")
    p.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, metavar="N")
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed runs first (default 1)")
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="timed runs; medians reported (default 3)")
    p.add_argument("--json", action="store_true", help="print the JSON report (schema: docs/smoke.md)")
    p.add_argument("--report", metavar="FILE", help="also write the JSON report to FILE")
    p.add_argument("--list-runners", action="store_true", help="each runner and whether it is usable here")


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _fmt_rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} tok/s"


def render_human(r: dict[str, Any]) -> str:
    m = r["metrics"]
    ver = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    model = r["model"]
    what = f"generated tiny Llama (seed {model['seed']})" if model["generated"] else "checkpoint"
    lines = [f"smoke: {r['runner']} on {r['device']} ({ver})",
             f"model: {what} at {model['path']}",
             f"prompt: {r['prompt']!r} -> {len(r['prompt_ids'])} ids {r['prompt_ids']}",
             f"output: {len(r['output_ids'])} new tokens {r['output_ids']}",
             f"text:   {r['output_text']!r}"]
    g = r["golden"]
    if g.get("checked"):
        lines.append("golden: " + ("match (seed {}, {} ids)".format(g["seed"], len(g["expected_ids"]))
                                   if g["match"] else "MISMATCH"))
    runs = m["runs"]
    lines += ["",
              f"  {'':<13}{'median':>12}   runs ({m['repeat']} timed after {m['warmup']} warm-up)",
              f"  {'load':<13}{_fmt_s(m['load_s']):>12}   (import/device {_fmt_s(m['import_s'])})",
              f"  {'first token':<13}{_fmt_s(m['ttft_s']):>12}   " + ", ".join(_fmt_s(x['ttft_s']) for x in runs),
              f"  {'decode':<13}{_fmt_rate(m['decode_tok_s']):>12}   "
              + ", ".join(_fmt_rate(x['decode_tok_s']) for x in runs),
              f"  {'total':<13}{_fmt_s(m['total_s']):>12}",
              f"  {'peak RSS':<13}{'-' if m['peak_rss_mb'] is None else str(m['peak_rss_mb']) + ' MB':>12}"]
    for ref in r.get("reference") or []:
        first = f", first token {ref['first_token_tok_s']} tok/s" if "first_token_tok_s" in ref else ""
        lines.append(f"  reference: {ref['decode_tok_s']} tok/s{first} -- {ref['setup']} ({ref['source']})")
    lines += [f"note: {n}" for n in r["notes"]]
    lines += [f"FAIL: {p}" for p in r["problems"]]
    lines.append("OK" if r["ok"] else "FAILED")
    return "\n".join(lines)


def render_runners(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        ver = ", ".join(f"{k} {v}" for k, v in row["versions"].items())
        state = "usable" if row["usable"] else "not usable"
        out.append(f"{row['runner']:<17} {row['framework']:<10} {state:<11} {ver or row['reason']}")
        if row["usable"] and row["reason"]:
            out.append(f"{'':<17} note: {row['reason']}")
        out.append(f"{'':<17} {row['path']}")
    return "\n".join(out)


def _write_report(path: str, report: dict[str, Any]) -> None:
    Path(path).expanduser().write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run_smoke(args: argparse.Namespace) -> int:
    from ..smoke.run import SmokeOptions, error_report, list_runners
    from ..smoke.run import run_smoke as run

    if args.list_runners:
        rows = list_runners()
        print(json.dumps(rows, indent=2) if args.json else render_runners(rows))
        return EXIT_OK
    opts = SmokeOptions(framework=args.framework, runner=args.runner, device=args.device, model_path=args.model_path,
                        work_dir=args.work_dir, max_new_tokens=args.max_new_tokens, prompt=args.prompt,
                        warmup=args.warmup, repeat=args.repeat)
    try:
        report = run(opts)
        code = EXIT_OK if report["ok"] else EXIT_FAILED
        report["exit_code"] = code
    except SmokeError as e:
        report = error_report(opts, e)
        code = e.exit_code
        if not args.json:
            print(f"error: {e}", file=sys.stderr)
    if args.report:
        try:
            _write_report(args.report, report)
        except OSError as e:
            print(f"error: cannot write --report {args.report}: {e}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    elif "metrics" in report:
        print(render_human(report))
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m ascend_env.smoke``: the smoke command alone."""
    parser = argparse.ArgumentParser(prog="python -m ascend_env.smoke", description=__doc__, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    fill_smoke_parser(parser)
    return run_smoke(parser.parse_args(argv))
