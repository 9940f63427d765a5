"""The doctor's ``launcher`` group: the environment as a launcher meets it, not as an interactive login shell does.

torchrun, mpirun and msrun start remote ranks with ``ssh host CMD``; operators run ``docker exec NAME python3 ...``;
cron, systemd units and Jupyter kernels start with an empty environment.  None of them runs a login shell, so an
environment that only an interactive shell gets (``source set_env.sh`` at the end of ``~/.bashrc``, after Ubuntu's
``[ -z "$PS1" ] && return``) passes every other check and fails the first multi-node job.

The probe (``ascend_env.probe.host.probe_launchers``) starts a process each of those ways in the target and reports
what it got; these checks compare each one with the reference -- the stack as installed: CANN's ``set_env.sh``
sourced and the Python environment entered (the ascend-env venv or conda environment), in a clean environment,
whatever the startup files say -- and name what is missing (a variable, a library directory, the environment's
Python) with the fix.  Pure functions over the facts.  docs/environment.md has the table of which process gets the
stack by which path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..probe.host import PROFILE, RUNNER
from .checks import FAIL, OK, SKIP, Check, Context, check

GROUP = "launcher"
PATH_VARS = ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH")
#: what a shell sets for itself or a session carries: never part of the environment's stack
IGNORE = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "TERM", "PS1", "HOME", "USER", "LOGNAME", "SHELL", "MAIL",
                    "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY"})
HOOK = 'if [ -r {p} ]; then . {p}; fi'


@dataclass(frozen=True)
class Expect:
    """What every launcher should get: the reference's variables that the clean baseline lacks (or has otherwise),
    the directories it adds to PATH / LD_LIBRARY_PATH / PYTHONPATH (that exist), and its Python's prefix."""

    variables: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, list[str]] = field(default_factory=dict)
    python: dict[str, str] = field(default_factory=dict)   # python3/python -> sys.prefix

    @property
    def empty(self) -> bool:
        return not (self.variables or any(self.dirs.values()) or self.python)


def _entries(value: str | None) -> list[str]:
    return [e for e in (value or "").split(":") if e]


def expectations(launchers: dict[str, Any]) -> Expect | None:
    """The reference minus the baseline; None when the probe has no reference to compare with."""
    views = launchers.get("views") or {}
    base, ref = views.get("baseline") or {}, views.get("reference") or {}
    if not isinstance(ref.get("env"), dict) or not isinstance(base.get("env"), dict):
        return None
    base_env, ref_env = base["env"], ref["env"]
    variables = {k: v for k, v in sorted(ref_env.items())
                 if k not in IGNORE and k not in PATH_VARS and base_env.get(k) != v}
    python = {}
    for name in ("python3", "python"):
        prefix = ref.get(f"{name}_prefix")
        if prefix and prefix != base.get(f"{name}_prefix"):
            python[name] = prefix
    py_dirs = {os.path.dirname(ref[n]) for n in ("python3", "python") if n in python and ref.get(n)}
    known = launchers.get("dirs") or {}
    dirs: dict[str, list[str]] = {}
    for var in PATH_VARS:
        have = set(_entries(base_env.get(var)))
        dirs[var] = [e for e in _entries(ref_env.get(var)) if e not in have and e not in py_dirs
                     and (known.get(e) or {}).get("exists", True)]
    return Expect(variables, dirs, python)


