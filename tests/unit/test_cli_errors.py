"""Issue 24: every command fails loud and clear on bad input (exit 2, the message on stderr, no traceback), ends the
Unix way on a closed pipe (141) and Ctrl-C (130), and reports a bug in two lines with the traceback in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ascend_env import cli
from ascend_env.errors import AscendEnvError

ROOT = Path(__file__).resolve().parents[2]
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env={**os.environ, "PATH": _PATH, **(env or {})})


def assert_usage_error(cp: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert cp.returncode == 2, (cp.returncode, cp.stdout[-1500:], cp.stderr[-1500:])
    assert "Traceback" not in cp.stdout + cp.stderr
    said = " ".join(cp.stderr.split())
    assert said.startswith("error: ") or "error: " in said, said
    for f in fragments:
        assert f in said, said


# --- the wrapper --------------------------------------------------------------------------------------------------
def test_a_project_error_is_its_exit_code_with_the_message_on_stderr(monkeypatch, capsys):
    class Refused(AscendEnvError):
        exit_code = 1

    def boom(argv):
        raise Refused("the bad value and the fix")

    monkeypatch.setattr(cli, "_run", boom)
    assert cli.main(["matrix"]) == 1
    out = capsys.readouterr()
    assert out.err == "error: the bad value and the fix\n" and out.out == ""


def test_a_bug_is_reported_in_two_lines_with_the_traceback_in_a_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)

    def bug(argv):
        return {}["missing"]

    monkeypatch.setattr(cli, "_run", bug)
    assert cli.main(["doctor"]) == cli.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("ascend-env: internal error: KeyError: 'missing'")
    files = list(tmp_path.glob("ascend-env-crash-*.txt"))
    assert len(files) == 1 and str(files[0]) in err
    text = files[0].read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing'" in text
    assert "command: ascend-env doctor" in text


@pytest.mark.parametrize("args", [["matrix", "show", "torch_npu"], ["matrix", "audit", "--json"],
                                  ["doctor", "--json", "--no-imports"]])
def test_output_into_a_closed_pipe_is_exit_141_without_a_traceback(args):
    """`... | head`: the reader is gone (here before the first write, so every command meets it)."""
    read, write = os.pipe()
    os.close(read)
    try:
        cp = subprocess.run([sys.executable, "-m", "ascend_env", *args], stdout=write, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "PATH": _PATH}, timeout=300)
    finally:
        os.close(write)
    err = cp.stderr.decode()
    assert cp.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_head_after_a_large_output_is_141():
    cmd = f"{sys.executable} -m ascend_env matrix audit --json | head -n 1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    cp = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=300,
                        env={**os.environ, "PATH": _PATH})
    assert cp.stdout.split()[-1] == "141" and "Traceback" not in cp.stderr, cp.stderr[-2000:]


@pytest.mark.xfail(strict=False, reason="in the full CI suite the probe's SSH gets 'Error reading SSH protocol banner' "
                   "and the doctor exits 2 before the signal is sent (passes alone); under investigation")
def test_ctrl_c_is_exit_130_without_waiting_for_the_probe_thread(tmp_path):
    """An SSH probe that hangs (a port that accepts and never answers) must not hold Ctrl-C up."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []

    def hold() -> None:   # accept and keep each connection open, saying nothing (not left in the kernel's backlog)
        try:
            while True:
                held.append(srv.accept()[0])
        except OSError:
            return

    threading.Thread(target=hold, daemon=True).start()
    try:
        p = subprocess.Popen([sys.executable, "-m", "ascend_env", "doctor", "--ssh", f"root@127.0.0.1:{port}",
                              "--no-imports"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                             env={**os.environ, "PATH": _PATH})
        time.sleep(2.5)                  # the probe thread is waiting on the silent port by now
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        srv.close()
        for c in held:
            c.close()
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err.decode() and "KeyboardInterrupt" not in err.decode()
    # not a speed figure: the probe thread waits 15 s for the silent port's SSH banner (paramiko's timeout), so
    # an exit that joined it would come after that; an exit that did not comes at once
    assert waited < 10, f"Ctrl-C waited {waited:.1f} s for the probe thread"


def test_lab_ssh_with_a_command_runs_instead_of_crashing():
    prefix = Path(tempfile.mkdtemp(prefix="ae-")) / "nolab"     # short: the lab's unix sockets live under it
    cp = run("lab", "--prefix", str(prefix), "ssh", "h1", "docker", "ps")
    assert cp.returncode == 1 and "Traceback" not in cp.stderr and "unhashable" not in cp.stderr, cp.stderr
    assert f"the lab at {prefix} is not up" in cp.stderr
    assert f"python -m ascend_env lab --prefix {prefix} up" in cp.stderr
    cp = run("lab", "--prefix", str(prefix), "ssh", "h9", "true")
    assert_usage_error(cp, "no simulated host named 'h9'; the lab has: h1, h2")


def test_lab_down_help_says_purge_removes_the_cache():
    cp = run("lab", "down", "--help")
    said = " ".join(cp.stdout.split())
    assert cp.returncode == 0 and "--purge" in said
    assert "The cache (--cache: the base image, the wheels pip downloaded, the conda channel) stays" in said


# --- the doctor ---------------------------------------------------------------------------------------------------
@pytest.fixture()
def bad_inventories(tmp_path):
    files = {
        "missing": tmp_path / "missing.yml",
        "empty": tmp_path / "empty.yml",
        "list": tmp_path / "list.yml",
        "hostless": tmp_path / "hostless.yml",
        "broken": tmp_path / "broken.yml",
        "latin": tmp_path / "latin.yml",
    }
    files["empty"].write_text("# nothing yet\n")
    files["list"].write_text("- a\n- b\n")
    files["hostless"].write_text("all:\n  vars: {x: 1}\n")
    files["broken"].write_text("all: [\n")
    files["latin"].write_bytes("all:\n  hosts:\n    h1: {ansible_host: 'é'}\n".encode("latin-1"))
    return files


@pytest.mark.parametrize(("kind", "fragment"), [
    ("missing", "does not exist; give the path of your inventory file or folder"),
    ("empty", "is empty; list your NPU servers in it"),
    ("list", "the top level is a list, not a mapping of groups"),
    ("hostless", "has no hosts: nothing to check; list your NPU servers under a group"),
    ("broken", "is not valid YAML at line 2, column 1"),
    ("latin", "is not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8"),
])
def test_doctor_inventory_that_reads_no_host_is_exit_2_naming_the_file(bad_inventories, kind, fragment):
    path = bad_inventories[kind]
    cp = run("doctor", "--inventory", str(path), "--no-imports")
    assert_usage_error(cp, f"inventory {path}", fragment)
    assert cp.stdout == ""          # the controller itself was not checked instead


def test_doctor_inventory_with_a_bad_port_or_engine_is_exit_2_naming_host_and_value(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("ascend_hosts:\n  hosts:\n    npu-a: {ansible_host: 192.0.2.1, ansible_port: 70000}\n")
    assert_usage_error(run("doctor", "--inventory", str(inv), "--no-imports"),
                       f"inventory {inv}, host npu-a: ansible_port 70000: is out of range 1-65535")
    inv.write_text("ascend_hosts:\n  hosts:\n    npu-a:\n      ansible_host: 192.0.2.1\n"
                   "      ascend_container_cli: 'docker; touch PWNED'\n"
                   "      ascend_containers: [{name: c1}]\n")
    assert_usage_error(run("doctor", "--inventory", str(inv), "--containers", "--no-imports", cwd=tmp_path),
                       "ascend_container_cli 'docker; touch PWNED': is not a container engine command")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["--only", "drvier"], ["--only drvier: no check or group of that name; did you mean 'driver'?",
                            "groups: devices, driver", "doctor --list-checks"]),
    (["--only", ","], ["--only ',' names no check"]),
    (["--expect", "bogus=1"], ["--expect: unknown component 'bogus'", "the doctor reads driver, firmware, cann"]),
    (["--expect", "cann=abc"], ["--expect cann=abc:", "'abc' is not a valid CANN version"]),
    (["--expect", "cann"], ["expected component=version pairs"]),
    (["--ssh", "root@h:70000"], ["--ssh port 70000: is out of range 1-65535"]),
    (["--ssh", "root@-oProxyCommand=x"], ["--ssh host '-oProxyCommand=x': is not a host name or IP address"]),
    (["--root", "/nonexistent-root"], ["--root /nonexistent-root: no such directory"]),
    (["--python", "/nonexistent/python3"], ["--python /nonexistent/python3: no such file"]),
    (["--container", "-u root"], ["--container '-u root': is not a valid container name"]),
    (["--limit", "h1"], ["--limit needs --inventory"]),
    (["--containers"], ["--containers needs --inventory"]),
])
def test_doctor_bad_values_are_exit_2_with_the_value_and_the_fix(args, fragments):
    assert_usage_error(run("doctor", *args, "--no-imports"), *fragments)


