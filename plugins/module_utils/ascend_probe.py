"""Read an Ascend host or container: one JSON document of facts.  Standard library only, Python 3.7+.

This single file is the one implementation of "reading a machine": the doctor imports it locally, pipes it
into ``python3 -`` over SSH or ``docker exec -i`` for remote hosts and containers, and the Ansible roles use
its output as facts.  It only reads; it never changes anything, and every probe is isolated: a probe that
cannot run records ``{"error": "..."}`` instead of raising.

    python3 host.py [--root DIR] [--python PY] [--no-imports]     # prints the facts as JSON

``--root`` is the filesystem view to read (``/`` on a real machine; a lab host's ``ascend_host_root``).
Paths and formats: ascend-facts.md §1 (PCI ids, npu-smi), §2 (version files), §4 (devices and mounts).
"""

from __future__ import annotations

import json
import os
import platform
import re
import stat
import subprocess
import sys
import time

FACTS_VERSION = 1
ASCEND = "usr/local/Ascend"
DRIVER_LIB = "usr/local/Ascend/driver/lib64/driver"
MANAGER_NODES = ("davinci_manager", "devmm_svm", "hisi_hdc")
ENV_KEYS = ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_OPP_PATH", "ASCEND_AICPU_PATH", "ASCEND_CUSTOM_PATH",
            "LD_LIBRARY_PATH", "PYTHONPATH", "PATH", "ASCEND_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES",
            "ATB_HOME_PATH", "MS_DEV_CLOSE_VERSION_CHECK", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV")
FRAMEWORK_DISTS = ("torch", "torch_npu", "torch-npu", "mindspore", "mindformers", "numpy")
# CANN's own Python dependencies (every package data/cann_pydeps.yaml names; a unit test keeps the two in step)
CANN_PYDEPS_DISTS = ("attrs", "cython", "decorator", "sympy", "cffi", "pyyaml", "pathlib2", "psutil", "protobuf",
                     "scipy", "requests", "absl-py")
# Imports run in a child Python with a timeout; the output's last lines are what the doctor matches.
IMPORTS = {
    "torch_npu": "import torch, torch_npu; print('torch_npu', torch_npu.__version__); "
                 "print('npu_available', torch.npu.is_available())",
    "mindspore": "import mindspore as ms; print('mindspore', ms.__version__); ms.set_context(device_target='Ascend'); "
                 "print('device_target', ms.get_context('device_target'))",
}


def _path(root, rel):
    return os.path.join(root, rel.lstrip("/"))


def _read(path, limit=1 << 20):
    with open(path, errors="replace") as f:
        return f.read(limit)


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip().strip('"')
    return out


def _kv_file(path):
    if not os.path.exists(path):
        return None
    return {"path": path, "values": parse_kv(_read(path))}


def guarded(fn):
    """Run one probe; an exception becomes {"error": ...} so one broken probe never hides the others."""
    def wrapper(*args, **kwargs):
        t0 = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            result = {"error": f"{type(e).__name__}: {e}"}
        if isinstance(result, dict):
            result.setdefault("elapsed_ms", int((time.monotonic() - t0) * 1000))
        return result
    wrapper.__name__ = fn.__name__
    return wrapper


def _run(argv, env=None, timeout=20):
    try:
        cp = subprocess.run(argv, capture_output=True, env=env, timeout=timeout, text=True, check=False)
    except FileNotFoundError:
        return {"rc": None, "stdout": "", "stderr": "", "error": f"not found: {argv[0]}"}
    except PermissionError:
        return {"rc": None, "stdout": "", "stderr": "", "error": f"permission denied: {argv[0]}"}
    except subprocess.TimeoutExpired:
        return {"rc": None, "stdout": "", "stderr": "", "error": f"timed out after {timeout} s"}
    return {"rc": cp.returncode, "stdout": cp.stdout[-60000:], "stderr": cp.stderr[-8000:]}


# --- where am I --------------------------------------------------------------------------------------------

@guarded
def probe_system(root):
    in_container = any(os.path.exists(_path(root, p)) for p in (".dockerenv", "run/.containerenv"))
    out = {"arch": platform.machine(), "kernel": platform.release(), "in_container": in_container,
           "root": root, "euid": os.geteuid(), "hostname": platform.node()}
    try:
        osr = parse_kv(_read(_path(root, "etc/os-release")))
        out["os"] = osr.get("PRETTY_NAME") or osr.get("NAME")
    except OSError:
        out["os"] = None
    return out