def problems(view: dict[str, Any], exp: Expect, known_dirs: dict[str, Any], skip_prefix: str | None = None,
             skip_vars: tuple[str, ...] = ()) -> list[str]:
    """What ``view`` lacks of ``exp``, one phrase each (the environment's Python first, then variables, then
    directories with the libraries they hold)."""
    if view.get("error"):
        return [f"could not start it: {view['error']}"]
    env = view.get("env") or {}
    out = []
    for name, want in exp.python.items():
        got, prefix, err = view.get(name), view.get(f"{name}_prefix"), view.get(f"{name}_error")
        if prefix == want:
            continue
        if not got:
            out.append(f"no {name} on PATH (the environment's is in {want})")
        elif err:
            out.append(f"{name} ({got}) does not run: {err}")
        else:
            out.append(f"{name} is {got} ({prefix}), not the environment's ({want})")
    for key, want in exp.variables.items():
        if key.startswith(skip_vars) or (skip_prefix and want.startswith(skip_prefix)):
            continue
        got = env.get(key)
        if got is None:
            out.append(f"{key} unset")
        elif got != want:
            out.append(f"{key}={got} (the environment's: {want})")
    for var, wanted in exp.dirs.items():
        have = set(_entries(env.get(var)))
        missing = [e for e in wanted if e not in have and not (skip_prefix and e.startswith(skip_prefix))]
        if missing:
            libs = sorted({lib for e in missing for lib in (known_dirs.get(e) or {}).get("libs") or []})
            out.append(f"{var} lacks {', '.join(missing)}" + (f" (holding {', '.join(libs)})" if libs else ""))
    return out


def _summary(label: str, found: list[str]) -> str:
    more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
    return f"{label}: " + "; ".join(found[:3]) + more


def _ok(cid: str, label: str, exp: Expect, view: dict[str, Any]) -> Check:
    py = ", ".join(f"{n} of {p}" for n, p in exp.python.items()) or "no Python environment to match"
    n = len(exp.variables) + sum(len(d) for d in exp.dirs.values())
    return Check(cid, GROUP, OK, f"{label}: {py}; all {n} variable(s) and path entries of the environment")


def _paths(f: dict[str, Any]) -> tuple[str, str]:
    """The profile and ascend-run as this machine's users see them (under the host root for a lab host)."""
    launchers = f.get("launchers") or {}
    root = launchers.get("root") or "/"
    base = "" if root in ("", "/") else root.rstrip("/")
    return launchers.get("profile") or f"{base}/{PROFILE}", launchers.get("runner") or f"{base}/{RUNNER}"


def _setup(f: dict[str, Any]) -> tuple[dict[str, Any], Expect] | None:
    launchers = f.get("launchers")
    if not isinstance(launchers, dict) or launchers.get("error"):
        return None
    exp = expectations(launchers)
    if exp is None or exp.empty:
        return None
    return launchers, exp


def _not_run(cid: str, launchers: dict[str, Any]) -> list[Check]:
    ref = (launchers.get("views") or {}).get("reference") or {}
    if ref.get("error"):
        return [Check(cid, GROUP, SKIP, f"could not check: the reference shell did not run: {ref['error']}")]
    return []


@check("launcher.exec", GROUP, "docker/isula exec (no shell): the environment's Python first, CANN's variables set")
def launcher_exec(f: dict[str, Any], ctx: Context) -> list[Check]:
    setup = _setup(f)
    if setup is None:
        return _not_run("launcher.exec", f.get("launchers") or {})
    launchers, exp = setup
    view = (launchers.get("views") or {}).get("exec")
    if view is None:
        return []           # the probe was not started by exec (ssh to a host, or here): nothing to say
    nnal = ((f.get("cann") or {}).get("nnal") or {}).get("base")
    skip_prefix = os.path.dirname(nnal.rstrip("/")) + "/" if nnal else None
    label = f"{ctx.runtime} exec (no shell)"
    found = problems(view, exp, launchers.get("dirs") or {}, skip_prefix, ("ATB_",))
    if not found:
        return [_ok("launcher.exec", label, exp, view)]
    _profile, runner = _paths(f)
    fix = (f"{ctx.runtime} exec gets only the container's own environment, fixed when it was created: re-run "
           "ascend-env's site.yml (--tags container recreates it with PATH, the environment's bin first, CANN's "
           "variables and VIRTUAL_ENV or CONDA_PREFIX); by hand, recreate it with the -e flags that "
           f"`python -m ascend_env render env --as exec ...` prints, or run commands through {runner} "
           f"(`{ctx.runtime} exec NAME {runner} python3 ...`)")
    return [Check("launcher.exec", GROUP, FAIL, _summary(label, found), "; ".join(found), fix)]


