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


# --- what the driver installer needs -----------------------------------------------------------------------

#: The tools the NPU driver's .run needs: dkms, gcc and make build its kernel modules against the running kernel's
#: headers (hiascend CANN install guide, "安装驱动源码编译所需依赖", instg_0051); it refuses to start without lspci and
#: ifconfig ("[ERROR]The list of missing tools: lspci,ifconfig", hiascend instg_0066).
DRIVER_TOOLS = ("dkms", "gcc", "make", "lspci", "ifconfig")


def _tool(root, name):
    found = _std_tool(name, root)
    if found is None and root in ("", "/"):
        found = _find_tool("/", name, ())
    return found


def _under(root, path):
    """``path`` as seen from this machine: a symlink's absolute target stays inside ``root``."""
    full = _path(root, path)
    for _hop in range(8):
        if not os.path.islink(full):
            break
        target = os.readlink(full)
        full = _path(root, target) if os.path.isabs(target) else os.path.join(os.path.dirname(full), target)
    return full


def _names(root, name):
    try:
        return {ln.split(":", 1)[0] for ln in _read(_path(root, "etc/" + name)).splitlines() if ":" in ln}
    except OSError:
        return set()


@guarded
def probe_driver_prereqs(root, user="HwHiAiUser", group="HwHiAiUser", install_path=None):
    """What the driver installer needs on this host: the tools (path or None), the running kernel and whether its
    headers are there (/lib/modules/<uname -r>/build, or /usr/src/kernels/<uname -r> of kernel-devel), the OS
    (os-release's ID, ID_LIKE, VERSION_ID, PRETTY_NAME: which package manager names the fix), the run user and group,
    and the free space where the driver goes."""
    kernel = platform.release()
    headers = None
    for rel in (f"lib/modules/{kernel}/build", f"usr/src/kernels/{kernel}"):
        if os.path.isdir(_under(root, rel)):
            headers = _path(root, rel)
            break
    try:
        osr = parse_kv(_read(_path(root, "etc/os-release")))
    except OSError:
        osr = {}
    users, groups = _names(root, "passwd"), _names(root, "group")
    if root in ("", "/"):
        import grp
        import pwd
        for name, lookup, found in ((user, pwd.getpwnam, users), (group, grp.getgrnam, groups)):
            try:
                lookup(name)
                found.add(name)
            except KeyError:
                pass
    target = install_path or _path(root, ASCEND)
    while not os.path.exists(target):
        target = os.path.dirname(target)
    return {"tools": {t: _tool(root, t) for t in DRIVER_TOOLS}, "kernel": kernel, "headers": headers,
            "os": {k: osr.get(k) for k in ("ID", "ID_LIKE", "VERSION_ID", "PRETTY_NAME")},
            "user": user, "user_exists": user in users, "group": group, "group_exists": group in groups,
            "install_path": install_path or _path(root, ASCEND), "free_bytes": _statvfs(target)["free_bytes"]}


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
if metadata is not None and DISTS == ("*",):
    # every installed distribution, by the name its metadata gives (the first on sys.path wins, as for import)
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
        except Exception:
            name = None
        if name and name.replace("-", "_") not in out["packages"]:
            out["packages"][name.replace("-", "_")] = dist.version
elif metadata is not None:
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
    """That Python's version, the installed version of each of ``dists`` (``("*",)``: every installed distribution),
    the pip constraint files its pip honours, and with ``imports`` the frameworks' import checks."""
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


# --- the environment as launchers meet it ------------------------------------------------------------------

#: The files that give every process the environment (the framework role writes them; docs/environment.md).
PROFILE = "etc/profile.d/ascend-env.sh"
RUNNER = "usr/local/bin/ascend-run"
#: What a view keeps of an environment besides the variables the profile sets (the rest is the user's own, and may
#: hold secrets: it never leaves the probe).
LAUNCH_KEYS = re.compile(r"^(ASCEND_|ATB_|CONDA_|HCCL_|RANK_TABLE_FILE$|VIRTUAL_ENV$|PATH$|LD_LIBRARY_PATH$|"
                         r"PYTHONPATH$|PYTHONHOME$|TOOLCHAIN_HOME$|LD_PRELOAD$)")