@guarded
def probe_devices(root):
    dev = _path(root, "dev")
    nodes = {}
    for name in sorted(os.listdir(dev)):
        if name.startswith("davinci") or name in MANAGER_NODES:
            st = os.lstat(os.path.join(dev, name))
            nodes[name] = {"char": stat.S_ISCHR(st.st_mode),
                           "major": os.major(st.st_rdev) if stat.S_ISCHR(st.st_mode) else None,
                           "mode": oct(st.st_mode & 0o777)}
    davinci = sorted(int(n[7:]) for n in nodes if re.match(r"^davinci\d+$", n))
    return {"nodes": nodes, "davinci": davinci, "managers": [m for m in MANAGER_NODES if m in nodes]}


@guarded
def probe_pci(root):
    """Accelerators by PCI id, as ascend-deployer's npu_info fact reads them (ascend-facts §1.1)."""
    base = _path(root, "sys/bus/pci/devices")
    found = []
    if not os.path.isdir(base):
        return {"devices": [], "note": f"no PCI sysfs at {base}"}
    for bdf in sorted(os.listdir(base)):
        d = os.path.join(base, bdf)

        def rd(name, d=d):
            try:
                return _read(os.path.join(d, name)).strip().lower()
            except OSError:
                return None
        if rd("vendor") != "0x19e5":
            continue
        found.append({"bdf": bdf, "vendor": rd("vendor"), "device": rd("device"),
                      "subsystem_vendor": rd("subsystem_vendor"), "subsystem_device": rd("subsystem_device"),
                      "class": rd("class")})
    return {"devices": found}


# --- driver, firmware, npu-smi -----------------------------------------------------------------------------

@guarded
def probe_driver(root):
    install = _kv_file(_path(root, "etc/ascend_install.info"))
    base = ASCEND
    if install and install["values"].get("Driver_Install_Path_Param"):
        base = install["values"]["Driver_Install_Path_Param"]
    driver = _kv_file(_path(root, base + "/driver/version.info"))
    firmware = _kv_file(_path(root, base + "/firmware/version.info"))
    lib_dir = _path(root, base + "/driver/lib64/driver")
    return {"install_info": install, "install_path": base, "driver": driver, "firmware": firmware,
            "lib_dir": lib_dir, "dsmi_lib": os.path.exists(os.path.join(lib_dir, "libdrvdsmi_host.so"))}


def _find_tool(root, name, rels):
    """The first of ``rels`` under ``root``, else (reading this machine itself) ``name`` on the PATH."""
    for rel in rels:
        p = _path(root, rel)
        if os.path.exists(p):
            return p
    if root in ("", "/"):
        for d in os.environ.get("PATH", "").split(os.pathsep):
            p = os.path.join(d, name)
            if d and os.path.exists(p):
                return p
    return None


def find_npu_smi(root):
    # both exist in the wild (§4.2)
    return _find_tool(root, "npu-smi", ("usr/local/bin/npu-smi", "usr/local/sbin/npu-smi"))


@guarded
def probe_npu_smi(root, lib_dir):
    path = find_npu_smi(root)
    if path is None:
        return {"path": None}
    out = {"path": path, "info": _run([path, "info"], timeout=20)}
    first = out["info"]
    if "error while loading shared libraries" in (first.get("stderr") or "") + (first.get("stdout") or ""):
        # Would the documented fix work?  Retry with the driver lib dir on LD_LIBRARY_PATH.
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = lib_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        out["info_with_libpath"] = _run([path, "info"], env=env, timeout=20)
        if out["info_with_libpath"].get("rc") == 0:
            out["info_m"] = _run([path, "info", "-m"], env=env, timeout=20)
    elif first.get("rc") == 0:
        out["info_m"] = _run([path, "info", "-m"], timeout=20)
    return out


# --- NPU network (RoCE ports) -----------------------------------------------------------------------------

#: hccn_tool queries per device, by fact key: ``hccn_tool -i N <option> -g`` (formats: ascend_env/probe/hccn.py)
HCCN_QUERIES = (("ip", "-ip"), ("link", "-link"), ("net_health", "-net_health"), ("gateway", "-gateway"),
                ("netdetect", "-netdetect"))
HCCN_TOOL = "usr/local/Ascend/driver/tools/hccn_tool"


def find_hccn_tool(root):
    return _find_tool(root, "hccn_tool", (HCCN_TOOL,))


