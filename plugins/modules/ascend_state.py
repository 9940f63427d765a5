#!/usr/bin/python
# Copyright: ascend-env developers
# Apache License 2.0 (see LICENSE)
"""Everything the ascend.env roles compare, read from a host or an environment in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ascend_state
short_description: Read what the ascend.env roles compare, in one call
description:
  - Reads, in one round trip, everything the roles of ascend.env compare before they change anything, so that a
    run on an unchanged fleet skips whole blocks instead of asking one question per task.
  - With O(scope=host), an NPU host - the doctor's probe facts (the same module_utils the doctor ships), the
    container engine's image and containers (exists, running, spec hash label), and the host's artefact store
    copy (sizes, the record of verified sha256, the fan-out's tools).
  - With O(scope=env), an environment (a container over SSH, or a host provisioned itself) - the Python of the
    venv and its framework packages, CANN's install records, and the sha256 of the files the roles write
    (sshd drop-in, authorized keys, pip.conf, the environment block of the shell profile).
  - Reads only; never changes anything.
version_added: 1.0.0
author:
  - ascend-env developers (@ascend-env)
options:
  scope:
    description: What to read.
    type: str
    choices: [host, env]
    required: true
  root:
    description: The host's filesystem view (V(/) on a real server; the lab's host root).
    type: path
    default: /
  probe:
    description: With O(scope=host), run the doctor's probe (devices, driver, npu-smi, hccn_tool, CANN).
    type: bool
    default: true
  engine:
    description: With O(scope=host), the container CLI (docker or isula) to ask about the image and the containers.
    type: str
  engine_env:
    description: Environment for the container CLI (e.g. C(DOCKER_HOST) of a lab host).
    type: dict
    default: {}
  image:
    description: With O(scope=host), the base image to look for.
    type: str
  containers:
    description: With O(scope=host), names of the containers to inspect.
    type: list
    elements: str
    default: []
  store_dir:
    description: With O(scope=host), the host's copy of the artefact store.
    type: path
  sshd:
    description: With O(scope=host) and O(engine), also read each running container's sshd (through the engine) -
      whether sshd and its host key are installed and sshd runs, the ascend-env drop-in, root's authorized keys, the
      host key, and whether root has a password (only the sha256 of the shadow field, never the hash itself).
    type: bool
    default: false
  driver_prereqs:
    description:
      - With O(scope=host), read what the NPU driver installer needs (dkms, gcc, make, lspci, ifconfig, the running
        kernel's headers, the OS, the run user and group, free space) - the probe's C(probe_driver_prereqs).
      - Keys C(user), C(group), C(install_path).
    type: dict
  venv:
    description: With O(scope=env), the venv whose Python and packages to read (the doctor's probe of a Python).
    type: path
  dists:
    description: With O(scope=env), the distributions whose installed versions to read (default, the frameworks
      the doctor reads); V(*) alone reads every installed distribution (the environment roles compare the pinned
      framework, CANN's Python dependencies and any extra requirement against one reading).
    type: list
    elements: str
    default: []
  system_python:
    description: With O(scope=env), the system Python (e.g. C(/usr/bin/python3), the one the venv is made from)
      whose version (major.minor) to read.
    type: path
  cann_path:
    description: With O(scope=env), the CANN install path to read (the doctor's CANN probe, confined to it) - the
      toolkit's install record, the kernels' version, the NNAL versions, and which set_env.sh the layout has.
    type: path
  files:
    description: Files whose sha256 to return (missing files are V(null)).
    type: list
    elements: path
    default: []
  texts:
    description: Files to return whole (small records such as CANN's install info).
    type: list
    elements: path
    default: []
  exists:
    description: Paths whose existence to return (a conda environment's C(conda-meta/history), a tool venv's Python).
    type: list
    elements: path
    default: []
notes:
  - Check mode is supported; the module reads only.
"""

