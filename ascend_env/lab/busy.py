"""The lab's ``npu-busy`` fault at run time: a real, long-running process that "holds" an NPU (I/O lives here).

On a real server a process that uses an NPU keeps its device nodes open and npu-smi lists it by the pid the host sees
(a container's process included).  The lab has no driver to hold, so it starts a real process -- on the simulated host
(a process of the machine, where the lab's hosts live) or inside a running container of that host (``docker exec``),
records its host pid (and, for a container, its pid there) under ``<host>/run/npu-busy/``, and the npu state lists it;
the fake npu-smi shows it while it runs and the fake driver installer refuses while it runs.  Clearing the fault stops
it.  Records are the runtime truth; :func:`sync` brings them in line with the host's active faults.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from . import engine
from .config import HostSpec
from .faults import Desired
from .layout import HostPaths
from .procs import LabError, pid_alive, run, start_daemon, stop_pid

MARKER = "ascend-lab-npu-busy"
#: the device memory npu-smi shows for the process (a lab figure: an idle model's worth, not a measurement)
MEMORY_MB = 3148
_HOLD = "import time\nwhile True:\n    time.sleep(3600)\n"


def _dir(hp: HostPaths) -> Path:
    return hp.run / "npu-busy"


def _record(hp: HostPaths, device: int) -> Path:
    return _dir(hp) / f"davinci{device}.json"


def _tag(spec: HostSpec, device: int) -> list[str]:
    return [MARKER, spec.name, f"davinci{device}"]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _find(tag: list[str]) -> int | None:
    """The process of this machine whose command line carries ``tag`` (a container's process is one of them)."""
    for d in Path("/proc").glob("[0-9]*"):
        args = _cmdline(int(d.name))
        if all(t in args for t in tag):
            return int(d.name)
    return None


def _ns_pid(pid: int) -> int | None:
    """The pid in the innermost pid namespace (the container's), from /proc/<pid>/status ``NSpid``."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def _python() -> str:
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else (shutil.which("python3") or sys.executable)


def alive(record: dict[str, Any], spec_name: str | None = None) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return False
    args = _cmdline(pid)   # the pid is still ours (not a reused number)
    return MARKER in args and f"davinci{record.get('device')}" in args and (spec_name is None or spec_name in args)


def records(hp: HostPaths) -> list[dict[str, Any]]:
    out = []
    for path in sorted(_dir(hp).glob("davinci*.json")) if _dir(hp).is_dir() else []:
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    return out


def live(hp: HostPaths) -> list[dict[str, Any]]:
    """The holders that still run, one record per device."""
    return [r for r in records(hp) if alive(r)]


def start(spec: HostSpec, hp: HostPaths, device: int, container: str | None) -> dict[str, Any]:
    """Start the holder of ``davinci<device>`` on the host or in ``container``; returns its record."""
    tag = _tag(spec, device)
    if container is None:
        # the host's folder in the command line: `lab down --verify` finds it if it is ever left behind
        proc = start_daemon([_python(), "-c", _HOLD, *tag, str(hp.base)], hp.logs / f"npu-busy-davinci{device}.log")
        pid, cpid = proc.pid, None
    else:
        cp = run(["docker", "exec", "-d", container, "python3", "-c", _HOLD, *tag], env=engine.docker_env(hp),
                 check=False, timeout=60)
        if cp.returncode != 0:
            said = (cp.stderr or cp.stdout).strip().splitlines()
            raise LabError(f"npu-busy on {spec.name}: cannot start a process in container {container!r}: "
                           f"{said[-1] if said else 'docker exec failed'}. Start the container first (converge the "
                           "host, or docker start it), or leave out the container to hold the NPU from the host")
        deadline = time.monotonic() + 20
        pid = None
        while pid is None and time.monotonic() < deadline:
            pid = _find(tag)
            if pid is None:
                time.sleep(0.1)
        if pid is None:
            raise LabError(f"npu-busy on {spec.name}: the process started in {container} did not appear within 20 s")
        cpid = _ns_pid(pid)
    rec = {"device": device, "pid": pid, "container": container, "container_pid": cpid, "name": "python3",
           "memory": MEMORY_MB}
    _dir(hp).mkdir(parents=True, exist_ok=True)
    tmp = _record(hp, device).with_suffix(".tmp")
    tmp.write_text(json.dumps(rec) + "\n")
    os.replace(tmp, _record(hp, device))
    return rec


def stop(hp: HostPaths, device: int) -> bool:
    """Stop the holder of ``davinci<device>`` (if it runs) and forget it; True when one was running."""
    path = _record(hp, device)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return False
    was = alive(rec)
    if was:
        stop_pid(int(rec["pid"]), f"the npu-busy process of davinci{device}", timeout=10)
    path.unlink(missing_ok=True)
    return was


def stop_all(hp: HostPaths) -> list[str]:
    return [f"npu-busy process on davinci{r['device']} stopped" for r in records(hp) if stop(hp, int(r["device"]))]


def sync(spec: HostSpec, hp: HostPaths, want: Desired) -> list[str]:
    """Start the holders the active faults want and stop the others; returns what changed."""
    wanted = dict(want.busy)
    changed: list[str] = []
    for rec in records(hp):
        device = int(rec["device"])
        unwanted = device not in wanted or wanted[device] != rec.get("container") or not alive(rec, spec.name)
        if unwanted and stop(hp, device):
            changed.append(f"npu-busy process on davinci{device} stopped")
    have = {int(r["device"]) for r in live(hp)}
    for device, container in sorted(wanted.items()):
        if device in have:
            continue
        rec = start(spec, hp, device, container)
        where = f"in container {container} (pid {rec['container_pid']} there)" if container else "on the host"
        changed.append(f"npu-busy process on davinci{device}: pid {rec['pid']} {where}")
    return changed