@guarded
def probe_network(root, devices):
    """Every device's RoCE port as hccn_tool reports it (the queries run concurrently: they wait on the driver),
    and /etc/hccn.conf, where hccn_tool keeps what was set."""
    from concurrent.futures import ThreadPoolExecutor

    conf_path = _path(root, "etc/hccn.conf")
    out = {"tool": find_hccn_tool(root), "conf_path": conf_path,
           "conf": _read(conf_path) if os.path.exists(conf_path) else None, "devices": {}}
    if out["tool"] is None or not devices:
        return out
    jobs = [(d, key, option) for d in devices for key, option in HCCN_QUERIES]
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        runs = list(pool.map(lambda j: _run([out["tool"], "-i", str(j[0]), j[2], "-g"], timeout=15), jobs))
    for index, job in enumerate(jobs):
        out["devices"].setdefault(str(job[0]), {})[job[1]] = runs[index]
    return out


# --- CANN --------------------------------------------------------------------------------------------------

def _toolkit_candidates(root, arch, env, base=None):
    seen = []
    for home in (env.get("ASCEND_TOOLKIT_HOME"), env.get("ASCEND_HOME_PATH")):
        if home:
            seen.append(("env", _path(root, home) if root not in ("", "/") else home))
    for rel in ("ascend-toolkit/latest", "cann", "latest"):
        seen.append(("default", os.path.join(base, rel) if base else _path(root, ASCEND + "/" + rel)))
    home = os.path.expanduser("~")
    if root in ("", "/"):
        seen.append(("user", os.path.join(home, "Ascend/ascend-toolkit/latest")))
    out = []
    for origin, d in seen:
        info = os.path.join(d, f"{arch}-linux", "ascend_toolkit_install.info")
        if os.path.exists(info) and all(o[1] != os.path.realpath(d) for o in out):
            out.append((origin, os.path.realpath(d), info))
    return out


@guarded
def probe_cann(root, arch, env, base=None):
    """The CANN toolkit the environment (``env``) points at, else the first under the install path (``base``, an
    absolute path; default <root>/usr/local/Ascend): its install record, parts, kernels and NNAL versions."""
    found = _toolkit_candidates(root, arch, env, base)
    if not found:
        where = base or ASCEND
        return {"toolkit": None, "searched": [where + "/ascend-toolkit/latest", where + "/cann"]}
    origin, home, info = found[0]
    env_home = env.get("ASCEND_TOOLKIT_HOME") or env.get("ASCEND_HOME_PATH")
    tk = {"origin": origin, "home": home,
          "env_home_resolved": os.path.realpath(_path(root, env_home)) if env_home else None,
          "install_info": parse_kv(_read(info)), "install_info_path": info,
          "layout": "cann" if re.search(r"/cann-[^/]+$", home) else "ascend-toolkit"}
    for part in ("compiler", "opp", "runtime", "toolkit"):
        f = os.path.join(home, part, "version.info")
        tk[part + "_version_info"] = parse_kv(_read(f)) if os.path.exists(f) else None
    kernels = None
    kdir = os.path.join(home, "opp_kernel")
    if os.path.exists(os.path.join(kdir, "version.info")):
        kernels = {"version_info": parse_kv(_read(os.path.join(kdir, "version.info")))}
        ki = os.path.join(kdir, "ascend_install.info")
        kernels["install_info"] = parse_kv(_read(ki)) if os.path.exists(ki) else None
    soc_base = os.path.join(home, "opp/built-in/op_impl/ai_core/tbe/kernel")
    socs = sorted(os.listdir(soc_base)) if os.path.isdir(soc_base) else []
    nnal = None
    for atb in (os.path.join(os.path.dirname(home), "nnal/atb"),
                os.path.join(base, "nnal/atb") if base else _path(root, ASCEND + "/nnal/atb")):
        if os.path.isdir(atb):
            # "latest" is a link to one of the versions, not a version
            versions = sorted(v for v in os.listdir(atb)
                              if v != "latest" and os.path.exists(os.path.join(atb, v, "version.info")))
            nnal = {"base": atb, "versions": versions}
            break
    return {"toolkit": tk, "others": [entry[1] for entry in found[1:]], "kernels": kernels, "kernel_socs": socs,
            "nnal": nnal}


# --- Python and frameworks ---------------------------------------------------------------------------------