EXAMPLES = r"""
- name: Read the host in one call
  ascend.env.ascend_state:
    scope: host
    root: /
    engine: docker
    image: ascend-env/base:bookworm
    containers: [llm-torch]
    store_dir: /var/cache/ascend-env/store
  register: host_state

- name: Read an environment in one call
  ascend.env.ascend_state:
    scope: env
    venv: /opt/ascend-env/venv
    dists: [torch, torch_npu]
    system_python: /usr/bin/python3
    cann_path: /usr/local/Ascend
    files: [/etc/ssh/sshd_config.d/ascend-env.conf, /etc/pip.conf]
    texts: [/etc/Ascend/ascend_cann_install.info]
    exists: [/opt/conda/envs/ascend-cann8.2-py3.9/conda-meta/history]
  register: env_state
"""

RETURN = r"""
facts:
  description: The doctor's probe facts of the host (O(scope=host), O(probe=true)).
  returned: when scope is host and probe is true
  type: dict
image_present:
  description: Whether the engine has O(image).
  returned: when scope is host and engine and image are given
  type: bool
containers:
  description: Per container name - exists, running, spec_hash (the label io.ascend-env.spec-hash), spec (the spec
    it was made from, the label io.ascend-env.spec; null for a container made before ascend-env recorded it), and
    with O(sshd) sshd - installed, hostkey, running, root_password, root_shadow_sha256, dropin, keys, hostkey_pub
    (null when the container does not run).
  returned: when scope is host and engine is given
  type: dict
driver_prereqs:
  description: What the driver installer needs, as found on the host (tools, kernel, headers, os, accounts, free space).
  returned: when scope is host and driver_prereqs is given
  type: dict
store:
  description: The host's store copy - sizes per path, the recorded sha256 per path, the fan-out tools found, and
    whether a fan-out key of an interrupted run is still there (fanout_leftover).
  returned: when scope is host and store_dir is given
  type: dict
python:
  description: The venv's Python version (major.minor.micro), or null when the venv does not exist.
  returned: when scope is env and venv is given
  type: str
packages:
  description: Installed version per distribution of O(dists), the name with C(-) as C(_) (absent when not installed);
    with O(dists=[*]) every installed distribution, by the name its metadata gives.
  returned: when scope is env and venv is given
  type: dict
pip_constraints:
  description: The pip constraint files the venv's pip honours (C(constraint) in pip's configuration files, and
    C(PIP_CONSTRAINT)) - from, file, and the file's requirement lines (null when the file is missing).
  returned: when scope is env and venv is given
  type: list
  elements: dict
system_python:
  description: Version (major.minor) of O(system_python), null when it does not run.
  returned: when scope is env and system_python is given
  type: str
cann:
  description: The CANN probe of O(cann_path) (toolkit with its install record, kernels, nnal), and C(set_env) -
    the set_env.sh of the layout found (C(cann/) from CANN 8.5, else C(ascend-toolkit/)).
  returned: when scope is env and cann_path is given
  type: dict
files:
  description: sha256 per path of O(files), null when missing.
  returned: always
  type: dict
texts:
  description: Content per path of O(texts), null when missing.
  returned: always
  type: dict
exists:
  description: Whether each path of O(exists) exists.
  returned: always
  type: dict
elapsed_ms:
  description: Time the read took on the target.
  returned: always
  type: int
"""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ascend.env.plugins.module_utils.ascend_probe import (
    FRAMEWORK_DISTS,
    collect,
    probe_cann,
    probe_driver_prereqs,
    probe_python,
)


def _sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def _engine(module, argv, env):
    full_env = dict(os.environ)
    full_env.update({str(k): str(v) for k, v in (env or {}).items()})
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        module.fail_json(msg=f"{argv[0]} did not run: {exc}")
    return cp


