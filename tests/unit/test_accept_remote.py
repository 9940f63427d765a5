"""The acceptance's edge: commands over ``ssh`` (a fake ``ssh`` that runs the remote line with ``sh -c`` here, as
sshd hands it to the login shell), the many-pings helper run for real, every value quoted (a ``$(touch PWNED)``
value arrives as one literal word and runs nothing), and the command line's bad input and saved results."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.day2 import runmany
from ascend_env.day2.accept_steps import DMI_ABSENT, SmokeSettings, collective_argv, dmi_argv, smoke_argv
from ascend_env.day2.remote import Ran, SshRemote, read_runmany, runmany_payload
from ascend_env.plan import Connection, plan

ROOT = Path(__file__).resolve().parents[2]
EVILS = ["$(touch PWNED)", "`touch PWNED`", "x; touch PWNED", "x' ; touch PWNED; echo '", "x\ntouch PWNED"]


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """A cwd to find PWNED in, and on PATH: ``ssh`` running its last argument (the remote line) with ``sh -c``
    and recording its argv, and ``python``/``python3`` stand-ins that record theirs (``python3 -`` stays real)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SANDBOX/ssh-argv"\n'
                                 'for a; do line=$a; done\nexec sh -c "$line"\n')
    (bin_dir / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SANDBOX/argv"\necho "{\\"ok\\": true}"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANDBOX", str(tmp_path))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def pwned(where: Path) -> list[Path]:
    return list(where.rglob("PWNED"))


CONN = Connection(address="127.0.0.1", port=2222, user="root", key_file="/k/id", ssh_common_args="-o X=1",
                  python=sys.executable)


def test_run_goes_over_ssh_with_the_plans_connection_as_one_quoted_line(sandbox):
    ran = SshRemote().run(CONN, ["echo", "a b", "$(touch PWNED)"], timeout=30)
    assert ran == Ran(0, "a b $(touch PWNED)\n", "")
    argv = (sandbox / "ssh-argv").read_text().splitlines()
    assert argv[:8] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-p", "2222", "-i", "/k/id"]
    assert argv[8:11] == ["-o", "X=1", "root@127.0.0.1"] and not pwned(sandbox)


def test_ssh_failure_is_a_command_that_could_not_run(sandbox):
    (sandbox / "bin" / "ssh").write_text("#!/bin/sh\necho 'ssh: connect to host 127.0.0.1 port 2222: Connection "
                                         "refused' >&2\nexit 255\n")
    ran = SshRemote().run(CONN, ["true"], timeout=30)
    assert ran.rc is None and "Connection refused" in ran.why
    many = SshRemote().run_many(CONN, [["true"], ["true"]], bound=2, timeout=5)
    assert [r.rc for r in many] == [None, None] and all("Connection refused" in r.why for r in many)


def test_run_many_runs_the_commands_on_the_host_at_once_up_to_the_bound(sandbox, tmp_path):
    # each command waits until three have started: only three running at once let them finish before the timeout
    meet = tmp_path / "meet"
    meet.mkdir()
    wait = f'touch "{meet}/$0"; n=0; while [ "$(ls "{meet}" | wc -l)" -lt 3 ] && [ $n -lt 200 ]; do ' \
           'sleep 0.05; n=$((n+1)); done; [ $n -lt 200 ] && echo met'
    commands = [["sh", "-c", wait, str(i)] for i in range(3)] + [["sh", "-c", "echo out; echo err >&2; exit 3"],
                                                                 ["/no/such/tool", "-i", "0"]]
    ran = SshRemote().run_many(CONN, commands, bound=3, timeout=30)
    assert [r.stdout for r in ran[:3]] == ["met\n"] * 3
    assert (ran[3].rc, ran[3].stdout, ran[3].stderr) == (3, "out\n", "err\n")
    assert ran[4].rc is None and "not found" in ran[4].why


def test_the_helper_reads_its_payload_from_an_argument_too(capsys):
    assert runmany.main(["-", runmany_payload([["echo", "hi"]], 2, 5)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"rc": 0, "stdout": "hi\n", "stderr": ""}]
    assert read_runmany(Ran(0, "[]\n"), 1)[0].rc is None          # an answer that does not fit is no answer


@pytest.fixture(scope="module")
def env(matrix):
    fleet = plan({"a": {"ansible_host": "10.0.0.5", "ascend_chip": "910b", "ascend_arch": "x86_64",
                        "ascend_host_pins": {"driver": "25.0.rc1.1"}, "ascend_ranktable_enabled": True,
                        "ascend_containers": [{"name": "llm", "framework": "torch",
                                               "pins": {"python": "3.11", "torch": "2.13.0"}}]}}, matrix)
    return fleet.hosts["a"].envs[0]


def _line(argv: list[str]) -> str:
    """The remote line ssh sends (the last word of ascend_env.collective.ssh_argv)."""
    return shlex.join(argv)