def test_doctor_expect_file_with_bad_yaml_is_exit_2(tmp_path):
    f = tmp_path / "stack.yml"
    f.write_text("components: [\n")
    assert_usage_error(run("doctor", "--expect", str(f), "--no-imports"), f"--expect {f}: not valid YAML or JSON")
    f.write_bytes(b"cann: \xff\n")
    assert_usage_error(run("doctor", "--expect", str(f), "--no-imports"), "is not UTF-8 text")


def test_doctor_with_an_invalid_matrix_overrides_file_is_exit_2(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text("x: [\n")
    cp = run("doctor", "--no-imports", env={"ASCEND_ENV_MATRIX_OVERRIDES": str(f)})
    assert_usage_error(cp, str(f), "not valid YAML")


def test_doctor_only_expect_without_expect_checks_nothing_and_says_so():
    cp = run("doctor", "--only", "expect", "--no-imports")
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert "nothing was checked" in cp.stdout and "needs --expect" in cp.stdout


def test_doctor_report_to_an_unwritable_path_prints_the_results_then_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cp = run("doctor", "--no-imports", "--report", str(blocker / "sub"))
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert "could not check" in cp.stdout or "ok" in cp.stdout       # the results came first
    assert f"--report {blocker / 'sub'}: cannot write the report there" in cp.stderr


def test_the_probe_refuses_a_root_or_python_that_is_not_there():
    from ascend_env.probe import host

    assert host.main(["--root", "/nonexistent-root"]) == 2
    assert host.main(["--python", "/nonexistent/python3", "--no-imports"]) == 2


# --- render -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "fragment"), [
    ("Ciphers=none", "sshd option Ciphers 'none': 'none' is not an algorithm sshd knows"),
    ("MaxSessions=abc", "sshd option MaxSessions 'abc' is not a whole number"),
    ("FooBar=1", "sshd option 'FooBar' is not an sshd_config keyword"),
    ("MaxSesions=3", "did you mean MaxSessions?"),
    ("X11Forwarding=true", "sshd option X11Forwarding 'true' is not one of yes, no"),
    ("LoginGraceTime=soon", "sshd option LoginGraceTime 'soon' is not a time"),
    ("Protocol=2", "deprecated or ignored by sshd"),
    ("MaxStartups=10:300:100", "MaxStartups '10:300:100' is not start:rate:full"),
])
def test_render_sshd_refuses_options_sshd_would_refuse(option, fragment):
    assert_usage_error(run("render", "sshd", "--option", option), fragment)


