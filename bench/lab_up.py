"""Benchmark: cold, warm and no-op `lab up`, `lab down`, and the disk the lab uses.

    python3 bench/lab_up.py [--prefix /srv/ascend-lab-bench] [--keep-cache]

cold  = no image cache (debootstrap + docker import + save), both hosts, store filled
after-down = cache present, lab down before (docker load per host, installers rebuilt)
no-op = a second `lab up` while up
Results go to stdout and bench/results/lab_up.json.  Run as root; uses its own prefix and cache.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lab(prefix: Path, cache: Path, *args: str) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "ascend_env", "lab", "--prefix", str(prefix), "--cache", str(cache), *args],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def du(path: Path) -> int:
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", type=Path, default=Path("/srv/ascend-lab-bench"))
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "lab-bench")
    ap.add_argument("--keep-cache", action="store_true", help="skip the cold run (reuse the cache)")
    a = ap.parse_args()
    res: dict[str, object] = {"machine": f"{platform.machine()}, {subprocess.os.cpu_count()} cpus",
                              "python": platform.python_version()}
    lab(a.prefix, a.cache, "down")
    if not a.keep_cache:
        subprocess.run(["rm", "-rf", str(a.cache)], check=True)
    res["cold_up_s"] = round(lab(a.prefix, a.cache, "up"), 1)
    res["noop_up_s"] = round(lab(a.prefix, a.cache, "up"), 2)
    res["status_s"] = round(lab(a.prefix, a.cache, "status"), 2)
    res["disk_prefix_bytes"] = du(a.prefix)
    res["disk_cache_bytes"] = du(a.cache)
    res["down_s"] = round(lab(a.prefix, a.cache, "down"), 1)
    res["after_down_up_s"] = round(lab(a.prefix, a.cache, "up"), 1)
    res["down2_s"] = round(lab(a.prefix, a.cache, "down"), 1)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "lab_up.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
