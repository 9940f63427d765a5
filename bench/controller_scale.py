"""Benchmark: what the controller itself spends at fleet sizes the lab cannot hold (8, 64, 256 hosts), measured,
not projected: the preflight play (every host's inventory checked and its stacks resolved) and Ansible's own cost
per task per host at several `forks` settings.

    python3 bench/controller_scale.py                         # hosts 8 64 256, forks 20 50
    python3 bench/controller_scale.py --hosts 256 --forks 20 50 100 --tasks 10

Both parts run on the controller alone, so they need no lab: the inventory is the lab's own (rendered for N hosts
with a torch container each, `ascend_env.lab.inventory`), never brought up; its store is a filled lab store
(--store, default .lab-bench/store: bench/converge.py --keep leaves one).

1. Preflight: `ansible-playbook playbooks/preflight.yml` on that inventory (its plays are controller-side work:
   set_fact, assert and the resolver filter; nothing connects).  Wall time and controller CPU (user + system of
   ansible-playbook and its forks, getrusage).
2. Per-task cost: plays of --tasks no-op tasks over the N hosts with `ansible_connection: local`, of each kind a
   run has: controller-side (`set_fact`: a fork, templating and a result; most of the tasks an unchanged host
   runs) and a module (`command: /bin/true`: the same plus a Python module run, which on a fleet runs on the host
   while the controller runs an SSH client instead; SSH's share is in bench/converge.py's figures).  Wall time per
   task and CPU milliseconds per host-task.

Results: tables on stdout and bench/results/controller_scale.json.  docs/scale.md uses them for the 256-host
projection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ascend_env.lab.config import build_config  # noqa: E402
from ascend_env.lab.inventory import LAB_CONTAINERS, render_inventory  # noqa: E402
from ascend_env.lab.layout import LabPaths  # noqa: E402

TORCH = next(c for c in LAB_CONTAINERS if c["framework"] == "torch")


def inventory(n: int, tmp: Path, store: Path) -> Path:
    """The lab's inventory for n 910B hosts (8 cards, one torch container each, the given store), rendered, not
    brought up."""
    prefix = tmp / f"lab-{n}"
    cfg = build_config({"hosts": [{"name": f"s{i + 1:03d}", "chip": "910b", "cards": 8} for i in range(n)]},
                       prefix=prefix)
    doc = yaml.safe_load(render_inventory(cfg, LabPaths(prefix=prefix, cache=tmp / "cache")))
    for hv in doc["ascend_hosts"]["hosts"].values():
        hv["ascend_containers"] = [dict(TORCH)]
        hv["ascend_offline_store"] = str(store)
    path = tmp / f"inventory-{n}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


#: ansible-playbook in-process, printing at exit the CPU of its own process alone (RUSAGE_SELF): the strategy loop
#: that queues every host-task and handles every result is one process, the one share more cores do not spread
MAIN = """import atexit, resource, sys
from ansible.cli.playbook import main
def _report():
    r = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write(f"\\nBENCH_MAIN_CPU {r.ru_utime + r.ru_stime}\\n")
atexit.register(_report)
sys.exit(main(["ansible-playbook", *sys.argv[1:]]))
"""


def run(argv: list[str], forks: int) -> tuple[float, float, float, str]:
    """(wall seconds, controller CPU seconds, its main process's CPU seconds, stdout) of one ansible-playbook run."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS=str(forks),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_DISPLAY_OK_HOSTS="false",
               ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    cp = subprocess.run([sys.executable, "-c", MAIN, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=7200)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cp.returncode != 0:
        raise SystemExit(f"ansible-playbook {' '.join(argv)} failed (exit {cp.returncode}):\n{cp.stdout[-3000:]}"
                         f"\n{cp.stderr[-2000:]}")
    main_cpu = [float(x) for x in re.findall(r"^BENCH_MAIN_CPU (\S+)$", cp.stderr, re.M)]
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), (main_cpu or [0.0])[-1], cp.stdout


NOOP_PLAY = """---
- name: Run no-op tasks on every host (ansible_connection local)
  hosts: ascend_hosts
  gather_facts: false
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
"""
#: the two kinds of task a run has: a controller-side one (set_fact, assert, debug: the fork, templating and result
#: handling, nothing on the host) and a module run on the host (here on the controller itself, so its CPU counts
#: here too: on a fleet that part runs on each host, and the controller adds its SSH client instead)
NOOP_TASKS = {
    "controller-side": "      ansible.builtin.set_fact:\n        bench_noop: {i}\n",
    "module": "      ansible.builtin.command: /bin/true\n      changed_when: false\n",
}


def noop_play(tmp: Path, kind: str, tasks: int) -> Path:
    path = tmp / f"noop-{kind}-{tasks}.yml"
    path.write_text(NOOP_PLAY + "".join(f"    - name: No-op {i}\n" + NOOP_TASKS[kind].format(i=i)
                                        for i in range(tasks)))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[8, 64, 256])
    ap.add_argument("--forks", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--tasks", type=int, default=5, help="no-op tasks per play (part 2)")
    ap.add_argument("--store", type=Path, default=REPO / ".lab-bench" / "store",
                    help="a filled artefact store (the preflight checks the files each stack needs against it)")
    a = ap.parse_args()
    if not (a.store / "manifest.json").is_file():
        raise SystemExit(f"--store {a.store}: no manifest.json there. Fix: fill one with `python3 -m ascend_env lab "
                         f"--prefix .lab-bench store --wheels` (or run bench/converge.py --keep first), or name a "
                         "filled store with --store")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ascend-bench-ctl-") as t:
        tmp = Path(t)
        for n in a.hosts:
            inv = inventory(n, tmp, a.store)
            wall, cpu, main_cpu, _ = run(["playbooks/preflight.yml", "-i", str(inv)], forks=a.forks[0])
            rows.append({"part": "preflight", "hosts": n, "forks": a.forks[0], "wall_s": round(wall, 2),
                         "cpu_s": round(cpu, 2), "cpu_ms_per_host": round(cpu / n * 1000, 1),
                         "main_cpu_s": round(main_cpu, 2)})
            print(f"preflight                {n:>4} hosts, forks {a.forks[0]:>3}: wall {wall:7.2f} s, controller CPU "
                  f"{cpu:7.2f} s ({cpu / n * 1000:.0f} ms per host; main process {main_cpu:.2f} s)", flush=True)
            for kind in NOOP_TASKS:
                for forks in a.forks:
                    wall, cpu, main_cpu, _ = run([str(noop_play(tmp, kind, a.tasks)), "-i", str(inv)], forks=forks)
                    ht = n * a.tasks
                    rows.append({"part": f"noop {kind}", "hosts": n, "forks": forks, "tasks": a.tasks,
                                 "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                 "wall_s_per_task": round(wall / a.tasks, 3),
                                 "cpu_ms_per_host_task": round(cpu / ht * 1000, 1),
                                 "main_cpu_ms_per_host_task": round(main_cpu / ht * 1000, 1)})
                    print(f"no-op {kind + ' tasks':18} {n:>4} hosts, forks {forks:>3}: wall {wall / a.tasks:6.2f} s "
                          f"per task, controller CPU {cpu / ht * 1000:5.0f} ms per host-task (main process "
                          f"{main_cpu / ht * 1000:.1f} ms)", flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "controller_scale.json").write_text(json.dumps(
        {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