@pytest.mark.parametrize("option", ["MaxSessions=20", "AllowUsers=dev ops", "Ciphers=+aes128-cbc",
                                    "KexAlgorithms=-diffie-hellman-group1-sha1", "LogLevel=VERBOSE",
                                    "HostKeyAlgorithms=ssh-ed25519*", "LoginGraceTime=1m30s", "MaxStartups=10:30:100",
                                    "Subsystem=sftp internal-sftp", "RekeyLimit=1G 1h"])
def test_render_sshd_accepts_what_sshd_accepts(option):
    cp = run("render", "sshd", "--option", option)
    assert cp.returncode == 0, cp.stderr
    key, _, value = option.partition("=")
    assert f"{key} {value}" in cp.stdout


def test_render_sshd_runs_sshd_t_when_sshd_is_here():
    from ascend_env.cli import render as render_cli

    if render_cli._sshd_binary() is None:
        pytest.skip("no sshd on this machine")
    ok = render_cli.render_sshd_config(render_cli.SshdSpec())
    assert render_cli.sshd_test(ok) is None
    said = render_cli.sshd_test(ok + "NoSuchKeyword yes\n")
    assert said and "Bad configuration option: NoSuchKeyword" in said


@pytest.mark.parametrize(("devices", "fragment"), [
    ("0,0", "device selection '0,0' selects card 0 twice; name each card once"),
    ("0-3,2", "device selection '0-3,2' selects card 2 twice"),
])
def test_render_container_refuses_a_card_named_twice(devices, fragment):
    cp = run("render", "container", "--runtime", "docker", "--name", "x", "--image", "i", "--devices", devices)
    assert_usage_error(cp, fragment)
