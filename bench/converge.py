"""Benchmark: artefact egress (fan-out beside direct), first converge and re-converge, at fleet sizes.

    python3 bench/converge.py                                    # egress 1 2 4 8, converge 1 8 (the issue's set)
    python3 bench/converge.py --egress 1 2 --converge 1 --reconverge 3
    python3 bench/converge.py --egress --converge 2 --tuning 2   # Ansible settings on a 2-host re-converge

One lab with the largest N simulated hosts (its own prefix and addresses 127.0.0.40+) is brought up once and its
store filled once (the only traffic from outside the controller: `lab store --wheels`, measured).  Every host gets
the same torch container, so N is the only variable.

Egress (--egress N...): for each N and each mode the first N hosts' artefact copies are deleted and
`site.yml --tags artifacts` runs with ascend_artifacts_fanout true, then false.  Controller egress: in fan-out mode
rsync's own --stats of the controller's transfers (the role's report, ~/.cache/ascend-env/fanout-report.json); in
direct mode the bytes of the one tar each host receives (what the copy module sends: the files plus tar's 512-byte
headers, summed over hosts).  Per-host bytes received: the host's copy after the run.  Waves: the report.

Converge (--converge N...): the first N hosts are reset to "driver installed, nothing else" (containers removed,
artefact copies deleted), then `site.yml --limit <the N hosts and their environments>` runs from scratch (the first
converge, fan-out auto) and again --reconverge times with --skip-tags smoke.  Per-role split: Ansible's
ansible.builtin.junit callback, each task's slowest host, summed per role, and the re-converge's host-tasks per role
on its busiest host; changed tasks and bytes re-sent on the re-converge (both target 0).

Results: tables on stdout and bench/results/converge.json.  Run as root (the lab needs it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ascend_env.lab import store  # noqa: E402
from ascend_env.lab.config import build_config  # noqa: E402
from ascend_env.lab.inventory import LAB_CONTAINERS  # noqa: E402

TORCH = next(c for c in LAB_CONTAINERS if c["framework"] == "torch")
HOST_STORE = "var/cache/ascend-env/store"


def lab(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", "lab", "--prefix", str(prefix), *args], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=7200)


def config(n: int) -> dict[str, Any]:
    return {"hosts": [{"name": f"b{i + 1}", "chip": "910b", "cards": 8, "address": f"127.0.0.{40 + i}"}
                      for i in range(n)]}


def files(root: Path) -> dict[str, tuple[int, int]]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def reset_host(prefix: Path, host: str, inv: dict[str, Any]) -> None:
    """Back to "driver installed, nothing else": containers gone, the host's artefact copy gone."""
    hv = inv["ascend_hosts"]["hosts"][host]
    env = dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"])
    ids = subprocess.run(["docker", "ps", "-aq"], env=env, capture_output=True, text=True, check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], env=env, capture_output=True, check=True)
    shutil.rmtree(Path(hv["ascend_host_root"]) / HOST_STORE, ignore_errors=True)