#: Libraries named when a directory that holds them is missing from a view's LD_LIBRARY_PATH.
KEY_LIBS = ("libascendcl.so", "libhccl.so", "libascend_hal.so", "libdrvdsmi_host.so", "libc_sec.so", "libmmpa.so")
#: PATH of an ssh session before the shell reads anything: OpenSSH's default as Debian/Ubuntu build it
#: (--with-superuser-path for root, --with-default-path for other users).
SSH_PATH_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSH_PATH_USER = "/usr/local/bin:/usr/bin:/bin:/usr/games"
#: PATH of a cron job (Debian's cron sets PATH=/usr/bin:/bin): the emptiest environment a service starts with.
CLEAN_PATH = "/usr/bin:/bin"
#: What each view runs at its end: this interpreter (by path, so it does not depend on the view's PATH) reports the
#: view's environment and the python3/python it finds on PATH, with their sys.prefix.
_LAUNCH_REPORT = r"""
import json, os, shutil, subprocess, sys
out = {"env": dict(os.environ), "uid": os.getuid()}
prefixes = {}


def run_it(path):
    try:
        cp = subprocess.run([path, "-c", "import sys; print(sys.prefix)"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        last = (cp.stderr.strip().splitlines() or ["exit %d" % cp.returncode])[-1]
        return cp.stdout.strip() or None, None if cp.returncode == 0 else last
    except Exception as e:
        return None, str(e)


def prefix_of(path):
    # a venv's or conda environment's prefix from its files, without starting it: pyvenv.cfg next to the executable
    # or one directory up (PEP 405), conda-meta/ one directory up; anything else (and every Python of the "run" mode,
    # where running it is the question) is asked
    where = os.path.dirname(path)
    if sys.argv[1:2] != ["run"]:
        for cand in (where, os.path.dirname(where)):
            if os.path.isfile(os.path.join(cand, "pyvenv.cfg")):
                return cand, None
        if os.path.isdir(os.path.join(os.path.dirname(where), "conda-meta")):
            return os.path.dirname(where), None
    return run_it(path)


for name in ("python3", "python"):
    path = shutil.which(name)
    out[name] = path
    if not path:
        continue
    where = os.path.dirname(path)
    if where not in prefixes:
        prefixes[where] = prefix_of(path)
    out[name + "_prefix"], out[name + "_error"] = prefixes[where]
print("ASCEND-ENV-LAUNCH " + json.dumps(out))
"""


def _account(root, name=None, uid=None):
    """(name, uid, gid, home, shell) from the root's /etc/passwd (the system's when reading this machine)."""
    try:
        lines = _read(_path(root, "etc/passwd")).splitlines()
    except OSError:
        lines = []
    for line in lines:
        f = line.split(":")
        if len(f) >= 7 and ((name is not None and f[0] == name) or (uid is not None and f[2] == str(uid))):
            return f[0], int(f[2]), int(f[3]), f[5], f[6]
    if root in ("", "/"):
        try:
            import pwd
            e = pwd.getpwnam(name) if name is not None else pwd.getpwuid(uid)
            return e.pw_name, e.pw_uid, e.pw_gid, e.pw_dir, e.pw_shell
        except (KeyError, ImportError):
            pass
    return None