@check("launcher.ssh", GROUP, "`ssh host CMD` (bash, non-interactive): what a launcher's remote rank gets")
def launcher_ssh(f: dict[str, Any], ctx: Context) -> list[Check]:
    setup = _setup(f)
    if setup is None:
        return _not_run("launcher.ssh", f.get("launchers") or {})
    launchers, exp = setup
    view = (launchers.get("views") or {}).get("ssh")
    if view is None:
        return []
    label = "ssh host CMD (non-interactive)"
    found = problems(view, exp, launchers.get("dirs") or {})
    if not found:
        return [_ok("launcher.ssh", label, exp, view)]
    profile, _ = _paths(f)
    shell = launchers.get("shell") or ""
    if shell and os.path.basename(shell) not in ("bash", ""):
        fix = (f"root's login shell is {shell}, which reads no startup file for a command run over ssh: "
               "chsh -s /bin/bash root (bash reads /etc/bash.bashrc and ~/.bashrc for it)")
    else:
        set_env = launchers.get("set_env") or "<install>/ascend-toolkit/set_env.sh"
        fix = ("a command run over ssh reads only /etc/bash.bashrc and ~/.bashrc, and stops at their interactive guard "
               "(Ubuntu: `[ -z \"$PS1\" ] && return`): put "
               f"`{HOOK.format(p=profile)}` at the TOP of both, and let {profile} source {set_env} and enter the "
               "environment (bin/ first on PATH); ascend-env's site.yml (--tags framework) writes both")
    return [Check("launcher.ssh", GROUP, FAIL, _summary(label, found), "; ".join(found), fix)]


@check("launcher.users", GROUP, "another user's `ssh host CMD` (nobody, with bash): the system-wide path")
def launcher_users(f: dict[str, Any], ctx: Context) -> list[Check]:
    setup = _setup(f)
    if setup is None:
        return []
    launchers, exp = setup
    view = (launchers.get("views") or {}).get("users")
    if view is None:
        return []
    label = "another user's ssh host CMD"
    found = problems(view, exp, launchers.get("dirs") or {})
    if not found:
        return [_ok("launcher.users", label, exp, view)]
    profile, _ = _paths(f)
    where = exp.python.get("python3") or exp.python.get("python") or "the environment"
    fix = (f"users other than root read /etc/bash.bashrc, not root's ~/.bashrc: put `{HOOK.format(p=profile)}` at its "
           "top (ascend-env's site.yml does), and let them read the environment: chmod -R o+rX "
           f"{where} /usr/local/Ascend")
    return [Check("launcher.users", GROUP, FAIL, _summary(label, found), "; ".join(found), fix)]


@check("launcher.service", GROUP, "cron, systemd units, Jupyter kernels (an empty environment) through ascend-run")
def launcher_service(f: dict[str, Any], ctx: Context) -> list[Check]:
    setup = _setup(f)
    if setup is None:
        return []
    launchers, exp = setup
    if not launchers.get("profile") and not launchers.get("runner"):
        return []           # not an environment ascend-env set up: no ascend-run to check
    profile, runner = _paths(f)
    label = "ascend-run CMD (cron, systemd, Jupyter)"
    if not launchers.get("runner"):
        return [Check("launcher.service", GROUP, FAIL, f"{label}: {runner} is missing",
                      "what starts with an empty environment (cron, systemd units, Jupyter kernels) gets no stack",
                      f"re-run ascend-env's site.yml (--tags framework) to write it, or by hand: python -m ascend_env "
                      f"render env --as runner --profile {profile} > {runner} && chmod 755 {runner}")]
    view = (launchers.get("views") or {}).get("service") or {"error": "not run"}
    found = problems(view, exp, launchers.get("dirs") or {})
    if not found:
        return [_ok("launcher.service", label, exp, view)]
    return [Check("launcher.service", GROUP, FAIL, _summary(label, found), "; ".join(found),
                  f"{runner} sources {profile}: see what it does with `bash -x {runner} true`, and re-run ascend-env's "
                  "site.yml (--tags framework) to rewrite both")]
