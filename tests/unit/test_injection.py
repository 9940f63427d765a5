"""Issue 24: no inventory or command-line value reaches a shell unquoted.  One test per path that reaches a shell --
the SSH command line of the doctor, docker/isula exec, and the roles' shell lines -- with a ``$(touch PWNED)`` value,
asserting nothing was created (and that the allow-list refuses what quoting cannot make harmless: an engine command,
a container name that would be an option, a port or host that would be an ssh option)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from ascend_env import hostvalues
from ascend_env.doctor import transport
from ascend_env.matrix import load_matrix
from ascend_env.preflight import check_host

ROOT = Path(__file__).resolve().parents[2]
EVIL = "$(touch PWNED)"
EVILS = [EVIL, "`touch PWNED`", "x; touch PWNED", "x' ; touch PWNED; echo '", 'x" ; touch PWNED; echo "',
         "x\ntouch PWNED"]


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """A cwd to find PWNED in, and a bin/ with a fake python3 (records its argv) and a fake docker/isula that runs
    the `sh -c` line it is given, as the container's shell would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SANDBOX/argv"\necho "{}"\n')
    for engine in hostvalues.RUNTIMES:
        # <engine> exec [-i] NAME sh -c LINE: run LINE as the container's sh would
        (bin_dir / engine).write_text('#!/bin/sh\nshift; [ "$1" = -i ] && shift; shift\nexec "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANDBOX", str(tmp_path))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def pwned(where: Path) -> list[Path]:
    return list(where.rglob("PWNED")) + list(Path.cwd().glob("PWNED"))


# --- the doctor over SSH: the command line the remote host's shell runs ----------------------------------------
@pytest.mark.parametrize("evil", EVILS)
def test_ssh_command_line_quotes_root_and_python(sandbox, evil):
    target = transport.SshTarget(host="192.0.2.1", root=evil)
    for line in (transport.remote_command(target, python=evil),
                 transport.remote_command(target, python=evil, container_name="c1", runtime="docker")):
        cp = subprocess.run(["sh", "-c", line], capture_output=True, text=True, cwd=sandbox, timeout=30)
        assert cp.returncode == 0, cp.stderr
        assert not pwned(sandbox), line
        assert evil in (sandbox / "argv").read_text()        # arrived as one literal argument


@pytest.mark.parametrize("evil", EVILS)
def test_ssh_refuses_an_engine_or_container_name_outside_the_allow_list(evil):
    target = transport.SshTarget(host="192.0.2.1")
    with pytest.raises(hostvalues.HostValueError, match="is not a container engine command"):
        transport.remote_command(target, container_name="c1", runtime=evil)
    with pytest.raises(hostvalues.HostValueError, match="is not a valid container name"):
        transport.remote_command(target, container_name=evil, runtime="docker")
    with pytest.raises(hostvalues.HostValueError):   # refused before paramiko is even imported
        transport.ssh(target, container_name=evil)


@pytest.mark.parametrize(("text", "fragment"), [
    ("root@h:70000", "out of range"), ("root@-oProxyCommand=touch:22", "not a host name"),
    ("-oProxyCommand=x@h", "not a user name"), (f"root@{EVIL}", "not a host name")])
def test_ssh_target_refuses_what_would_be_an_ssh_option(text, fragment):
    with pytest.raises(hostvalues.HostValueError, match=fragment):
        transport.SshTarget.parse(text)


# --- docker/isula exec from here -----------------------------------------------------------------------------------
@pytest.mark.parametrize("evil", EVILS)
@pytest.mark.parametrize("runtime", hostvalues.RUNTIMES)
def test_container_exec_quotes_the_python(sandbox, evil, runtime):
    facts = transport.container("c1", runtime, python=evil, imports=False)
    assert facts == {}
    assert not pwned(sandbox)
    assert evil in (sandbox / "argv").read_text()


@pytest.mark.parametrize("evil", EVILS)
def test_container_exec_refuses_a_bad_engine_or_name(sandbox, evil):
    with pytest.raises(hostvalues.HostValueError):
        transport.container("c1", evil)
    with pytest.raises(hostvalues.HostValueError):
        transport.container(evil, "docker")
    with pytest.raises(hostvalues.HostValueError):
        transport.container("--privileged", "docker")
    assert not pwned(sandbox)


def test_doctor_inventory_containers_refuse_an_engine_outside_the_allow_list(sandbox):
    from tests.unit.test_cli_errors import assert_usage_error, run

    inv = sandbox / "hosts.yml"
    inv.write_text(yaml.safe_dump({"ascend_hosts": {"hosts": {"npu-a": {
        "ansible_host": "192.0.2.1", "ascend_container_runtime": EVIL, "ascend_containers": [{"name": "c1"}]}}}}))
    assert_usage_error(run("doctor", "--inventory", str(inv), "--containers", "--no-imports", cwd=sandbox),
                       f"host npu-a: ascend_container_runtime '{EVIL}': unknown container runtime")
    assert not pwned(sandbox)


# --- the roles: every templated value in a shell line ---------------------------------------------------------------
def _tasks(node):
    if isinstance(node, list):
        for t in node:
            yield from _tasks(t)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always", "tasks"):
            if key in node:
                yield from _tasks(node[key])


def shell_lines() -> list[tuple[str, str, str]]:
    """(file, task, text) of every string a shell or a remote shell parses: shell tasks, `sh/bash -c LINE` argv
    items, rsync's --rsh (split into ssh's options) and rsync's remote `user@host:path` (the remote shell's)."""
    out = []
    for f in sorted([*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("playbooks/*.yml")]):
        for t in _tasks(yaml.safe_load(f.read_text()) or []):
            for mod in ("ansible.builtin.shell", "ansible.builtin.command", "ansible.builtin.raw"):
                args = t.get(mod)
                name = f"{f.relative_to(ROOT)}: {t.get('name')}"
                if isinstance(args, str):
                    out.append((name, mod, args))
                elif isinstance(args, dict):
                    if isinstance(args.get("cmd"), str):
                        out.append((name, mod, args["cmd"]))
                    argv = args.get("argv")
                    for i, item in enumerate(argv if isinstance(argv, list) else []):
                        if not isinstance(item, str):
                            continue
                        if i >= 2 and argv[i - 1] == "-c" and argv[i - 2] in ("sh", "bash"):
                            out.append((name, "sh -c", item))
                        elif item.startswith("--rsh=") or re.search(r"@[^ ]*:", item):
                            out.append((name, "rsync", item))
    return out


#: values the preflight checks (ascend_env.preflight._check_connection) so they cannot carry an option or a command
VALIDATED = {"ansible_port": 22, "ansible_user": "root", "ansible_host": "192.0.2.1",
             "ansible_ssh_private_key_file": "/root/.ssh/id",
             "ascend_artifacts_host_dir": "/var/cache/ascend-env/store"}
#: values that are options on purpose: the site's own ssh options, as Ansible's ssh connection takes them
BY_DESIGN = {"ansible_ssh_common_args"}
_IGNORED_NAMES = {"default", "quote", "hostvars", "item", "src", "is", "defined", "if", "else", "int", "string"}


def _names(expr: str) -> set[str]:
    return {n for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", expr))} - _IGNORED_NAMES


def test_every_value_in_a_role_shell_line_is_quoted_or_checked_by_the_preflight():
    lines = shell_lines()
    assert len(lines) >= 5
    unsafe = []
    for name, kind, text in lines:
        for expr in re.findall(r"{{(.*?)}}", text, re.S):
            expr = " ".join(expr.split())
            if re.search(r"\|\s*quote\s*$", expr):
                continue
            if _names(expr) <= set(VALIDATED) | BY_DESIGN:
                continue
            unsafe.append(f"{name} ({kind}): {{{{ {expr} }}}}")
    assert not unsafe, "values reach a shell neither quoted nor checked:\n" + "\n".join(unsafe)


@pytest.mark.parametrize("var", sorted(VALIDATED))
@pytest.mark.parametrize("evil", [EVIL, "22 -oProxyCommand=touch${IFS}PWNED", "-oProxyCommand=touch PWNED"])
def test_the_preflight_refuses_a_hostile_value_of_each_checked_variable(var, evil, sandbox):
    hv = {"ascend_chip": "910b", "ascend_arch": "aarch64", var: evil}
    problems = check_host("npu-a", hv, load_matrix(), None, None)
    assert any(p.field == var for p in problems), [str(p) for p in problems]
    ok = check_host("npu-a", {"ascend_chip": "910b", "ascend_arch": "aarch64", var: VALIDATED[var]}, load_matrix(),
                    None, None)
    assert not any(p.field == var for p in ok), [str(p) for p in ok]
    assert not pwned(sandbox)


class _Hostile(jinja2.Undefined):
    """Every variable (and attribute of one) of a shell line is the attack."""

    def __str__(self) -> str:
        return EVIL

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Hostile()


def test_the_quoted_role_shell_lines_run_without_executing_a_value(sandbox):
    env = jinja2.Environment(undefined=_Hostile)
    env.filters["quote"] = lambda v: shlex.quote(str(v))
    ran = 0
    for name, kind, text in shell_lines():
        exprs = re.findall(r"{{(.*?)}}", text, re.S)
        if kind == "rsync" or not exprs or not all(re.search(r"\|\s*quote\s*$", e.strip()) for e in exprs):
            continue
        line = env.from_string(text).render()
        assert EVIL in line or shlex.quote(EVIL) in line, name
        subprocess.run(["bash", "-c", line], cwd=sandbox, capture_output=True, text=True, timeout=30)
        assert not pwned(sandbox), f"{name}: {line}"
        ran += 1
    # the artefacts role's shell lines are gone: its rsync/ssh command lines are built in Python with shlex and run
    # with hostile paths in tests/unit/test_fanout_rsync.py
    assert ran >= 1