def _std_tool(name, root="/"):
    """An executable ``name`` in the standard directories under ``root``."""
    for d in ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"):
        p = _path(root, d + "/" + name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _set_env(root, env):
    """CANN's set_env.sh of the toolkit here, by the path users source: the one $ASCEND_TOOLKIT_HOME names
    (<install>/ascend-toolkit/latest -> <install>/ascend-toolkit/set_env.sh; <install>/cann -> cann/set_env.sh), else
    <install>/cann/set_env.sh (8.5 on), <install>/ascend-toolkit/set_env.sh, else next to a toolkit found elsewhere;
    None without a toolkit."""
    cands = []
    home = env.get("ASCEND_TOOLKIT_HOME") or env.get("ASCEND_HOME_PATH")
    if home:
        home = _path(root, home) if root not in ("", "/") else home
        home = home.rstrip("/")
        cands.append(os.path.join(os.path.dirname(home) if os.path.basename(home) == "latest" else home, "set_env.sh"))
    cands += [_path(root, ASCEND + "/cann/set_env.sh"), _path(root, ASCEND + "/ascend-toolkit/set_env.sh")]
    for _origin, found, _info in _toolkit_candidates(root, platform.machine(), env):
        cands += [os.path.join(os.path.dirname(found), "set_env.sh"), os.path.join(found, "set_env.sh")]
    return next((c for c in cands if os.path.isfile(c)), None)


def _ideal(set_env, where):
    """The shell text that makes the reference: CANN's set_env.sh sourced, the Python environment entered (what venv's
    activate and `conda activate` set), then the report (its argv follows)."""
    import shlex

    q = shlex.quote
    parts = [f". {q(set_env)}"] if set_env else []
    if where.get("kind") == "venv":
        parts.append(f"VIRTUAL_ENV={q(where['prefix'])}; export VIRTUAL_ENV")
    elif where.get("kind") == "conda":
        parts.append(f"CONDA_PREFIX={q(where['prefix'])}; CONDA_DEFAULT_ENV={q(where.get('name') or '')}; "
                     "export CONDA_PREFIX CONDA_DEFAULT_ENV")
    if where.get("kind") in ("venv", "conda"):
        parts.append(f"PATH={q(os.path.dirname(where['python']))}:$PATH; export PATH")
    return "; ".join([*parts, 'exec "$@"'])


def _launch_views(root, via, exe):
    """(name, argv, env) of every way a launcher starts a process here, each ending in the report; empty when there is
    no CANN toolkit and no Python environment to expect."""
    report = [exe, "-I", "-S", "-c", _LAUNCH_REPORT]      # the report needs no site-packages: start it bare
    bash = _std_tool("bash") or "/bin/bash"
    here = root in ("", "/")
    runner = _path(root, RUNNER)
    root_acct = _account(root, uid=0) or ("root", 0, 0, "/root", "/bin/bash")
    home = root_acct[3] if here else _path(root, root_acct[3])
    clean = {"PATH": CLEAN_PATH, "HOME": home, "USER": root_acct[0], "LOGNAME": root_acct[0]}
    ssh_env = dict(clean, PATH=SSH_PATH_ROOT, SHELL=root_acct[4] or "/bin/sh", SSH_CLIENT="127.0.0.1 50000 22",
                   SSH_CONNECTION="127.0.0.1 50000 127.0.0.1 22")
    set_env = _set_env(root, os.environ if via == "exec" else {})
    where = find_environment(root, {})
    if not set_env and where.get("kind") not in ("venv", "conda"):
        return []           # no toolkit and no Python environment here: nothing any launcher should get
    views = [("baseline", [bash, "--noprofile", "--norc", "-c", 'exec "$@"', "ascend-launch", *report], clean),
             # the reference: what the stack is, from what is installed, whatever the startup files say
             ("reference", [bash, "--noprofile", "--norc", "-c", _ideal(set_env, where), "ascend-launch", *report],
              clean)]
    if via == "exec":       # docker/isula exec, a Kubernetes exec probe: this process's own environment, no shell
        views.append(("exec", report, dict(os.environ)))
    if here:
        # `ssh host CMD`: sshd runs the user's login shell with -c; bash sees SSH_CLIENT and reads /etc/bash.bashrc and
        # ~/.bashrc (bash: shell.c, run_startup_files), a shell other than bash reads nothing
        shell = root_acct[4] if root_acct[4] and os.path.exists(root_acct[4]) else bash
        views.append(("ssh", [shell, "-c", 'exec "$@"', "ascend-launch", *report], ssh_env))
        # another user (nobody) whose shell is bash: only the system-wide files, and only what others may read; the
        # report runs on the system's python3 (this interpreter may live where other users cannot go)
        nobody = _account(root, name="nobody")
        setpriv = _std_tool("setpriv")
        system_python = _std_tool("python3")
        if os.geteuid() == 0 and nobody and setpriv and system_python:
            user_env = dict(ssh_env, PATH=SSH_PATH_USER, HOME=nobody[3], USER=nobody[0], LOGNAME=nobody[0],
                            SHELL=bash)
            views.append(("users", [setpriv, "--reuid", str(nobody[1]), "--regid", str(nobody[2]), "--clear-groups",
                                    bash, "-c", 'exec "$@"', "ascend-launch", system_python, "-I", "-S", "-c",
                                    _LAUNCH_REPORT, "run"],
                          user_env))
    else:
        # a host root that is not this machine's "/" (a lab host): its ssh sessions read this machine's startup files,
        # so what bash would read for `ssh host CMD` is read from under the root, in bash's order
        read = 'for f in "$1" "$2"; do if [ -r "$f" ]; then . "$f"; fi; done; shift 2; exec "$@"'
        views.append(("ssh", [bash, "--noprofile", "--norc", "-c", read, "ascend-launch",
                              _path(root, "etc/bash.bashrc"), os.path.join(home, ".bashrc"), *report], ssh_env))
    if os.path.exists(runner):
        views.append(("service", [runner, *report], {"PATH": CLEAN_PATH, "HOME": "/"}))
    return views


def _run_views(views, timeout=90):
    procs = []
    for name, argv, env in views:
        try:
            procs.append((name, subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, universal_newlines=True), None))
        except OSError as e:
            procs.append((name, None, f"{type(e).__name__}: {e}"))
    out = {}
    for name, proc, error in procs:
        if proc is None:
            out[name] = {"error": error}
            continue
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out[name] = {"error": f"timed out after {timeout} s"}
            continue
        lines = [ln for ln in stdout.splitlines() if ln.startswith("ASCEND-ENV-LAUNCH ")]
        if not lines:
            last = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            out[name] = {"error": f"exit {proc.returncode}: {last[-300:]}"}
            continue
        out[name] = json.loads(lines[-1][len("ASCEND-ENV-LAUNCH "):])
    return out


