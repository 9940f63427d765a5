"""Benchmark: cold `python -m ascend_env doctor --json` latency, beside `python -m torch.utils.collect_env`, in one run.

    python3 bench/doctor.py [--prefix .lab-bench] [--host b1] [--repeat 10]

Needs a lab up (`python -m ascend_env lab --prefix P up`) whose store has the CANN installers and the torch and
torch_npu wheels of its stack (bench/converge.py leaves such a lab with --keep; `lab store --wheels` fills one);
MindSpore is measured when its wheel is in the store too.  Creates two containers on the host (bench-bare: CANN
toolkit + kernels, no frameworks; bench-fw: the same plus a venv with torch + torch_npu, and one with MindSpore),
times, removes them.

"Cold" = a new process every run, nothing kept between runs but the OS page cache and the matrix cache a first
run writes (every user's second run has both); the package's bytecode is compiled once first, as pip does when it
installs the wheel.  Rows:
- doctor, container without frameworks: `doctor --json --container bench-bare` from the host (the probe piped
  into the container through `docker exec`, the checks on the host), the issue's "0.3 s" figure;
- the same with --no-imports, and on the lab host itself (`--root`, no container: no exec);
- doctor with torch + torch_npu (`--python /opt/torch/bin/python`): the framework import in its own time line
  (system.timing), reported here as the doctor's own import_ms;
- `docker exec bench-fw /opt/torch/bin/python -m torch.utils.collect_env`, the same container, the same runs.
Results: a table, and bench/results/doctor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def sh(env: dict[str, str], *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, check=check)


def timed(env: dict[str, str], argv: list[str], repeat: int) -> dict[str, Any]:
    runs, last = [], None
    for _ in range(repeat):
        t0 = time.monotonic()
        last = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        runs.append(time.monotonic() - t0)
    out: dict[str, Any] = {"median_s": round(statistics.median(runs), 3), "min_s": round(min(runs), 3),
                           "max_s": round(max(runs), 3), "runs": repeat, "exit": last.returncode if last else None}
    if last is not None and argv[1:4] == ["-m", "ascend_env", "doctor"]:
        try:
            doc = json.loads(last.stdout)
            timing = next(c for t in doc["targets"] for c in t["checks"] if c["id"] == "system.timing")
            out["doctor_timing"] = timing.get("summary")
            out["doctor_timing_data"] = timing.get("data")
        except (ValueError, StopIteration, KeyError):
            pass
    return out


def store_version(store: Path, pattern: str) -> str | None:
    for f in sorted((store / "wheels").glob("*.whl")) + sorted((store / "runs").glob("*.run")):
        m = re.match(pattern, f.name)
        if m:
            return m.group(1)
    return None


def container(env: dict[str, str], name: str, root: Path, store: Path, cann: str, chip_ops: str,
              frameworks: dict[str, str]) -> None:
    sh(env, "docker", "rm", "-f", name, check=False)
    devs = [f"--device={root}/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")]
    major_minor = tuple(int(x) for x in re.findall(r"\d+", cann)[:2])
    home = "/usr/local/Ascend/cann" if major_minor >= (8, 5) else "/usr/local/Ascend/ascend-toolkit/latest"
    sh(env, "docker", "run", "-d", "--name", name, "--network=host", "--shm-size=1g", *devs,
       "-e", f"ASCEND_TOOLKIT_HOME={home}", "-e", f"ASCEND_OPP_PATH={home}/opp",
       "-e", f"LD_LIBRARY_PATH={home}/lib64:/usr/local/Ascend/driver/lib64/driver",
       "-v", f"{root}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
       "-v", f"{root}/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro", "-v", f"{store}:/store:ro",
       "ascend-env/base:bookworm", "sleep", "infinity")
    arch = os.uname().machine
    sh(env, "docker", "exec", name, "bash", "-c",
       f"bash /store/runs/Ascend-cann-toolkit_{cann}_linux-{arch}.run --install --quiet && "
       f"bash /store/runs/{chip_ops} --install --quiet")
    for venv, reqs in frameworks.items():
        sh(env, "docker", "exec", name, "bash", "-c", f"python3 -m venv {venv} && {venv}/bin/pip install -q "
           f"--no-index --find-links /store/wheels {reqs}")
    if any("mindspore" in r for r in frameworks.values()):
        sh(env, "docker", "exec", name, "bash", "-c", "apt-get install -y -qq libgomp1 >/dev/null 2>&1 || true")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", type=Path, default=REPO / ".lab-bench")
    ap.add_argument("--host", default=None, help="lab host to use (default: the first)")
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    hosts = sorted(p.name for p in (a.prefix / "hosts").iterdir()) if (a.prefix / "hosts").is_dir() else []
    if not hosts:
        raise SystemExit(f"no lab at {a.prefix}: python -m ascend_env lab --prefix {a.prefix} up")
    host = a.host or hosts[0]
    root, store = a.prefix / "hosts" / host / "root", a.prefix / "store"
    env = dict(os.environ, DOCKER_HOST=f"unix://{a.prefix}/hosts/{host}/run/docker.sock",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # as installed: pip writes the package's bytecode at install time, so no run compiles ascend_env's sources
    # (a shell with PYTHONDONTWRITEBYTECODE=1 and a fresh checkout would time the compiler, ~40 ms a run)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ascend_env")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    cann = store_version(store, r"Ascend-cann-toolkit_(.+)_linux-")
    ops = next((f.name for f in sorted((store / "runs").glob(f"*ops_{cann}_linux-*.run"))), None) \
        or next((f.name for f in sorted((store / "runs").glob(f"*kernels*_{cann}_linux-*.run"))), None)
    torch = store_version(store, r"torch-([\d.]+)")
    torch_npu = store_version(store, r"torch_npu-([\d.]+(?:\.post\d+)?)-")
    ms = store_version(store, r"mindspore-([\d.]+)-")
    if not (cann and ops and torch and torch_npu):
        raise SystemExit(f"the store {store} lacks the CANN toolkit/kernels or torch/torch_npu wheels: "
                         f"python -m ascend_env lab --prefix {a.prefix} store --wheels torch==... torch-npu==...")
    fws = {"/opt/torch": f"torch=={torch} torch-npu=={torch_npu}"}
    if ms:
        fws["/opt/ms"] = f"mindspore=={ms}"
    doctor = [sys.executable, "-m", "ascend_env", "doctor", "--json"]
    res: dict[str, Any] = {"machine": f"{os.uname().machine}, {os.cpu_count()} cpus",
                           "stack": {"cann": cann, "torch": torch, "torch_npu": torch_npu, "mindspore": ms}}
    try:
        container(env, "bench-bare", root, store, cann, ops, {})
        container(env, "bench-fw", root, store, cann, ops, fws)
        sh(env, *doctor, "--container", "bench-bare", check=False)        # the matrix cache every later run has
        res["doctor_container_no_frameworks"] = timed(env, [*doctor, "--container", "bench-bare"], a.repeat)
        res["doctor_container_no_imports"] = timed(env, [*doctor, "--container", "bench-bare", "--no-imports"],
                                                   a.repeat)
        res["doctor_host_root"] = timed(env, [*doctor, "--root", str(root), "--python", "/usr/bin/python3"],
                                        a.repeat)
        res["doctor_torch"] = timed(env, [*doctor, "--container", "bench-fw", "--python", "/opt/torch/bin/python"],
                                    a.repeat)
        if ms:
            res["doctor_mindspore"] = timed(env, [*doctor, "--container", "bench-fw", "--python",
                                                  "/opt/ms/bin/python"], a.repeat)
        res["collect_env_torch"] = timed(env, ["docker", "exec", "-e", "TORCH_DEVICE_BACKEND_AUTOLOAD=0",
                                               "bench-fw", "/opt/torch/bin/python", "-m", "torch.utils.collect_env"],
                                         a.repeat)
        ce = res["collect_env_torch"]["median_s"]
        for k in ("doctor_container_no_frameworks", "doctor_host_root", "doctor_torch"):
            res[f"ratio_{k}_vs_collect_env"] = round(res[k]["median_s"] / ce, 3)
    finally:
        for n in ("bench-bare", "bench-fw"):
            sh(env, "docker", "rm", "-f", n, check=False)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"machine: {res['machine']}; stack {res['stack']}; {a.repeat} cold runs each, medians")
    for k, v in res.items():
        if isinstance(v, dict) and "median_s" in v:
            extra = f"   [{v['doctor_timing']}]" if v.get("doctor_timing") else ""
            print(f"{k:34} {v['median_s']:7.3f} s  (min {v['min_s']}, max {v['max_s']}, exit {v['exit']}){extra}")
    for k, v in res.items():
        if k.startswith("ratio_"):
            print(f"{k:60} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
