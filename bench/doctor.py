"""Benchmark: cold `python -m ascend_env doctor --json` latency on lab containers, beside torch's collect_env.

    python3 bench/doctor.py [--repeat 5]

Needs the lab up (`python -m ascend_env lab up`, default prefix) with torch, torch_npu and mindspore wheels in
its store (`python -m ascend_env lab store --wheels torch==2.13.0 torch-npu==2.13.0 mindspore==2.10.0`).
Creates two containers on h1 (bench-bare: CANN toolkit + kernels, no frameworks; bench-fw: the same plus a venv
with torch 2.13.0 + torch_npu 2.13.0 and one with MindSpore 2.10.0), times, removes them.  "Cold" = a new
process each run (the doctor from the host, probe piped through docker exec; frameworks imported in children).
Results: stdout and bench/results/doctor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / ".lab"
ROOT = LAB / "hosts/h1/root"
ENV = dict(os.environ, DOCKER_HOST=f"unix://{LAB}/hosts/h1/run/docker.sock",
           PATH=f"{REPO}/.venv/bin:{os.environ['PATH']}")
CANN_ENV = ["-e", "ASCEND_TOOLKIT_HOME=/usr/local/Ascend/ascend-toolkit/latest",
            "-e", "ASCEND_OPP_PATH=/usr/local/Ascend/ascend-toolkit/latest/opp",
            "-e", "LD_LIBRARY_PATH=/usr/local/Ascend/ascend-toolkit/latest/lib64:/usr/local/Ascend/driver/lib64/driver"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, env=ENV, check=check)


def timed(argv: list[str], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        t0 = time.monotonic()
        subprocess.run(argv, capture_output=True, text=True, env=ENV, check=False)
        runs.append(time.monotonic() - t0)
    return {"median_s": round(statistics.median(runs), 3), "min_s": round(min(runs), 3),
            "max_s": round(max(runs), 3), "runs": repeat}


def container(name: str, frameworks: bool) -> None:
    sh("docker", "rm", "-f", name, check=False)
    devs = [f"--device={ROOT}/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")]
    sh("docker", "run", "-d", "--name", name, "--network=host", "--shm-size=1g", *devs, *CANN_ENV,
       "-v", f"{ROOT}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
       "-v", f"{ROOT}/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro", "-v", f"{LAB}/store:/store:ro",
       "ascend-env/base:bookworm", "sleep", "infinity")
    sh("docker", "exec", name, "bash", "-c", "bash /store/runs/Ascend-cann-toolkit_9.2.0_linux-x86_64.run --install "
       "--quiet && bash /store/runs/Ascend-cann-910b-ops_9.2.0_linux-x86_64.run --install --quiet")
    if frameworks:
        sh("docker", "exec", name, "bash", "-c", "python3 -m venv /opt/torch && /opt/torch/bin/pip install -q "
           "--no-index --find-links /store/wheels torch==2.13.0 torch-npu==2.13.0 && python3 -m venv /opt/ms && "
           "/opt/ms/bin/pip install -q --no-index --find-links /store/wheels mindspore==2.10.0 && "
           "apt-get update -qq && apt-get install -y -qq libgomp1")  # MindSpore links the system libgomp


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    doctor = [sys.executable, "-m", "ascend_env", "doctor", "--json", "--container"]
    res: dict[str, object] = {"machine": f"{os.uname().machine}, {os.cpu_count()} cpus"}
    try:
        container("bench-bare", False)
        container("bench-fw", True)
        res["doctor_no_frameworks"] = timed([*doctor, "bench-bare"], a.repeat)
        res["doctor_no_frameworks_no_imports"] = timed([*doctor, "bench-bare", "--no-imports"], a.repeat)
        res["doctor_torch"] = timed([*doctor, "bench-fw", "--python", "/opt/torch/bin/python"], a.repeat)
        res["doctor_mindspore"] = timed([*doctor, "bench-fw", "--python", "/opt/ms/bin/python"], a.repeat)
        res["collect_env_torch"] = timed(["docker", "exec", "-e", "TORCH_DEVICE_BACKEND_AUTOLOAD=0", "bench-fw",
                                          "/opt/torch/bin/python", "-m", "torch.utils.collect_env"], a.repeat)
        res["ratio_doctor_torch_vs_collect_env"] = round(
            res["doctor_torch"]["median_s"] / res["collect_env_torch"]["median_s"], 2)  # type: ignore[index]
        res["ratio_doctor_bare_vs_collect_env"] = round(
            res["doctor_no_frameworks"]["median_s"] / res["collect_env_torch"]["median_s"], 2)  # type: ignore[index]
    finally:
        for n in ("bench-bare", "bench-fw"):
            sh("docker", "rm", "-f", n, check=False)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