#: Ansible settings tried one at a time against ansible.cfg (forks 20, pipelining, ControlPersist 60s, linear).
TUNING: dict[str, dict[str, str]] = {
    "ansible.cfg as shipped": {},
    "pipelining off": {"ANSIBLE_PIPELINING": "False"},
    "no ControlPersist": {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"},
    "forks 1": {"ANSIBLE_FORKS": "1"},
    "strategy free": {"ANSIBLE_STRATEGY": "free"},   # refused: add_host (the join step) bypasses the host loop
}


#: the machine's CPU during the last playbook() run: every process (controller, the lab's sshd, dockerd and the
#: "hosts'" module runs), to tell a CPU-bound lab run from a latency-bound one
LAST: dict[str, float] = {}


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat: all but idle and iowait)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def playbook(inventory: Path, limit: str, junit: Path, *extra: str,
             settings: dict[str, str] | None = None) -> tuple[float, str, float]:
    """Run site.yml; (wall seconds, stdout, controller CPU seconds).  Controller CPU: user + system time of
    ansible-playbook and everything it waited for (forks, ssh clients, the controller's rsync); ssh's ControlPersist
    masters detach, so the encryption of the traffic they carry is not in it."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit",
               JUNIT_OUTPUT_DIR=str(junit), JUNIT_HIDE_TASK_ARGUMENTS="true",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", **(settings or {}))
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m0 = machine_busy_s()
    t0 = time.monotonic()
    cp = subprocess.run(["ansible-playbook", "site.yml", "-i", str(inventory), "--limit", limit, *extra], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=7200)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    LAST["machine_cpu_s"] = machine_busy_s() - m0
    LAST["machine_busy_pct"] = 100 * LAST["machine_cpu_s"] / (wall * (os.cpu_count() or 1))
    if cp.returncode != 0:
        raise SystemExit(f"site.yml failed (exit {cp.returncode}):\n{cp.stdout[-4000:]}\n{cp.stderr[-2000:]}")
    return wall, cp.stdout, cpu


def recap_changed(stdout: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", stdout, re.M)}


def recap_tasks(stdout: str) -> dict[str, int]:
    """Host-tasks per host from the recap: every task result the host had (ok, changed, failed, skipped, rescued,
    ignored; a task run once counts on the host it ran for), the figure issue 21 bounds (20 per NPU host, 10 per
    environment on an unchanged fleet)."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)"
                         r"\s+rescued=(\d+)\s+ignored=(\d+)", stdout, re.M):
        out[m.group(1)] = sum(int(m.group(i)) for i in range(2, 8))
    return out


def role_split(junit: Path) -> dict[str, float]:
    """Wall seconds per role: each task's slowest host, summed per role (play-level tasks under '(play)')."""
    per_task: dict[tuple[str, str], float] = defaultdict(float)
    for xml in junit.glob("*.xml"):
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = re.sub(r"^\[[^\]]*\]\s*", "", case.get("name", ""))
            key = (case.get("classname", ""), name)
            per_task[key] = max(per_task[key], float(case.get("time", 0)))
    roles: dict[str, float] = defaultdict(float)
    for (_, name), secs in per_task.items():
        # junit names a task "<play>: <role> : <task>" (or "<play>: <task>" outside roles)
        role = name.split(" : ", 1)[0].rsplit(": ", 1)[-1].strip() if " : " in name else "(play tasks)"
        roles[role] += secs
    return {k: round(v, 1) for k, v in sorted(roles.items(), key=lambda kv: -kv[1])}


def role_tasks(junit: Path) -> dict[str, int]:
    """Host-tasks per role on its busiest host (run_once tasks count on the host that ran them; Ansible's argument
    check of a role counted apart, as '<role> (argument check)')."""
    per: dict[tuple[str, str], int] = defaultdict(int)
    for xml in junit.glob("*.xml"):
        for case in ET.parse(xml).getroot().iter("testcase"):
            m = re.match(r"^\[([^\]]*)\]\s*(.*)$", case.get("name", ""), re.S)
            if not m:
                continue
            host, name = m.groups()
            role = name.split(" : ", 1)[0].rsplit(": ", 1)[-1].strip() if " : " in name else "(play tasks)"
            if "Validating arguments against arg spec" in name:
                role += " (argument check)"
            per[(role, host)] += 1
    out: dict[str, int] = defaultdict(int)
    for (role, _), n in per.items():
        out[role] = max(out[role], n)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


REPORT = Path.home() / ".cache/ascend-env/fanout-report.json"


