"""Benchmark: the inference smoke run in every environment site.yml built on the lab, medians of several runs.

    python3 bench/smoke.py [--inventory .lab/inventory/hosts.yml] [--invocations 3] [--repeat 5]

Needs the fleet built (`bash scripts/main.sh`, or `ansible-playbook site.yml -i <lab inventory>`). For every
container in the inventory it runs `python -m ascend_env smoke --framework <its framework> --device cpu --repeat R
--json` through the host's engine (docker or the lab's isula), `--invocations` times (each a new process: one
warm-up then R timed generations), and reports the median over all timed generations of first-token latency and
decode tokens/s, the median load time and import time per invocation, and the largest peak RSS. The golden check
must pass in every run. Results: stdout and bench/results/smoke.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ascend_env.inventory import fleet_plan, read_inventory  # noqa: E402


def one_run(cli: str, docker_host: str | None, name: str, framework: str, repeat: int) -> dict:
    env = dict(os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {}))
    argv = [cli, "exec", name, "/opt/ascend-env/venv/bin/python", "-m", "ascend_env", "smoke", "--framework",
            framework, "--device", "cpu", "--repeat", str(repeat), "--json"]
    cp = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    if cp.returncode != 0:
        raise SystemExit(f"{name}: smoke exited {cp.returncode}: {cp.stderr[-2000:]}")
    doc = json.loads(cp.stdout)
    if not doc["golden"]["match"]:
        raise SystemExit(f"{name}: golden ids differ: {doc['problems']}")
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inventory", default=str(REPO / ".lab/inventory/hosts.yml"))
    ap.add_argument("--invocations", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    fleet = fleet_plan(read_inventory(args.inventory))
    rows = []
    for h, t in ((host, env) for host in fleet.hosts.values() for env in host.envs):
        if t.on_host:
            continue
        docs = [one_run(h.cli, h.engine_env.get("DOCKER_HOST"), t.container, t.framework, args.repeat)
                for _ in range(args.invocations)]
        runs = [r for d in docs for r in d["metrics"]["runs"]]
        rows.append({
            "environment": t.name, "runner": docs[0]["runner"], "versions": docs[0]["versions"],
            "device": docs[0]["device"], "timed_generations": len(runs),
            "ttft_ms": round(1000 * statistics.median(r["ttft_s"] for r in runs), 2),
            "decode_tok_s": round(statistics.median(r["decode_tok_s"] for r in runs), 1),
            "load_ms": round(1000 * statistics.median(d["metrics"]["load_s"] for d in docs), 1),
            "import_s": round(statistics.median(d["metrics"]["import_s"] for d in docs), 2),
            "peak_rss_mb": max(d["metrics"]["peak_rss_mb"] for d in docs),
            "golden": "equal in every run",
        })
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"smoke on the lab ({machine}); {args.invocations} invocations x {args.repeat} timed generations each")
    print(f"{'environment':16} {'runner':18} {'TTFT ms':>8} {'decode tok/s':>13} {'load ms':>8} {'import s':>9} "
          f"{'peak MB':>8}")
    for r in rows:
        print(f"{r['environment']:16} {r['runner']:18} {r['ttft_ms']:>8} {r['decode_tok_s']:>13} {r['load_ms']:>8} "
              f"{r['import_s']:>9} {r['peak_rss_mb']:>8}")
    out = REPO / "bench/results/smoke.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "invocations": args.invocations, "repeat": args.repeat,
                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