@guarded
def probe_launchers(root, via="local", exe=None):
    """What each way of starting a process gets of the environment: a clean baseline, the reference (the stack as
    installed: CANN's set_env.sh sourced and the Python environment entered, in a clean environment), and the views:
    ``exec`` (this process's own environment, when ``via`` is exec: docker/isula exec), ``ssh`` (bash as sshd starts it
    for `ssh host CMD`), ``users`` (the same as another user: nobody), ``service`` (ascend-run from an empty
    environment).  Each view keeps only the Ascend variables and those the reference sets; the directories of the
    reference's PATH, LD_LIBRARY_PATH and PYTHONPATH are listed with whether they exist and the key libraries they
    hold."""
    root = root or "/"
    views = _launch_views(root, via, exe or sys.executable)
    if not views:
        return {"profile": None, "runner": None, "views": {}}
    found = _run_views(views)
    base_env = (found.get("baseline") or {}).get("env") or {}
    ref_env = (found.get("reference") or {}).get("env") or {}
    keep = {k for k in ref_env if LAUNCH_KEYS.match(k) or base_env.get(k) != ref_env.get(k)}
    for view in found.values():
        if isinstance(view.get("env"), dict):
            view["env"] = {k: v for k, v in view["env"].items() if k in keep or LAUNCH_KEYS.match(k)}
    dirs = {}
    for key in ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH"):
        for entry in (ref_env.get(key) or "").split(":"):
            if entry and entry not in dirs:
                dirs[entry] = {"exists": os.path.isdir(entry),
                               "libs": [lib for lib in KEY_LIBS if os.path.exists(os.path.join(entry, lib))]
                               if key == "LD_LIBRARY_PATH" else []}
    profile = _path(root, PROFILE)
    runner = _path(root, RUNNER)
    shell = (_account(root, uid=0) or ("root", 0, 0, "/root", "/bin/bash"))[4]
    return {"profile": profile if os.path.isfile(profile) else None,
            "runner": runner if os.path.exists(runner) else None, "shell": shell if root in ("", "/") else "/bin/bash",
            "set_env": _set_env(root, os.environ if via == "exec" else {}),
            "python_env": find_environment(root, {}).get("prefix"), "via": via, "root": root,
            "views": found, "dirs": dirs}


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


def collect(root="/", python=None, imports=True, env=None, via=None):
    """Every probe; the ones that wait on other programs (npu-smi, hccn_tool, the environment's Python and its
    framework imports, the launcher views) run at the same time, the file reads meanwhile.  ``via`` (local, ssh,
    exec: how the probe was started) turns on the launcher views; None leaves them out (the roles' readings)."""
    from concurrent.futures import ThreadPoolExecutor

    env = dict(os.environ if env is None else env)
    t0 = time.monotonic()
    system = probe_system(root)
    arch = system.get("arch") or platform.machine()
    driver = probe_driver(root)
    devices = probe_devices(root)
    with ThreadPoolExecutor(max_workers=4) as pool:
        npu_smi = pool.submit(probe_npu_smi, root, driver.get("lib_dir") or _path(root, DRIVER_LIB))
        launchers = pool.submit(probe_launchers, root, via) if via else None
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
        if launchers is not None:
            facts["launchers"] = launchers.result()
    facts["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    return facts


def _which(name):
    import shutil

    return shutil.which(name)


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Read this Ascend host or container; print JSON facts.")
    ap.add_argument("--root", default=os.environ.get("ASCEND_ENV_HOST_ROOT") or "/")
    ap.add_argument("--python", default=None,
                    help="the Python whose frameworks to check (default: $VIRTUAL_ENV, $CONDA_PREFIX, the conda "
                    "environment ascend-env made, " + DEFAULT_VENV_PYTHON + ", the only conda environment, "
                    "then this one)")
    ap.add_argument("--no-imports", action="store_true", help="do not import frameworks in a child process")
    ap.add_argument("--via", choices=("local", "ssh", "exec", "none"), default="local",
                    help="how this probe was started: exec (docker/isula exec: its own environment is what exec "
                    "gives), ssh, local; none leaves out the launcher views")
    a = ap.parse_args(argv)
    # a root or Python that is not there would read nothing, and "nothing installed" is not a finding
    if not os.path.isdir(a.root):
        sys.stderr.write(f"probe: --root {a.root}: no such directory on this machine\n")
        return 2
    if a.python is not None and not (os.path.isfile(a.python) and os.access(a.python, os.X_OK)) \
            and not (os.sep not in a.python and _which(a.python)):
        sys.stderr.write(f"probe: --python {a.python}: no such executable on this machine\n")
        return 2
    json.dump(collect(a.root, a.python, imports=not a.no_imports, via=None if a.via == "none" else a.via),
              sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