def tar_bytes(sizes: list[int]) -> int:
    """Bytes of a tar of files of these sizes (512-byte header + content padded to 512 each, 1024-byte end; GNU tar
    pads the archive to 10240)."""
    body = sum(512 + (s + 511) // 512 * 512 for s in sizes) + 1024
    return (body + 10239) // 10240 * 10240


def egress(inv: dict[str, Any], bench_inv: Path, tmp: Path, n: int, mode: str) -> dict[str, Any]:
    hosts = [f"b{i + 1}" for i in range(n)]
    for h in hosts:
        shutil.rmtree(Path(inv["ascend_hosts"]["hosts"][h]["ascend_host_root"]) / HOST_STORE, ignore_errors=True)
    REPORT.unlink(missing_ok=True)
    fanout = "true" if mode == "fanout" else "false"
    wall, out, cpu = playbook(bench_inv, ",".join([*hosts, "localhost"]), tmp / f"e{n}{mode}", "--tags", "artifacts",
                              "-e", f"ascend_artifacts_fanout={fanout}")
    received = {h: files(Path(inv["ascend_hosts"]["hosts"][h]["ascend_host_root"]) / HOST_STORE) for h in hosts}
    per_host = {h: sum(sz for p, (sz, _) in got.items() if not p.startswith(".")) for h, got in received.items()}
    chosen = re.search(r"artefacts: (\w+) \(", out)
    row: dict[str, Any] = {"hosts": n, "mode": mode, "chosen": chosen.group(1) if chosen else None,
                           "wall_s": round(wall, 1), "controller_cpu_s": round(cpu, 1), "bytes_per_host": per_host,
                           "bundle_bytes": max(per_host.values())}
    if row["chosen"] == "fanout" and REPORT.exists():
        rep = json.loads(REPORT.read_text())
        row.update(controller_bytes=rep["bytes"]["controller"], peer_bytes=rep["bytes"]["peers"],
                   waves=len(rep["log"]), method="rsync --stats of the controller's transfers")
    else:
        row.update(controller_bytes=sum(tar_bytes([sz for p, (sz, _) in got.items() if not p.startswith(".")])
                                        for got in received.values()),
                   peer_bytes=0, waves=1, method="the tar each host received")
    row["controller_x_bundle"] = round(row["controller_bytes"] / row["bundle_bytes"], 3)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--egress", type=int, nargs="*", default=[1, 2, 4, 8], help="fleet sizes for the egress sweep")
    ap.add_argument("--modes", nargs="+", default=["fanout", "direct"], choices=["fanout", "direct"])
    ap.add_argument("--converge", type=int, nargs="*", default=[1, 8], help="fleet sizes for first/re-converge")
    ap.add_argument("--reconverge", type=int, default=3, help="re-converge runs per N (median reported)")
    ap.add_argument("--prefix", type=Path, default=REPO / ".lab-bench")
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    ap.add_argument("--reuse", action="store_true", help="use the lab at --prefix as it is (no down/up)")
    ap.add_argument("--tuning", type=int, metavar="N", default=0,
                    help="also time the re-converge of the first N hosts under each setting in TUNING")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab starts dockerd and sshd")
    biggest = max([*a.egress, *a.converge, a.tuning, 1])
    res: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
                                      f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB",
                           "python": platform.python_version(), "egress": [], "runs": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg_file = tmp / "lab.yml"
        cfg_file.write_text(yaml.safe_dump(config(biggest)))
        if not a.reuse:
            lab(a.prefix, "down")
        t0 = time.monotonic()
        lab(a.prefix, "up", "--config", str(cfg_file))
        res["lab_up_s"] = round(time.monotonic() - t0, 1)
        cfg = build_config(config(biggest), prefix=a.prefix)
        wheels = [w for w in store.stack_wheels(cfg) if "mindspore" not in w and "mindformers" not in w]
        before = sum(s for s, _ in files(a.prefix / "store").values())
        t0 = time.monotonic()
        lab(a.prefix, "store", "--wheels", *wheels)
        res["store_fill_s"] = round(time.monotonic() - t0, 1)
        res["store_bytes"] = sum(s for s, _ in files(a.prefix / "store").values())
        res["store_fetched_bytes"] = res["store_bytes"] - before
        inv_path = a.prefix / "inventory/hosts.yml"
        inv = yaml.safe_load(inv_path.read_text())
        for hv in inv["ascend_hosts"]["hosts"].values():
            hv["ascend_containers"] = [dict(TORCH)]
        bench_inv = tmp / "hosts.yml"
        bench_inv.write_text(yaml.safe_dump(inv, sort_keys=False))
        try:
            for n in sorted(a.egress):
                for mode in a.modes:
                    res["egress"].append(egress(inv, bench_inv, tmp, n, mode))
                    print(json.dumps(res["egress"][-1]), flush=True)
            for n in sorted(a.converge):
                hosts = [f"b{i + 1}" for i in range(n)]
                for h in hosts:
                    reset_host(a.prefix, h, inv)
                limit = ",".join([*hosts, *(f"{h}-*" for h in hosts), "localhost"])
                first, out, first_cpu = playbook(bench_inv, limit, tmp / f"j{n}-first")
                first_machine = dict(LAST)
                roots = [Path(inv["ascend_hosts"]["hosts"][h]["ascend_host_root"]) / HOST_STORE for h in hosts]
                snap = [files(r) for r in roots]
                again: list[float] = []
                again_cpu: list[float] = []
                changed: dict[str, int] = {}
                tasks: dict[str, int] = {}
                for k in range(a.reconverge):
                    wall, again_out, cpu = playbook(bench_inv, limit, tmp / f"j{n}-again{k}", "--skip-tags", "smoke")
                    again.append(wall)
                    again_cpu.append(cpu)
                    changed = recap_changed(again_out)
                    tasks = recap_tasks(again_out)
                resent = sum(s for r, old in zip(roots, snap, strict=True) for p, (s, m) in files(r).items()
                             if old.get(p) != (s, m))
                res["runs"].append({
                    "hosts": n, "first_s": round(first, 1), "first_changed": sum(recap_changed(out).values()),
                    "reconverge_s": round(statistics.median(again), 1),
                    "reconverge_all_s": [round(x, 1) for x in again],
                    "first_controller_cpu_s": round(first_cpu, 1),
                    "reconverge_controller_cpu_s": round(statistics.median(again_cpu), 1),
                    "first_machine_cpu_s": round(first_machine["machine_cpu_s"], 1),
                    "first_machine_busy_pct": round(first_machine["machine_busy_pct"]),
                    "reconverge_machine_cpu_s": round(LAST["machine_cpu_s"], 1),
                    "reconverge_machine_busy_pct": round(LAST["machine_busy_pct"]),
                    "reconverge_ratio": round(statistics.median(again) / first, 3),
                    "reconverge_changed": sum(changed.values()), "bytes_resent_reconverge": resent,
                    "reconverge_tasks_per_host": max((v for h, v in tasks.items() if h in hosts), default=0),
                    # a host that runs none of the run's run_once (fleet-wide, controller-side) tasks
                    "reconverge_tasks_per_host_min": min((v for h, v in tasks.items() if h in hosts), default=0),
                    "reconverge_tasks_per_env": max((v for h, v in tasks.items() if h not in hosts
                                                     and h != "localhost"), default=0),
                    "reconverge_tasks_localhost": tasks.get("localhost", 0),
                    "roles_first_s": role_split(tmp / f"j{n}-first"),
                    "roles_reconverge_s": role_split(tmp / f"j{n}-again0"),
                    "role_tasks_reconverge": role_tasks(tmp / f"j{n}-again0"),
                })
                print(json.dumps(res["runs"][-1]), flush=True)
            if a.tuning:
                hosts = [f"b{i + 1}" for i in range(min(a.tuning, biggest))]
                limit = ",".join([*hosts, *(f"{h}-*" for h in hosts), "localhost"])
                res["tuning_reconverge_s"] = {}
                for label, settings in TUNING.items():
                    try:
                        walls = [playbook(bench_inv, limit, tmp / f"t-{len(res['tuning_reconverge_s'])}-{k}",
                                          "--skip-tags", "smoke", settings=settings)[0] for k in range(a.reconverge)]
                        res["tuning_reconverge_s"][label] = round(statistics.median(walls), 1)
                    except SystemExit as exc:    # e.g. strategy free refuses the join step's add_host
                        errors = [ln for ln in str(exc).splitlines() if "[ERROR]" in ln or "fatal" in ln]
                        res["tuning_reconverge_s"][label] = f"failed: {(errors or ['see the output'])[0][:200]}"
                    print(f"tuning: {label}: {res['tuning_reconverge_s'][label]}", flush=True)
        finally:
            if not a.keep:
                lab(a.prefix, "down")
    one = next((r for r in res["runs"] if r["hosts"] == 1), None)
    for r in res["runs"]:
        r["reconverge_x_1_host"] = round(r["reconverge_s"] / one["reconverge_s"], 2) if one else None
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "converge.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nmachine: {res['machine']}; lab up {res['lab_up_s']} s; store filled once: "
          f"{res['store_fetched_bytes'] / 1e6:.0f} MB fetched in {res['store_fill_s']} s")
    if res["egress"]:
        print(f"{'hosts':>5} {'mode':>7} {'chosen':>7} {'wall s':>7} {'ctl CPU s':>9} {'controller B':>14} "
              f"{'x bundle':>8} "
              f"{'peers B':>14} {'waves':>5} {'per host B (min..max)':>26}")
        for r in res["egress"]:
            ph = r["bytes_per_host"].values()
            print(f"{r['hosts']:>5} {r['mode']:>7} {r['chosen'] or '-':>7} {r['wall_s']:>7} {r['controller_cpu_s']:>9} "
                  f"{r['controller_bytes']:>14,} {r['controller_x_bundle']:>8} {r['peer_bytes']:>14,} "
                  f"{r['waves']:>5} {min(ph):>12,}..{max(ph):<12,}")
    if res["runs"]:
        print(f"{'hosts':>5} {'first s':>8} {'again s':>8} {'again/first':>11} {'again x 1 host':>14} "
              f"{'changed':>7} {'re-sent B':>9} {'ctl CPU first/again s':>22} {'machine busy first/again':>24} "
              f"{'tasks/host (min)':>16} {'tasks/env':>9}")
        for r in res["runs"]:
            print(f"{r['hosts']:>5} {r['first_s']:>8} {r['reconverge_s']:>8} {r['reconverge_ratio']:>11} "
                  f"{r['reconverge_x_1_host'] or '-':>14} {r['reconverge_changed']:>7} "
                  f"{r['bytes_resent_reconverge']:>9} "
                  f"{r['first_controller_cpu_s']:>11}/{r['reconverge_controller_cpu_s']:<10} "
                  f"{r['first_machine_busy_pct']:>12}%/{r['reconverge_machine_busy_pct']:<3}% "
                  f"{r['reconverge_tasks_per_host']:>10} ({r['reconverge_tasks_per_host_min']:>3}) "
                  f"{r['reconverge_tasks_per_env']:>9}")
        for r in res["runs"]:
            for which in ("first", "reconverge"):
                top = ", ".join(f"{k} {v}" for k, v in list(r[f"roles_{which}_s"].items())[:7])
                print(f"{r['hosts']} host(s), {which} by role (s): {top}")
            per_role = ", ".join(f"{k} {v}" for k, v in r["role_tasks_reconverge"].items())
            print(f"{r['hosts']} host(s), re-converge host-tasks per role (busiest host): {per_role}")
    for label, secs in res.get("tuning_reconverge_s", {}).items():
        print(f"re-converge of {min(a.tuning, biggest)} hosts, {label}: {secs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
