"""``python -m ascend_env collective``: all_reduce across the servers of a rank table (run it on every server).

Standard library + torch only (it runs inside the environments, like ``smoke``).  Exit codes: 0 every rank of this
server got the right sum, 1 a rank failed or got a wrong sum (the report says which and why), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLES = """\
examples (start it on every server of the table within --timeout seconds):
  python -m ascend_env collective --server-id 10.0.0.11                         # $RANK_TABLE_FILE, backend auto
  python -m ascend_env collective --rank-table hccl.json --server-id 10.0.0.12 --backend gloo --json

backend auto: hccl (one process per device of this server) when torch_npu loads, else gloo on the CPU
(one process per server).  The master is the table's first server, --port on it.
"""


def add_collective_parser(sub: Any) -> None:
    p = sub.add_parser("collective", help="all_reduce across the servers of a rank table (multi-node smoke)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rank-table", default=os.environ.get("RANK_TABLE_FILE"),
                   help="the rank table (default: $RANK_TABLE_FILE)")
    p.add_argument("--server-id", required=True, help="this server's server_id in the table (its address)")
    p.add_argument("--backend", default="auto", choices=("auto", "gloo", "hccl"))
    p.add_argument("--port", type=int, default=29500, help="the master's port (default 29500)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the other servers")
    p.add_argument("--json", action="store_true")
    p.add_argument("--report", type=Path, help="also write the JSON report here")


def _auto_backend() -> str:
    """hccl when torch_npu loads and sees NPUs, else gloo; asked in a child Python, so that a torch_npu that
    cannot load (no CANN libraries) leaves this process's torch untouched."""
    import subprocess

    probe = "import torch, torch_npu; print(int(torch.npu.is_available() and torch.npu.device_count() > 0))"
    try:
        cp = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "gloo"
    return "hccl" if cp.returncode == 0 and cp.stdout.strip().endswith("1") else "gloo"


def run_collective(args: argparse.Namespace) -> int:
    from ..collective import CollectiveError, load_table, plan, report, run
    from ..ranktable import validate

    if not args.rank_table:
        print("error: no rank table: pass --rank-table FILE or set RANK_TABLE_FILE", file=sys.stderr)
        return 2
    try:
        table = load_table(args.rank_table)
    except (OSError, ValueError) as e:
        print(f"error: --rank-table {args.rank_table}: {e}", file=sys.stderr)
        return 2
    bad = validate(table)
    if bad:
        print(f"error: {args.rank_table} is not a usable rank table: " + "; ".join(bad), file=sys.stderr)
        return 2
    if not 1 <= args.port <= 65535:
        print(f"error: --port {args.port}: use 1-65535", file=sys.stderr)
        return 2
    backend = _auto_backend() if args.backend == "auto" else args.backend
    try:
        p = plan(table, args.server_id, backend, args.port)
    except CollectiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    results = run(p, args.timeout)
    doc = report(p, results, time.monotonic() - t0)
    text = json.dumps(doc, indent=1)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        for r in results:
            mark = "✓" if r.ok else "✗"
            print(f"{mark} rank {r.rank}/{r.world_size} {r.backend}: sum {r.got} (want {r.expected})"
                  + (f", init {r.init_s} s, all_reduce {r.all_reduce_s} s" if r.ok else f": {r.error}"))
    return 0 if doc["ok"] else 1