def _containers(module, engine, env, names, image, sshd=False):
    out = {}
    present = None
    if image:
        # isula has no `image` command group: its `inspect` looks for a container, then an image (iSulad inspect.c)
        argv = [engine] + ([] if os.path.basename(engine) == "isula" else ["image"]) + ["inspect", image]
        present = _engine(module, argv, env).returncode == 0
    for name in names:
        cp = _engine(module, [engine, "inspect", name], env)
        if cp.returncode != 0:
            # "No such object" (docker) / "No such image or container" (isula): the container is not there; anything
            # else (the daemon down, a socket without permission) is not an answer about the container
            if "no such" not in (cp.stderr + cp.stdout).lower():
                module.fail_json(msg=f"{engine} inspect {name}: the container engine did not answer: "
                                     f"{(cp.stderr or cp.stdout).strip()[-400:]}. Fix: start the engine (systemctl "
                                     f"start docker / isulad) and check that {engine} ps works on this host")
            out[name] = {"exists": False, "running": False, "spec_hash": None}
            continue
        try:
            doc = json.loads(cp.stdout)[0]
        except (ValueError, IndexError, KeyError):
            out[name] = {"exists": True, "running": False, "spec_hash": None}
            continue
        labels = (doc.get("Config") or {}).get("Labels") or {}
        running = bool((doc.get("State") or {}).get("Running"))
        try:
            spec = json.loads(labels["io.ascend-env.spec"]) if labels.get("io.ascend-env.spec") else None
        except ValueError:
            spec = None
        out[name] = {"exists": True, "running": running, "spec_hash": labels.get("io.ascend-env.spec-hash"),
                     "spec": spec}
        if sshd:
            out[name]["sshd"] = _sshd(module, engine, env, name) if running else None
    return present, out


# What the ascend_ssh role compares in a container, read in one exec: markers, then the drop-in, the authorized keys
# and the host key, separated by lines of ---
_SSHD_SCRIPT = (
    "command -v sshd >/dev/null || echo NO-SSHD; ls /etc/ssh/ssh_host_ed25519_key >/dev/null 2>&1 || echo NO-HOSTKEY;"
    " pgrep -x sshd >/dev/null || echo NOT-RUNNING;"
    " pw=$(getent shadow root | cut -d: -f2); case $pw in '$'*) echo ROOT-PASSWORD;; esac;"
    " echo ROOT-SHADOW $(printf %s \"$pw\" | sha256sum | cut -d' ' -f1);"
    " echo ---; cat /etc/ssh/sshd_config.d/ascend-env.conf 2>/dev/null;"
    " echo ---; cat /root/.ssh/authorized_keys 2>/dev/null;"
    " echo ---; cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null; true")


def _sshd(module, engine, env, name):
    """The container's sshd as the ascend_ssh role compares it (None when the exec fails)."""
    cp = _engine(module, [engine, "exec", name, "sh", "-c", _SSHD_SCRIPT], env)
    if cp.returncode != 0:
        return None
    parts = (cp.stdout + "\n").split("---\n")
    parts += [""] * (4 - len(parts))
    head = parts[0]
    shadow = ""
    for line in head.splitlines():
        if line.startswith("ROOT-SHADOW "):
            shadow = line.split(" ", 1)[1].strip()
    return {"installed": "NO-SSHD" not in head, "hostkey": "NO-HOSTKEY" not in head,
            "running": "NOT-RUNNING" not in head, "root_password": "ROOT-PASSWORD" in head,
            "root_shadow_sha256": shadow, "dropin": parts[1], "keys": parts[2], "hostkey_pub": parts[3].strip()}


def _store(store_dir):
    sizes, sums, tools = {}, {}, {}
    for sub in ("runs", "wheels", "images", "conda"):
        base = os.path.join(store_dir, sub)
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                p = os.path.join(dirpath, f)
                sizes[os.path.relpath(p, store_dir)] = os.path.getsize(p)
    record = _text(os.path.join(store_dir, ".received.sha256")) or ""
    for line in record.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            sums[parts[1].strip()] = parts[0]
    for tool in ("rsync", "rrsync"):
        for d in [*os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep), "/usr/bin", "/usr/local/bin"]:
            if d and os.access(os.path.join(d, tool), os.X_OK):
                tools[tool] = os.path.join(d, tool)
                break
    # a fan-out key a run that was stopped mid-way left on the host (the role takes it off)
    leftover = os.path.isdir(os.path.join(store_dir, ".fanout"))
    return {"sizes": sizes, "sums": sums, "tools": tools, "fanout_leftover": leftover}