_PKG_SNIPPET = r"""
import json, sys
out = {"python": ".".join(str(x) for x in sys.version_info[:3]), "executable": sys.executable, "packages": {}}
try:
    from importlib import metadata
except ImportError:
    metadata = None
if metadata is not None:
    for name in DISTS:
        try:
            out["packages"][name.replace("-", "_")] = metadata.version(name)
        except Exception:
            pass
# the pip constraints this environment's pip honours: `constraint` in pip's configuration files (the order pip reads
# them: global, user, site) and PIP_CONSTRAINT, each with the requirement lines of its file (None: file missing)
import os
try:
    import configparser
except ImportError:
    configparser = None
xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
conf_files = ["/etc/xdg/pip/pip.conf", "/etc/pip.conf", os.path.expanduser("~/.pip/pip.conf"),
              os.path.join(xdg, "pip", "pip.conf"), os.path.join(sys.prefix, "pip.conf")]
if os.environ.get("PIP_CONFIG_FILE"):
    conf_files.append(os.environ["PIP_CONFIG_FILE"])
named = []
for conf in conf_files:
    if configparser is None or not os.path.isfile(conf):
        continue
    cp = configparser.RawConfigParser()
    try:
        cp.read(conf)
    except Exception:
        continue
    for section in ("global", "install"):
        if cp.has_option(section, "constraint"):
            named += [(conf, c) for c in cp.get(section, "constraint").split()]
named += [("PIP_CONSTRAINT", c) for c in os.environ.get("PIP_CONSTRAINT", "").split()]
out["pip_constraints"] = []
for source, path in named:
    try:
        with open(path) as fh:
            lines = [ln.split("#")[0].strip() for ln in fh]
        lines = [ln for ln in lines if ln]
    except Exception:
        lines = None
    out["pip_constraints"].append({"from": source, "file": path, "lines": lines})
print(json.dumps(out))
"""


@guarded
def probe_python(python, imports=True, timeout=120, dists=FRAMEWORK_DISTS + CANN_PYDEPS_DISTS):
    r = _run([python, "-c", _PKG_SNIPPET.replace("DISTS", repr(tuple(dists)))], timeout=30)
    if r.get("rc") != 0:
        return {"python": None, "error": r.get("error") or (r.get("stderr") or "").strip()[-400:], "executable": python}
    out = json.loads(r["stdout"].strip().splitlines()[-1])
    out["imports"] = {}
    if imports:
        for name, code in IMPORTS.items():
            if name in out["packages"]:
                t0 = time.monotonic()
                res = _run([python, "-c", code], timeout=timeout)
                out["imports"][name] = {"rc": res.get("rc"), "stdout": res["stdout"][-2000:],
                                        "stderr": res["stderr"][-4000:], "error": res.get("error"),
                                        "elapsed_ms": int((time.monotonic() - t0) * 1000)}
    return out


# --- system ------------------------------------------------------------------------------------------------

def _statvfs(path):
    st = os.statvfs(path)
    return {"path": path, "free_bytes": st.f_bavail * st.f_frsize, "size_bytes": st.f_blocks * st.f_frsize}


@guarded
def probe_disk(root):
    target = _path(root, ASCEND)
    while not os.path.exists(target):
        target = os.path.dirname(target)
    out = {"install_path": _statvfs(target)}
    shm = "/dev/shm"
    out["shm"] = _statvfs(shm) if os.path.isdir(shm) else None
    return out


@guarded
def probe_sshd(root):
    files = []
    main = _path(root, "etc/ssh/sshd_config")
    if os.path.exists(main):
        files.append(main)
    d = _path(root, "etc/ssh/sshd_config.d")
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".conf")]
    settings = {}
    # sshd uses the first value it reads; Include'd drop-ins come first on Debian.
    for f in files[1:] + files[:1]:
        try:
            text = _read(f)
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"^\s*(PermitRootLogin|PasswordAuthentication|Port|ListenAddress)\s+(\S+)", line, re.I)
            if m and m.group(1).lower() not in settings:
                settings[m.group(1).lower()] = {"value": m.group(2), "file": f}
    return {"files": files, "settings": settings}


#: The environment site.yml builds in a container; the probe checks it when no --python is given.
DEFAULT_VENV_PYTHON = "/opt/ascend-env/venv/bin/python"
#: ascend_python_provider: conda makes <prefix>/envs/<name> and records <name> in <prefix>/.ascend-env-environment.
DEFAULT_CONDA_PREFIX = "/opt/conda"
CONDA_RECORD = ".ascend-env-environment"


def _conda_env(path, name, source):
    meta = os.path.join(path, "conda-meta")
    records = sorted(f for f in os.listdir(meta) if f.startswith("python-") and f.endswith(".json")) \
        if os.path.isdir(meta) else []
    return {"python": os.path.join(path, "bin/python"), "kind": "conda", "name": name, "prefix": path,
            "source": source, "history": os.path.isfile(os.path.join(meta, "history")),
            "python_record": records[0] if records else None}


