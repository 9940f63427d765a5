"""The lab's npu-busy fault: a real process on an NPU that the fake npu-smi lists (as the real table lays it out),
that the fake driver installer refuses to replace the driver under (with the real installer's words), and that
clearing the fault stops.  Also hccn_tool -ping answering per the lab's link state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ascend_env.day2.busy import BUSY, FREE, INSTALLER_REFUSAL, Reading, assess
from ascend_env.lab import busy, sysroot
from ascend_env.lab.config import LabConfigError, build_config
from ascend_env.lab.faults import desired, make_fault
from ascend_env.lab.layout import HostPaths
from ascend_env.lab.npu_smi_build import read_state, write_state
from ascend_env.probe.hccn import parse_ping
from ascend_env.probe.npu_smi import parse_info

CFG = build_config({"hosts": [{"name": "t1", "chip": "910b", "cards": 8, "address": "127.0.0.12"},
                              {"name": "t2", "chip": "300i-duo", "cards": 2, "address": "127.0.0.13"},
                              {"name": "t3", "chip": "910b", "cards": 8, "address": "127.0.0.14"}]},
                   prefix=Path("/tmp/ascend-env-unit-lab"))   # never created: each test gives hosts their own root
T1, T2, T3 = CFG.hosts


def test_the_fault_is_validated_and_kept_as_data():
    f = make_fault(T1, "npu-busy", device=3, container="llm-ms")
    assert f.as_dict() == {"kind": "npu-busy", "device": 3, "container": "llm-ms"}
    assert desired(T1, [f, make_fault(T1, "npu-busy", device=1)]).busy == ((1, None), (3, "llm-ms"))
    assert make_fault(T2, "npu-busy", device=3).params == {"device": 3}    # a Duo card's second chip
    with pytest.raises(LabConfigError, match=r"--device 4 for npu-busy on t2: the device \(davinci number\) must be"):
        make_fault(T2, "npu-busy", device=4)
    with pytest.raises(LabConfigError, match="--container 'a b'"):
        make_fault(T1, "npu-busy", container="a b")
    with pytest.raises(LabConfigError, match="--container is for npu-busy, not link-down"):
        make_fault(T1, "link-down", container="x")


def test_holders_are_listed_in_the_npu_state_with_their_memory():
    holder = {"device": 3, "pid": 4242, "container": "llm-ms", "container_pid": 57, "name": "python3", "memory": 3148}
    state = sysroot.npu_state(T1, desired(T1, []), [holder])
    card = state["cards"][3]
    assert card["processes"] == [{"chip_id": 0, "pid": 4242, "name": "python3", "memory": 3148,
                                  "container": "llm-ms", "container_pid": 57}]
    assert card["chips"][0]["hbm"][0] == 3418 + 3148
    duo = sysroot.npu_state(T2, desired(T2, []), [dict(holder, device=3)])
    assert duo["cards"][1]["processes"][0]["chip_id"] == 1 and duo["cards"][1]["chips"][1]["memory"][0] == 1412 + 3148


@pytest.fixture()
def host(tmp_path):
    hp = HostPaths(tmp_path / "hosts/t1")
    yield hp
    busy.stop_all(hp)


def test_a_host_holder_runs_until_cleared(host):
    want = desired(T1, [make_fault(T1, "npu-busy", device=5)])
    changed = busy.sync(T1, host, want)
    (rec,) = busy.live(host)
    assert changed == [f"npu-busy process on davinci5: pid {rec['pid']} on the host"]
    assert rec["device"] == 5 and rec["container"] is None and busy.alive(rec)
    args = Path(f"/proc/{rec['pid']}/cmdline").read_bytes().split(b"\0")
    assert str(host.base).encode() in args                 # `lab down --verify` would find it by the host's folder
    assert busy.sync(T1, host, want) == []                 # idempotent
    os.kill(rec["pid"], 9)                                 # killed by hand: the next sync starts it again
    deadline = time.monotonic() + 5
    while busy.alive(rec) and time.monotonic() < deadline:
        time.sleep(0.05)
    again = busy.sync(T1, host, want)
    assert len(again) == 1 and busy.live(host)[0]["pid"] != rec["pid"]
    pid = busy.live(host)[0]["pid"]
    assert busy.sync(T1, host, desired(T1, [])) == ["npu-busy process on davinci5 stopped"]
    assert busy.live(host) == [] and not busy.alive({"pid": pid, "device": 5})   # gone (at most a zombie of ours)


@pytest.fixture(scope="module")
def cc_cache(tmp_path_factory):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (apt-get install gcc libc6-dev)")
    return tmp_path_factory.mktemp("cc-cache")


def npu_smi(root: Path) -> subprocess.CompletedProcess[str]:
    lib = root / "usr/local/Ascend/driver/lib64/driver"
    return subprocess.run([str(root / "usr/local/bin/npu-smi"), "info"], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": str(lib)}, check=False)


def test_npu_smi_lists_a_running_holder_in_the_real_layout(tmp_path, cc_cache):
    hp = HostPaths(tmp_path / "hosts/t1")
    want = desired(T1, [make_fault(T1, "npu-busy", device=2)])
    try:
        busy.sync(T1, hp, want)
        sysroot.build_host(T1, hp, cc_cache, want)
        (rec,) = busy.live(hp)
        out = npu_smi(hp.root)
        assert out.returncode == 0, out.stdout + out.stderr
        row = next(ln for ln in out.stdout.splitlines() if f"| {rec['pid']} " in ln)
        # the 910B 24.1.0 process row: NPU and chip, then pid, name, memory in the widths of the real table
        assert row == "| " + "2       0".ljust(26) + "| " + str(rec["pid"]).ljust(14) + "| " + \
            Path(f"/proc/{rec['pid']}/comm").read_text().strip().ljust(25) + "| " + "3148".ljust(24) + "|"
        info = parse_info(out.stdout)
        assert [(p.npu_id, p.pid, p.memory_mb) for p in info.processes] == [(2, rec["pid"], 3148)]
        assert info.idle_npus == (0, 1, 3, 4, 5, 6, 7)
        assert info.cards[2].chips[0].hbm_used_mb == 3418 + 3148
        verdict = assess("t1", [Reading("host", out.stdout)])
        assert verdict.status == BUSY and verdict.holders[0].pid == rec["pid"]
        # in a container the same table shows the host pid with an empty name (vllm-ascend#4266)
        (hp.root / ".dockerenv").touch()
        inside = parse_info(npu_smi(hp.root).stdout)
        assert [(p.pid, p.name) for p in inside.processes] == [(rec["pid"], "")]
        (hp.root / ".dockerenv").unlink()
        # a holder that exits is no longer listed, even before the lab rewrites the state
        busy.stop(hp, 2)
        after = parse_info(npu_smi(hp.root).stdout)
        assert after.processes == () and 2 in after.idle_npus
        assert assess("t1", [Reading("host", npu_smi(hp.root).stdout)]).status == FREE
        sysroot.build_host(T1, hp, cc_cache, desired(T1, []))
        assert "processes" not in read_state(hp.driver_lib)["cards"][2]
    finally:
        busy.stop_all(hp)


# --- the driver installer --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def driver_pkg(tmp_path_factory, matrix):
    from ascend_env.lab import installers as inst
    if shutil.which("makeself") is None or not inst.STOCK_HEADER.exists():
        pytest.skip("makeself is not installed")
    info = "Version=25.0.rc1.1\ncompatible_version_fw=[7.0.0,7.7.99]\npackage_version=25.0.rc1.1\n"
    return inst.build_driver_package("25.0.rc1.1", "910b", "aarch64", tmp_path_factory.mktemp("run"), info,
                                     matrix=matrix)


def test_the_driver_installer_refuses_while_a_process_holds_the_npus(tmp_path, driver_pkg):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nHwHiAiUser:x:1000:1000::/home/h:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nHwHiAiUser:x:1000:\n")
    sysroot.driver_build_deps(root)   # what the installer builds with, as every lab host's root has it
    path = root / "usr/local/Ascend"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_")}
    env.update(ASCEND_LAB_IN_CONTAINER="0", ASCEND_LAB_ROOT=str(root), ASCEND_LAB_UNAME_M="aarch64",
               ASCEND_LAB_REQUIRED_KB="1", HOME=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(driver_pkg), "--nox11", *args, "--quiet", f"--install-path={path}"],
                              env=env, capture_output=True, text=True, timeout=60, check=False)

    first = run("--full")          # nothing installed yet: nothing to check
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = {"chip": "910b", "cards": [{"npu_id": 0, "chips": [{"chip_id": 0, "health": "OK"}],
                                            "processes": [{"chip_id": 0, "pid": holder.pid, "name": "python3",
                                                           "memory": 3148}]}]}
        write_state(path / "driver/lib64/driver", state)
        for op in ("--upgrade", "--full", "--uninstall"):
            refused = run(op)
            assert refused.returncode == 1, (op, refused.stdout, refused.stderr)
            lines = refused.stdout.splitlines()
            err = next(ln for ln in lines if "[ERROR]" in ln)
            assert err.startswith("[Driver] [") and f"[ERROR]\x1b[31m{INSTALLER_REFUSAL}, details in : " in err
            assert err.endswith(" \x1b[0m")
            assert lines[-1].endswith("[INFO]If you want to install or uninstall the driver forcibly, add the force "
                                      "parameter. For details, see [--help].")
            assert (path / "driver/version.info").exists()          # nothing was removed
        log = (tmp_path / "root/usr/local/ascend_lab_logs/ascend_install.log").read_text()
        assert f"[WARNING]/dev/davinci_manager has user process: {holder.pid}" in log
        forced = run("--upgrade", "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert "--force" in subprocess.run(["bash", str(driver_pkg), "--help"], capture_output=True,
                                           text=True).stdout
    finally:
        holder.kill()
        holder.wait()
    assert run("--upgrade").returncode == 0             # the process is gone: the upgrade goes through
    assert run("--full", "--force").returncode == 0
    write_state(path / "driver/lib64/driver", {"chip": "910b", "cards": []})
    assert run("--uninstall").returncode == 0


# --- hccn_tool -ping -----------------------------------------------------------------------------------------
def test_ping_answers_per_the_labs_link_state(tmp_path):
    hosts = {}
    for spec in (T1, T3):
        hp = HostPaths(tmp_path / "hosts" / spec.name)
        hp.dev.mkdir(parents=True)
        for n in range(8):
            (hp.dev / f"davinci{n}").write_text("")
        hosts[spec.name] = hp
    t3_down = [make_fault(T3, "link-down", device=1)]
    t1_noip = [make_fault(T1, "no-device-ip", device=4)]
    sysroot.build_network(T1, hosts["t1"], desired(T1, t1_noip))
    sysroot.build_network(T3, hosts["t3"], desired(T3, t3_down))

    def ping(device: int, address: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(hosts["t1"].driver / "tools/hccn_tool"), "-i", str(device), "-ping", "-g",
                               "address", address, *extra], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})

    ok = ping(0, "10.0.14.11")                       # t3's device 0, another host: found through its live state
    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == "device 0 PING 10.0.14.11"
    r = parse_ping(ok.stdout, ok.returncode)
    assert (r.status, r.transmitted, r.received) == ("ok", 3, 3)
    assert parse_ping(ping(3, "10.0.12.12", "pkt", "64").stdout).status == "ok"    # same host, with pkt
    for device, address in ((0, "10.0.14.12"),       # t3's device 1: link down
                            (0, "10.9.9.9"),         # nobody's address
                            (4, "10.0.14.11")):      # the source has no address
        lost = ping(device, address)
        assert lost.returncode == 1 and lost.stdout.endswith("100.00% packet loss\nCmd execute failed!\n")
        assert parse_ping(lost.stdout, 1).status == "unreachable"
    assert ping(0, "10.0.14").stdout == "The IP address is invalid! addr: 10.0.14\n"
    assert ping(0, "10.0.14.11", "pkt", "70000").stdout == "PING packet size can not more than 65507\n"
    assert ping(9, "10.0.14.11").stdout == "The device is not exist!\n"
    # the snapshot a container reads instead of the other hosts' trees
    texts = sysroot.fabric([(T1, desired(T1, t1_noip)), (T2, desired(T2, [])), (T3, desired(T3, t3_down))])
    assert sorted(texts) == ["t1", "t3"]
    assert "address_t3.1=10.0.14.12\n" in texts["t1"] and "link_t3.1=DOWN\n" in texts["t1"]
    assert "address_t1.4=" not in texts["t3"] and "address_t1.5=10.0.12.16\n" in texts["t3"]
    assert "t1" not in texts["t1"].replace("t3", "")