def _system_python(python):
    """major.minor of that Python (this interpreter's own when it is that one: no second process)."""
    found = python if os.path.sep in python else shutil.which(python)
    if not found or not os.path.exists(found):
        return None
    if os.path.realpath(found) == os.path.realpath(sys.executable):
        return "{}.{}".format(*sys.version_info[:2])
    try:
        cp = subprocess.run([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                            text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return cp.stdout.strip() or None if cp.returncode == 0 else None


def _env_scope(module, p, result):
    """Python, packages, CANN of an environment: the doctor's probes, run here."""
    if p["venv"]:
        python = os.path.join(p["venv"], "bin", "python")
        result["python"], result["packages"], result["pip_constraints"] = None, {}, []
        if os.path.exists(python):
            doc = probe_python(python, imports=False, dists=p["dists"] or FRAMEWORK_DISTS)
            if doc.get("python") is None and doc.get("error"):
                module.fail_json(msg=f"{python} did not run: {doc['error']}")
            result["python"], result["packages"] = doc.get("python"), doc.get("packages") or {}
            result["pip_constraints"] = doc.get("pip_constraints") or []
    if p["system_python"]:
        result["system_python"] = _system_python(p["system_python"])
    if p["cann_path"]:
        base = p["cann_path"].rstrip("/") or "/"
        cann = probe_cann("/", platform.machine(), {}, base)
        new_layout = os.path.exists(os.path.join(base, "cann", "set_env.sh"))
        cann["set_env"] = os.path.join(base, "cann" if new_layout else "ascend-toolkit", "set_env.sh")
        result["cann"] = cann


def main():
    module = AnsibleModule(
        argument_spec={
            "scope": {"type": "str", "choices": ["host", "env"], "required": True},
            "root": {"type": "path", "default": "/"},
            "probe": {"type": "bool", "default": True},
            "engine": {"type": "str"},
            "engine_env": {"type": "dict", "default": {}},
            "image": {"type": "str"},
            "containers": {"type": "list", "elements": "str", "default": []},
            "store_dir": {"type": "path"},
            "sshd": {"type": "bool", "default": False},
            "driver_prereqs": {"type": "dict"},
            "venv": {"type": "path"},
            "dists": {"type": "list", "elements": "str", "default": []},
            "system_python": {"type": "path"},
            "cann_path": {"type": "path"},
            "files": {"type": "list", "elements": "path", "default": []},
            "texts": {"type": "list", "elements": "path", "default": []},
            "exists": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    t0 = time.monotonic()
    result = {"changed": False}
    if p["scope"] == "host":
        if p["probe"]:
            result["facts"] = collect(p["root"], None, imports=False)
        if p["engine"]:
            present, containers = _containers(module, p["engine"], p["engine_env"], p["containers"], p["image"],
                                              p["sshd"])
            result["containers"] = containers
            if p["image"]:
                result["image_present"] = present
        if p["store_dir"]:
            result["store"] = _store(p["store_dir"])
        if p["driver_prereqs"] is not None:
            d = p["driver_prereqs"]
            result["driver_prereqs"] = probe_driver_prereqs(p["root"], str(d.get("user") or "HwHiAiUser"),
                                                            str(d.get("group") or "HwHiAiUser"),
                                                            d.get("install_path") or None)
    else:
        _env_scope(module, p, result)
    result["files"] = {f: _sha256(f) for f in p["files"]}
    result["texts"] = {f: _text(f) for f in p["texts"]}
    result["exists"] = {f: os.path.exists(f) for f in p["exists"]}
    result["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