@pytest.mark.parametrize("evil", EVILS)
def test_the_smoke_line_quotes_every_value(sandbox, env, evil):
    py = env.python.model_copy(update={"bin": str(sandbox / "bin")})
    paths = env.paths.model_copy(update={"cann_install_path": evil})
    e = env.model_copy(update={"python": py, "paths": paths})
    settings = SmokeSettings("cpu", model_path=evil, extra_args=(evil,))
    cp = subprocess.run(["sh", "-c", _line(smoke_argv(e, settings))], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    argv = (sandbox / "argv").read_text()
    assert not pwned(sandbox) and argv.count(evil) == 2 and "--model-path\n" in argv


@pytest.mark.parametrize("evil", EVILS)
def test_the_collective_and_dmi_lines_quote_every_value(sandbox, env, evil):
    rt = env.ranktable.model_copy(update={"path": evil, "server_id": evil})
    e = env.model_copy(update={"ranktable": rt})
    cp = subprocess.run(["sh", "-c", _line(collective_argv(e, "cpu", 29500, 5))], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 0 and (sandbox / "argv").read_text().count(evil) == 2 and not pwned(sandbox)
    cp = subprocess.run(["sh", "-c", _line(dmi_argv(evil, "--bw", "-d", evil))], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 127 and DMI_ABSENT in cp.stdout and not pwned(sandbox)


def test_ascend_dmi_is_found_under_the_hosts_root_and_run_with_its_arguments(tmp_path):
    tool = tmp_path / "usr/local/Ascend/toolbox/latest/Ascend-DMI/bin/ascend-dmi"
    tool.parent.mkdir(parents=True)
    tool.write_text('#!/bin/sh\necho "dmi $*"\n')
    tool.chmod(0o755)
    cp = subprocess.run(dmi_argv(str(tmp_path), "--bw", "-d", "3"), capture_output=True, text=True, timeout=30)
    assert (cp.returncode, cp.stdout) == (0, "dmi --bw -d 3\n")


# --- the command line ---------------------------------------------------------------------------------------------

def accept_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", "accept", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_bad_input_is_exit_2_naming_the_value_before_any_host(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    ascend_hosts:\n      hosts:\n        a: {ansible_host: 127.0.0.1}\n")
    (tmp_path / "file").write_text("x")
    bad_dir = tmp_path / "runs"
    bad_dir.mkdir()
    (bad_dir / "accept-20261207T100000Z.json").write_text("{not json")
    for args, says in ((["-i", str(tmp_path / "none.yml")], "does not exist"),
                       (["-i", str(inv), "--tolerance", "1.5"], "--tolerance 1.5"),
                       (["-i", str(inv), "--ping-parallel", "0"], "--ping-parallel 0"),
                       (["-i", str(inv), "--results", str(tmp_path / "file")], "is a file"),
                       (["-i", str(inv), "--results", str(bad_dir)], "accept-20261207T100000Z.json: not JSON"),
                       (["-i", str(inv), "--limit", "zz"], "no NPU host zz")):
        cp = accept_cli(*args, cwd=tmp_path)
        assert cp.returncode == 2 and says in cp.stderr and "Traceback" not in cp.stderr, (args, cp.stderr)
    assert not (tmp_path / "acceptance").exists()


def test_a_fleet_nothing_of_which_can_be_read_is_not_accepted_and_the_run_is_kept(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    ascend_hosts:\n      hosts:\n        a:\n          ansible_host: 127.0.0.1\n"
                   "          ansible_port: 1\n          ascend_chip: 910b\n          ascend_arch: x86_64\n"
                   "          ascend_containers: [{name: llm, framework: torch}]\n")
    cp = accept_cli("-i", str(inv), "--json", "--forks", "2", cwd=tmp_path)
    assert cp.returncode == 1, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["ok"] is False and doc["drift"] is None and (tmp_path / doc["results"]).parent == tmp_path / "acceptance"
    results = {(r["host"], r["environment"]): r for r in doc["run"]["results"]}
    assert results[("a", None)]["checks"]["reachable"]["passed"] is False
    assert results[("a", "llm")]["checks"]["smoke"]["passed"] is None
    report = (tmp_path / doc["report"]).read_text()
    assert "# Acceptance of" in report and "FAILED" in report and "a: reachable failed" in report
    again = accept_cli("-i", str(inv), cwd=tmp_path)
    assert again.returncode == 1 and "| a | FAIL |" in again.stdout
    assert len(list((tmp_path / "acceptance").glob("accept-*.json"))) == 2     # a run never replaces another


def test_the_accept_playbook_runs_the_same_command_on_the_runs_inventory(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    ascend_hosts:\n      hosts:\n        a:\n          ansible_host: 127.0.0.1\n"
                   "          ansible_port: 1\n          ascend_chip: 910b\n          ascend_arch: x86_64\n"
                   "          ascend_containers: [{name: llm, framework: torch}]\n")
    results = tmp_path / "runs"
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                          f"{os.environ['PATH']}"}

    def playbook(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ansible-playbook", "playbooks/accept.yml", "-i", str(inv), "-e",
                               f"ascend_accept_results={results}", *extra], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)

    check = playbook("--check")
    assert check.returncode == 0 and not results.exists(), check.stdout[-3000:]
    cp = playbook("--limit", "a,localhost")
    assert cp.returncode == 2 and "the fleet is not accepted: see" in cp.stdout, cp.stdout[-3000:]
    (saved,) = results.glob("accept-*.json")
    run = json.loads(saved.read_text())
    assert run["passed"] is False and run["fleet"] == str(inv.resolve())
    assert "a: reachable failed" in cp.stdout                         # the report, printed by the play


def test_progress_is_shown_only_on_a_terminal():
    import io

    from ascend_env.cli.accept import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        show = Progress(stream)
        show("pings", 1, 2)
        show("pings", 2, 2)
    assert tty.getvalue() == "\raccept: pings 1/2 host(s)\033[K\raccept: pings 2/2 host(s)\033[K\n"
    assert pipe.getvalue() == ""