def find_environment(root, env):
    """The environment whose Python the doctor checks: the active one ($VIRTUAL_ENV, then $CONDA_PREFIX with
    $CONDA_DEFAULT_ENV), else the conda environment ascend-env made (named in <conda prefix>/.ascend-env-environment),
    else the ascend-env venv, else the only conda environment under /opt/conda/envs, else this interpreter.  Paths
    are under ``root`` (a host provisioned itself keeps its environment there)."""
    venv = env.get("VIRTUAL_ENV")
    if venv and os.path.exists(os.path.join(venv, "bin/python")):
        return {"python": os.path.join(venv, "bin/python"), "kind": "venv", "name": None, "prefix": venv,
                "source": "VIRTUAL_ENV"}
    active = env.get("CONDA_PREFIX")
    if active and os.path.exists(os.path.join(active, "bin/python")):
        return _conda_env(active, env.get("CONDA_DEFAULT_ENV") or os.path.basename(active.rstrip("/")),
                          "CONDA_PREFIX")
    conda = os.path.join(root or "/", DEFAULT_CONDA_PREFIX.lstrip("/"))
    try:
        with open(os.path.join(conda, CONDA_RECORD)) as f:
            name = f.readline().strip()
    except OSError:
        name = ""
    if name and os.path.exists(os.path.join(conda, "envs", name, "bin/python")):
        return _conda_env(os.path.join(conda, "envs", name), name, CONDA_RECORD)
    candidate = os.path.join(root or "/", DEFAULT_VENV_PYTHON.lstrip("/"))
    if os.path.exists(candidate):
        return {"python": candidate, "kind": "venv", "name": None,
                "prefix": os.path.dirname(os.path.dirname(candidate)), "source": "default venv"}
    envs = os.path.join(conda, "envs")
    found = sorted(n for n in os.listdir(envs) if os.path.isfile(os.path.join(envs, n, "conda-meta/history"))
                   and os.path.exists(os.path.join(envs, n, "bin/python"))) if os.path.isdir(envs) else []
    if len(found) == 1:
        return _conda_env(os.path.join(envs, found[0]), found[0], "only environment in " + envs)
    return {"python": sys.executable, "kind": "system", "name": None, "prefix": sys.prefix, "source": "this Python",
            "others": [os.path.join(envs, n) for n in found]}


def default_python(root, env):
    """The Python of :func:`find_environment`."""
    return find_environment(root, env)["python"]


def collect(root="/", python=None, imports=True, env=None):
    """Every probe; the three that wait on other programs (npu-smi, hccn_tool, the environment's Python and its
    framework imports) run at the same time, the file reads meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    env = dict(os.environ if env is None else env)
    t0 = time.monotonic()
    system = probe_system(root)
    arch = system.get("arch") or platform.machine()
    driver = probe_driver(root)
    devices = probe_devices(root)
    with ThreadPoolExecutor(max_workers=3) as pool:
        npu_smi = pool.submit(probe_npu_smi, root, driver.get("lib_dir") or _path(root, DRIVER_LIB))
        network = pool.submit(probe_network, root, devices.get("davinci") or [])
        where = find_environment(root, env) if python is None else {
            "python": python, "kind": "given", "name": None, "prefix": None, "source": "--python"}
        python_facts = pool.submit(probe_python, where["python"], imports)
        facts = {
            "facts_version": FACTS_VERSION,
            "system": system,
            "env": {k: env.get(k) for k in ENV_KEYS},
            "devices": devices,
            "pci": probe_pci(root),
            "driver": driver,
            "cann": probe_cann(root, arch, env),
            "disk": probe_disk(root),
            "sshd": probe_sshd(root),
        }
        facts["npu_smi"] = npu_smi.result()
        facts["network"] = network.result()
        facts["python"] = python_facts.result()
        facts["python"]["environment"] = where
    facts["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    return facts


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Read this Ascend host or container; print JSON facts.")
    ap.add_argument("--root", default=os.environ.get("ASCEND_ENV_HOST_ROOT") or "/")
    ap.add_argument("--python", default=None,
                    help="the Python whose frameworks to check (default: $VIRTUAL_ENV, $CONDA_PREFIX, the conda "
                    "environment ascend-env made, " + DEFAULT_VENV_PYTHON + ", the only conda environment, "
                    "then this one)")
    ap.add_argument("--no-imports", action="store_true", help="do not import frameworks in a child process")
    a = ap.parse_args(argv)
    json.dump(collect(a.root, a.python, imports=not a.no_imports), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
