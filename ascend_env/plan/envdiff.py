"""What differs in an environment (a container, or a host provisioned itself) between its slice of the fleet plan
(``ascend_env_plan``, an :class:`~ascend_env.plan.model.EnvPlan` dump), the role's own settings and one reading of
it (``ascend_env_state``: ``ascend.env.ascend_state`` with scope env, made once before the roles with the arguments
:func:`env_reads` gives): pure functions, one per role that changes an environment.

Each returns the role's :class:`Change` list, in the order its change tasks run; empty means the role has nothing to
do, and its change tasks are not even loaded.  A change names its ``part`` (what the role's change tasks do), a
``reason`` a user reads (``pip.conf differs``, ``CANN toolkit 8.0.RC1 -> 8.2.RC1``, ``torch 2.1.0 -> 2.13.0``) and in
``data`` what the change tasks need to do it; a ``stop`` change ends the role with its reason (nothing changed).
``ascend-env plan`` does not read environments yet (it shows the hosts' changes); these functions are what it would
call.

The shared reading is kept true by the roles that change the environment: they add to its ``stale`` list what the
reading no longer describes (``python``: the environment was made or made again, its packages are not the ones read;
``cann``: CANN was installed), which the later roles read as "changed this run".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import conda
from ..render import EnvSpec, render_env_hook, render_env_profile, render_env_runner

__all__ = ["CA_FILE", "Change", "cann_changes", "check_key", "constraints_text", "env_reads", "framework_changes",
           "pip_conf_text", "python_changes", "requirement_unmet"]

#: The CA bundle's name in the environment's CA folder (pip.conf's ``cert``, .condarc's ``ssl_verify``).
CA_FILE = "ascend-env-pip.crt"
#: What the ascend_cann role installs, in its order.
_CANN_KINDS = ("toolkit", "kernels", "nnal")


@dataclass(frozen=True)
class Change:
    """One thing a role changes in an environment, and why."""

    role: str
    part: str
    reason: str
    stop: bool = False
    targets: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "part": self.part, "reason": self.reason, "stop": self.stop,
                "targets": list(self.targets), "data": dict(self.data)}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stale(state: Mapping[str, Any], what: str) -> bool:
    return what in (state.get("stale") or ())


def _canon(name: str) -> str:
    """A distribution name as pip compares them (PEP 503: case and runs of -_. do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(state: Mapping[str, Any]) -> dict[str, str]:
    """The environment's distributions as read (canonical name -> version); none when the reading is stale."""
    if _stale(state, "python"):
        return {}
    return {_canon(str(k)): str(v) for k, v in (state.get("packages") or {}).items()}


# --- what to read ------------------------------------------------------------------------------------------------

def env_reads(env: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of the one ``ascend.env.ascend_state`` call (scope env) that reads everything the environment
    roles compare: the image's Python, the environment's Python and every installed distribution (with pip's
    constraint files), CANN under the install path, the sha256 of pip.conf, the CA bundle, CANN's pip constraints and
    the rattler installer's copy, the text of the profile, ascend-run, the shell startup files, the last framework
    check's record and the conda settings, whether a conda environment's files exist, and the sha256 of the rank
    table where the environment takes part in one (playbooks/ranktable.yml writes it only where it differs)."""
    python, paths = env["python"], env["paths"]
    files = [paths["pip_conf"], f"{paths['ca_dir']}/{CA_FILE}", paths["pip_constraints"]]
    rank = env.get("ranktable") or {}
    if rank.get("enabled") and rank.get("path"):
        files.append(str(rank["path"]))
    texts = [paths["bashrc"], paths["framework_record"], paths["profile"], paths["runner"],
             *paths["system_bashrcs"]]
    exists: list[str] = []
    if python["provider"] == "conda":
        prefix, tool_venv = python["prefix"], python.get("conda_tool_venv") or conda.DEFAULT_TOOL_VENV
        files.append(f"{tool_venv}/{conda.RATTLER_SCRIPT}")
        texts += [f"{prefix}/.condarc", f"{prefix}/{conda.MANAGED_RECORD}"]
        exists += [f"{python['path']}/conda-meta/history", f"{tool_venv}/bin/python", f"{prefix}/bin/conda"]
    return {"system_python": python.get("system") or "/usr/bin/python3", "venv": python["path"], "dists": ["*"],
            "cann_path": paths["cann_install_path"], "files": files, "texts": texts, "exists": exists}


# --- ascend_python -----------------------------------------------------------------------------------------------

def pip_conf_text(env: Mapping[str, Any], s: Mapping[str, Any]) -> str:
    """pip.conf as the ascend_python role writes it: the site's index, extra index, trusted host, CA bundle and proxy,
    offline the store's wheels only, and CANN's constraints file when the stack limits CANN's Python dependencies."""
    paths = env["paths"]
    lines = ["# managed by ascend-env (ascend_python role)", "[global]"]
    for key, name in (("pip_index_url", "index-url"), ("pip_extra_index_url", "extra-index-url"),
                      ("pip_trusted_host", "trusted-host")):
        if s.get(key):
            lines.append(f"{name} = {s[key]}")
    if s.get("pip_cert_src"):
        lines.append(f"cert = {paths['ca_dir']}/{CA_FILE}")
    if s.get("pip_proxy"):
        lines.append(f"proxy = {s['pip_proxy']}")
    if s.get("offline"):
        lines += ["no-index = true", f"find-links = {paths['store']}/wheels"]
    if s.get("cann_constraints"):
        lines.append(f"constraint = {paths['pip_constraints']}")
    lines.append("disable-pip-version-check = true")
    return "\n".join(lines) + "\n"


def constraints_text(env: Mapping[str, Any], s: Mapping[str, Any]) -> str:
    """CANN's pip constraints file: its version limits, with the sources the matrix cites."""
    stack = env.get("stack") or {}
    cann = ((stack.get("components") or {}).get("cann") or {}).get("version")
    sources = (stack.get("python_deps") or {}).get("sources") or []
    head = (f"# CANN {cann if cann is not None else '?'}'s Python dependencies as its install guide limits them "
            "(managed by ascend-env,\n"
            "# ascend_python role; pip.conf's `constraint` makes every pip install in this environment honour them).\n")
    return head + "".join(f"# source: {x}\n" for x in sources) + "".join(f"{x}\n" for x in s.get("cann_constraints")
                                                                            or [])


def requirement_unmet(requirement: str, installed: Mapping[str, str]) -> str | None:
    """Why ``requirement`` (``numpy<2.0``, ``attrs``) is not met by the installed distributions (canonical name ->
    version), or None when it is: ``not installed``, or the version found (as pip compares it: the local version
    label ignored, pre-releases allowed)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return "not a requirement pip reads"
    have = installed.get(_canon(req.name))
    if have is None:
        return "not installed"
    if not req.specifier.contains(have.split("+")[0], prereleases=True):
        return f"{have} installed"
    return None


def _python_stop(env: Mapping[str, Any], state: Mapping[str, Any], s: Mapping[str, Any]) -> Change | None:
    python = env["python"]
    name = env["name"]
    if python["provider"] not in conda.PROVIDERS:
        return Change("python", "stop", f"{name}: ascend_python_provider={python['provider']} is not a provider this "
                      "version has. Fix: use venv (a venv of the image's python3) or conda (a conda environment with "
                      "the stack's Python).", stop=True)
    want, image = str(s.get("version") or python["python"]), str(state.get("system_python") or "")
    if python["provider"] == "venv" and image != want:
        system = python.get("system") or "/usr/bin/python3"
        return Change("python", "stop", f"{name}: the stack needs Python {want}, the image has "
                      f"{image or 'no ' + system}. Fix: pin python: \"{image}\" for this container (if the matrix "
                      f"allows it), use an image with Python {want}, or set ascend_python_provider: conda (a conda "
                      f"environment with Python {want}).", stop=True)
    return None


def _pip_files(env: Mapping[str, Any], state: Mapping[str, Any], s: Mapping[str, Any]) -> list[Change]:
    """The CA bundle, CANN's constraints file and pip.conf, each where its sha256 differs."""
    paths, files = env["paths"], state.get("files") or {}
    out = []
    ca = f"{paths['ca_dir']}/{CA_FILE}"
    if s.get("pip_cert_src") and files.get(ca) != s.get("pip_cert_sha256"):
        out.append(Change("python", "ca", f"the CA bundle {ca} " + ("differs from" if files.get(ca) else "is not yet")
                          + f" ascend_python_pip_cert_src {s['pip_cert_src']}"))
    constraints = paths["pip_constraints"]
    if s.get("cann_constraints"):
        text = constraints_text(env, s)
        if files.get(constraints) != _sha(text):
            out.append(Change("python", "constraints", f"CANN's pip constraints {constraints} "
                              + ("differ" if files.get(constraints) else "are missing"), data={"text": text}))
    pip_text = pip_conf_text(env, s)
    if files.get(paths["pip_conf"]) != _sha(pip_text):
        out.append(Change("python", "pip_conf", f"pip.conf {paths['pip_conf']} "
                          + ("differs" if files.get(paths["pip_conf"]) else "is missing"), data={"text": pip_text}))
    return out


def _conda_settings(env: Mapping[str, Any], s: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of :func:`ascend_env.conda.conda_plan` from the plan and the role's own."""
    python, paths = env["python"], env["paths"]
    return {"provider": "conda", "conda_prefix": python["prefix"], "env_name": python.get("env_name") or "",
            "stack": env.get("stack") or {}, "python": s.get("version") or python["python"],
            "installer": python.get("conda_installer") or conda.RATTLER,
            "channels": list(python.get("conda_channels") or []), "store": paths["store"],
            "offline": bool(s.get("offline")), "arch": env.get("arch") or "x86_64",
            "tool_venv": python.get("conda_tool_venv") or conda.DEFAULT_TOOL_VENV, "proxy": s.get("pip_proxy") or "",
            "ca_file": f"{paths['ca_dir']}/{CA_FILE}" if s.get("pip_cert_src") else ""}


def _conda_made(env: Mapping[str, Any], state: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    """Why the conda environment is made (again): missing, another Python, not a conda environment, or not the one
    read (ascend_python_version names another)."""
    if c["path"] != env["python"]["path"]:
        return (f"the environment is {c['name']} (Python {c['python']}), not {env['python']['name']} as planned: "
                "it is read where it is made")
    history = (state.get("exists") or {}).get(f"{c['path']}/conda-meta/history")
    have = str(state.get("python") or "")
    if not have and not history:
        return f"conda environment {c['name']} does not exist"
    if not (have == c["python"] or have.startswith(c["python"] + ".")):
        return (f"conda environment {c['name']} has {'Python ' + have if have else 'no working Python'}, the stack "
                f"needs Python {c['python']}")
    if not history:
        return f"conda environment {c['name']} has no conda-meta/history"
    return None


def _conda_differs(state: Mapping[str, Any], s: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    """Why the conda prefix's settings, its record or the installer the environment is made with are not as
    planned."""
    texts, exists, files = state.get("texts") or {}, state.get("exists") or {}, state.get("files") or {}
    if texts.get(c["record_path"]) != c["name"] + "\n":
        return f"{c['record_path']} does not name {c['name']}"
    if texts.get(c["condarc_path"]) != c["condarc"]:
        return f"{c['condarc_path']} differs"
    if c["installer"] == conda.RATTLER:
        script = f"{c['tool_venv']}/{conda.RATTLER_SCRIPT}"
        if not exists.get(f"{c['tool_venv']}/bin/python") or files.get(script) != s.get("rattler_sha256"):
            return f"the rattler installer's tool venv {c['tool_venv']} is missing or differs"
    elif not exists.get(c["conda_bin"]):
        return f"{c['conda_bin']} is missing (the site's installer {c['installer']} has not run)"
    return None


def _environment(env: Mapping[str, Any], state: Mapping[str, Any], s: Mapping[str, Any]) -> tuple[list[Change], bool]:
    """The venv or the conda environment, where it differs; and whether it is made (again), so that its packages
    are not the ones read."""
    python = env["python"]
    if python["provider"] == "venv":
        if state.get("python") is None:
            return [Change("python", "venv", f"the venv {python['path']} does not exist")], True
        return [], False
    c = conda.conda_plan(_conda_settings(env, s))
    made = _conda_made(env, state, c)
    why = made or _conda_differs(state, s, c)
    change = Change("python", "conda", why, data={"made": made is not None, "conda": c}) if why else None
    return ([change] if change else []), made is not None


def _cann_deps(state: Mapping[str, Any], s: Mapping[str, Any], made: bool) -> list[Change]:
    requirements = [str(r) for r in s.get("cann_requirements") or []]
    if not requirements:
        return []
    if made:
        return [Change("python", "cann_deps", "CANN's Python dependencies go into the environment made now",
                       targets=tuple(requirements))]
    installed = _installed(state)
    unmet = [(r, why) for r in requirements if (why := requirement_unmet(r, installed)) is not None]
    if not unmet:
        return []
    return [Change("python", "cann_deps", "CANN's Python dependencies missing or out of range: "
                   + ", ".join(f"{r} ({why})" for r, why in unmet), targets=tuple(r for r, _ in unmet))]


def python_changes(state: Mapping[str, Any], env: Mapping[str, Any], s: Mapping[str, Any]) -> list[Change]:
    """What the ascend_python role changes: ``s`` is the role's settings (``version``, ``pip_index_url``,
    ``pip_extra_index_url``, ``pip_trusted_host``, ``pip_cert_src`` with ``pip_cert_sha256``, ``pip_proxy``,
    ``offline``, ``cann_requirements``, ``cann_constraints``, ``rattler_sha256``).  Parts: ``stop``, ``ca``,
    ``constraints``, ``pip_conf``, ``venv`` or ``conda``, ``constraints_remove``, ``cann_deps``."""
    stop = _python_stop(env, state, s)
    if stop is not None:
        return [stop]
    out = _pip_files(env, state, s)
    environment, made = _environment(env, state, s)
    out += environment
    constraints = env["paths"]["pip_constraints"]
    if not s.get("cann_constraints") and (state.get("files") or {}).get(constraints) is not None:
        out.append(Change("python", "constraints_remove", f"CANN's pip constraints {constraints} are left from "
                          "another stack (this one has none)"))
    return out + _cann_deps(state, s, made)


# --- ascend_cann -------------------------------------------------------------------------------------------------

def _cann_have(cann: Mapping[str, Any], version: str) -> dict[str, str]:
    """What is installed, per kind: the toolkit's install record, the kernels' version, the NNAL version equal to
    the stack's (else the last one found)."""
    have: dict[str, str] = {}
    if cann.get("toolkit"):
        have["toolkit"] = str((cann["toolkit"].get("install_info") or {}).get("version") or "")
    if cann.get("kernels"):
        have["kernels"] = str((cann["kernels"].get("version_info") or {}).get("version_dir") or "")
    nnal = cann.get("nnal") or {}
    versions = [str(v) for v in nnal.get("versions") or []]
    if versions:
        have["nnal"] = version if version.lower() in [v.lower() for v in versions] else versions[-1]
    return have


def cann_changes(state: Mapping[str, Any], env: Mapping[str, Any], s: Mapping[str, Any] | None = None) -> list[Change]:
    """What the ascend_cann role installs: each of the toolkit, the kernels and (``nnal: true``) NNAL whose installed
    version is not the stack's, in that order (``data``: ``file``, the installer in the store's runs/; ``have``, the
    version installed or None; ``want``).  A stop when the stack names no toolkit installer, or CANN under the install
    path cannot be read.  ``s`` (the role's settings) is not needed: what CANN is comes from the plan alone."""
    del s
    stack = env.get("stack") or {}
    installers = stack.get("installers") or {}
    version = str(((stack.get("components") or {}).get("cann") or {}).get("version") or "")
    name = env["name"]
    if "toolkit" not in installers:
        return [Change("cann", "stop", f"{name}: the resolved stack has no toolkit installer name (CANN {version})",
                       stop=True)]
    cann = state.get("cann") or {}
    if cann.get("error"):
        return [Change("cann", "stop", f"{name}: CANN under {env['paths']['cann_install_path']} could not be read: "
                       f"{cann['error']}", stop=True)]
    have = _cann_have(cann, version)
    out = []
    for kind in _CANN_KINDS:
        if kind not in installers or (kind == "nnal" and not env.get("nnal")):
            continue
        if have.get(kind, "").lower() != version.lower():
            out.append(Change("cann", kind, f"CANN {kind} {have.get(kind) or '(none)'} -> {version}",
                              targets=(str(installers[kind]),),
                              data={"file": str(installers[kind]), "have": have.get(kind), "want": version}))
    return out


# --- ascend_framework --------------------------------------------------------------------------------------------

def _requirements(env: Mapping[str, Any], s: Mapping[str, Any]) -> list[str]:
    """The pinned framework (``torch==2.13.0``, ``torch-npu==...``) and the extra requirements."""
    components = (env.get("stack") or {}).get("components") or {}
    names = s.get("components")
    if names is None:
        names = ["torch", "torch_npu"] if env.get("framework") == "torch" else ["mindspore", "mindformers"]
    pinned = [f"{str(c).replace('_', '-')}=={components[c]['version']}" for c in names
              if c in components and (components[c] or {}).get("version")]
    return pinned + [str(r) for r in s.get("extra_requirements") or []]


def check_key(requirements: Sequence[str], set_env: str, s: Mapping[str, Any], framework: str) -> str:
    """What a passing framework check covers, as its record holds it: the sha256 of the versions, CANN's set_env.sh,
    the device, the check program and the system libraries (the JSON the role always wrote: a new role version reads
    an old record as the same stack)."""
    covered = [list(requirements), set_env, s.get("check_device"),
               (s.get("check_scripts") or {}).get(framework, ""),
               (s.get("system_packages") or {}).get(framework, [])]
    return _sha(json.dumps(covered))


def _missing(requirements: Sequence[str], installed: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """The pinned requirements not installed at their version: (requirement, the version installed or None)."""
    out = []
    for r in requirements:
        if "==" not in r:
            continue
        name, want = r.split("==", 1)
        have = installed.get(_canon(name))
        if have is None or have.split("+")[0].lower() != want.strip().lower():
            out.append((r.lower(), have.split("+")[0] if have else None))
    return out


def _set_env(env: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """CANN's set_env.sh of the stack (the plan's, from the matrix's layout) once a toolkit is installed: the reading
    found one, or the CANN role installed it this run; '' without."""
    toolkit = bool((state.get("cann") or {}).get("toolkit")) or _stale(state, "cann")
    return str(env["paths"].get("cann_set_env") or "") if toolkit else ""


def _check_runs(s: Mapping[str, Any], framework: str) -> bool:
    """Whether the role runs the framework's own check (and records it when it passes)."""
    return s.get("check_device") != "skip" and framework in (s.get("check_scripts") or {})


def _check(env: Mapping[str, Any], state: Mapping[str, Any], s: Mapping[str, Any]) -> list[Change]:
    framework = str(env.get("framework") or "")
    requirements = _requirements(env, s)
    missing = _missing(requirements, _installed(state))
    cann_now = _stale(state, "cann")
    set_env = _set_env(env, state)
    key = check_key(requirements, set_env, s, framework)
    record = ((state.get("texts") or {}).get(env["paths"]["framework_record"]) or "").strip()
    # fresh: the environment is made this run (check mode: not yet there, so nothing runs in it)
    data = {"requirements": requirements, "missing": [r for r, _ in missing], "set_env": set_env, "key": key,
            "fresh": _stale(state, "python")}
    out = []
    if missing:
        out.append(Change("framework", "install", ", ".join(f"{r.split('==')[0]} {have or '(none)'} -> "
                                                            f"{r.split('==', 1)[1]}" for r, have in missing),
                          targets=tuple(r for r, _ in missing), data=data))
    if not missing and not _check_runs(s, framework):
        # no check to run (ascend_framework_check_device: skip, or none for this framework): it writes no record, so
        # a missing record is no reason to load the change tasks
        return out
    if s.get("recheck"):
        why = "ascend_framework_recheck is true"
    elif missing:
        why = "the framework is installed now"
    elif cann_now:
        why = "CANN changed this run"
    elif record != key:
        why = ("no record of a passing framework check" if not record else "the last passing framework check "
               "covered another stack (versions, CANN's set_env.sh, device, check program or system libraries)")
    else:
        return out
    return [*out, Change("framework", "check", f"the {framework} check runs: {why}", data=data)]


def _env_files(env: Mapping[str, Any], state: Mapping[str, Any], s: Mapping[str, Any],
               set_env: str) -> list[Change]:
    """The environment in every process: the profile, ascend-run, the hook at the top of the shell startup files."""
    python, paths, texts = env["python"], env["paths"], state.get("texts") or {}
    rank = env.get("ranktable") or {}
    spec = EnvSpec.from_dict({
        "set_env": set_env or None, "driver_root": paths["driver_root"], "npu_smi_dir": paths["npu_smi_dir"],
        "venv": python["path"] if python["provider"] == "venv" else None, "conda_prefix": python.get("prefix"),
        "conda_env": python.get("name"), "exports": {"RANK_TABLE_FILE": rank["path"]} if rank.get("enabled") else {}})
    profile, runner = render_env_profile(spec), render_env_runner(paths["profile"])
    hook = render_env_hook(paths["profile"]).strip()
    marker = str(s.get("marker") or "# {mark} ascend-env environment (managed by Ansible)")
    written = "\n".join([marker.replace("{mark}", "BEGIN"), hook, marker.replace("{mark}", "END"), ""])
    hooked = [paths["bashrc"], *(f for f in paths["system_bashrcs"] if texts.get(f) is not None
                                 and f != paths["bashrc"])]
    out = []
    if texts.get(paths["profile"]) != profile:
        out.append(Change("framework", "profile", f"the profile {paths['profile']} "
                          + ("differs" if texts.get(paths["profile"]) is not None else "is missing"),
                          data={"text": profile}))
    if texts.get(paths["runner"]) != runner:
        out.append(Change("framework", "runner", f"ascend-run {paths['runner']} "
                          + ("differs" if texts.get(paths["runner"]) is not None else "is missing"),
                          data={"text": runner}))
    todo = [f for f in hooked if not (texts.get(f) or "").startswith(written)]
    if todo:
        lower = [f for f in todo if marker.replace("{mark}", "BEGIN") in (texts.get(f) or "")]
        out.append(Change("framework", "hook", "the hook is not at the top of " + ", ".join(todo), targets=tuple(todo),
                          data={"block": hook, "take_off": lower}))
    return out


def framework_changes(state: Mapping[str, Any], env: Mapping[str, Any], s: Mapping[str, Any]) -> list[Change]:
    """What the ascend_framework role changes: ``s`` is its settings (``components``, ``extra_requirements``,
    ``system_packages``, ``env_block``, ``marker``, ``check_device``, ``check_scripts``, ``recheck``).  Parts:
    ``install`` (the pinned versions missing), ``check`` (the framework's own check, with its record; ``data``: the
    requirements, the missing ones, CANN's set_env.sh and the record's key), ``profile``, ``runner``, ``hook``."""
    out = _check(env, state, s)
    if s.get("env_block", True):
        out += _env_files(env, state, s, _set_env(env, state))
    return out

