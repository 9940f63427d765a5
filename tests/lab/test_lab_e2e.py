"""End to end: lab up, status, ssh, npu-smi through the doctor's parser, containers, faults, second up, down."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from ascend_env.compat import driver_accepts_firmware, firmware_accepts_driver, parse_kv
from ascend_env.probe.npu_smi import detect_loader_error, parse_info, parse_kv_block

from .conftest import PREFIX, lab, ssh

pytestmark = pytest.mark.usefixtures("lab_up")
ROOT = {"t1": PREFIX / "hosts/t1/root", "t2": PREFIX / "hosts/t2/root"}
SMI = {"t1": "/usr/local/bin/npu-smi", "t2": "/usr/local/sbin/npu-smi"}
LIBDIR = "/usr/local/Ascend/driver/lib64/driver"


def host_smi(host: str, args: str = "info", libpath: bool = True) -> subprocess.CompletedProcess[str]:
    """npu-smi on the simulated host, over its real sshd, with or without the driver lib dir on the path."""
    env = f"LD_LIBRARY_PATH=$ASCEND_ENV_HOST_ROOT{LIBDIR} " if libpath else "unset LD_LIBRARY_PATH; "
    return ssh(host, f"{env}$ASCEND_ENV_HOST_ROOT{SMI[host]} {args}")


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        h.update(str(p.relative_to(root)).encode())
        if stat.S_ISREG(st.st_mode):
            h.update(p.read_bytes())
        elif stat.S_ISCHR(st.st_mode):
            h.update(f"c{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}".encode())
    return h.hexdigest()


def test_status_shows_the_healthy_hosts():
    cp = lab("status", "--json")
    rows = json.loads(cp.stdout)
    assert [(r["name"], r["address"], r["healthy"], r["npu_smi_ok"]) for r in rows] == [
        ("t1", "127.0.0.12", True, True), ("t2", "127.0.0.13", True, True), ("t3", "127.0.0.14", True, True)]
    assert "8 cards, 8 chips, all OK" in rows[0]["npu_smi_detail"]
    assert "2 cards, 4 chips, all OK" in rows[1]["npu_smi_detail"]


def test_each_host_is_its_own_ssh_server_with_its_own_docker_engine():
    for host, address in (("t1", "127.0.0.12"), ("t2", "127.0.0.13")):
        cp = ssh(host, "echo $ASCEND_ENV_LAB_HOST $SSH_CONNECTION; docker info --format '{{.DockerRootDir}}'")
        assert cp.returncode == 0, cp.stderr
        name, _, _, server, port, root = cp.stdout.split()
        assert (name, server, port) == (host, address, "22")
        assert root == str(PREFIX / f"hosts/{host}/docker")
        images = ssh(host, "docker images --format '{{.Repository}}:{{.Tag}}'").stdout.split()
        assert "ascend-env/base:bookworm" in images


def test_npu_smi_over_ssh_parses_with_the_doctors_parser():
    t1 = parse_info(host_smi("t1").stdout)
    assert t1.version == "25.0.rc1.1" and len(t1.cards) == 8 and t1.has_hbm_column
    assert {c.chips[0].hbm_total_mb for c in t1.cards} == {65536}
    t2 = parse_info(host_smi("t2").stdout)
    assert t2.version == "25.0.rc1.1" and not t2.has_hbm_column
    assert [len(c.chips) for c in t2.cards] == [2, 2]
    board = parse_kv_block(host_smi("t1", "info -t board -i 0").stdout)
    assert board["Firmware Version"] == "7.7.0.1.231" and board["PCI Device ID"].lower() == "0xd802"


def test_npu_smi_without_the_driver_lib_path_fails_like_the_real_one():
    cp = host_smi("t1", libpath=False)
    assert cp.returncode != 0
    assert "error while loading shared libraries: libdrvdsmi_host.so: cannot open shared object file" in cp.stderr
    assert detect_loader_error(cp.stderr) == "libdrvdsmi_host.so"


def test_device_nodes_and_pci_ids_are_real_shapes():
    dev = ROOT["t2"] / "dev"
    names = sorted(p.name for p in dev.iterdir())
    assert names == ["davinci0", "davinci1", "davinci2", "davinci3", "davinci_manager", "devmm_svm", "hisi_hdc"]
    assert all(stat.S_ISCHR((dev / n).lstat().st_mode) for n in names)
    pci = [p for p in (ROOT["t2"] / "sys/bus/pci/devices").iterdir()]
    assert len(pci) == 2
    ids = {(p / "vendor").read_text().strip() + "/" + (p / "device").read_text().strip() + "/"
           + (p / "subsystem_device").read_text().strip() for p in pci}
    assert ids == {"0x19e5/0xd500/0x0110"}


def test_a_container_sees_only_its_mapped_devices():
    """The container role's mapping (seed: --device + -v driver + npu-smi) works against the lab's nodes."""
    root = ROOT["t1"]
    cmd = (f"docker run --rm --network=host --device={root}/dev/davinci3:/dev/davinci3 "
           f"--device={root}/dev/davinci_manager:/dev/davinci_manager --device={root}/dev/devmm_svm:/dev/devmm_svm "
           f"--device={root}/dev/hisi_hdc:/dev/hisi_hdc "
           f"-v {root}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro "
           f"-v {root}/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro "
           "-e LD_LIBRARY_PATH=" + LIBDIR + " ascend-env/base:bookworm npu-smi info")
    cp = ssh("t1", cmd)
    assert cp.returncode == 0, cp.stderr
    info = parse_info(cp.stdout)
    assert [c.npu_id for c in info.cards] == [3]


def test_second_up_is_a_no_op(lab_up):
    cp = lab("up", "--wheels", "--json")
    second = json.loads(cp.stdout.strip().splitlines()[-1])
    assert second["actions"] == []
    assert "images" in {p.name for p in (PREFIX / "store").iterdir()}


def test_store_holds_fake_installers_under_real_names_and_a_manifest():
    runs = sorted(p.name for p in (PREFIX / "store/runs").iterdir())
    assert any(n.startswith("Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-") for n in runs), runs
    assert "Ascend-hdk-310p-npu-firmware_7.7.0.1.231.run" in runs, runs
    assert any(n.startswith("Ascend-cann-toolkit_") for n in runs), runs
    manifest = json.loads((PREFIX / "store/manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["path"].startswith("runs/Ascend-cann-toolkit_"))
    assert entry["sha256"] == hashlib.sha256((PREFIX / "store" / entry["path"]).read_bytes()).hexdigest()
    inv = yaml.safe_load((PREFIX / "inventory/hosts.yml").read_text())
    assert inv["ascend_hosts"]["hosts"]["t2"]["ansible_host"] == "127.0.0.13"


def _fault(*args: str) -> None:
    lab("fault", *args)


def test_every_fault_is_visible_and_clearing_restores_the_tree():
    before = {h: tree_digest(ROOT[h]) for h in ROOT}
    try:
        _fault("t1", "missing-device", "--device", "2")
        assert not (ROOT["t1"] / "dev/davinci2").exists()
        assert len(parse_info(host_smi("t1").stdout).cards) == 8   # the card itself is still on the bus

        _fault("t1", "card-lost", "--device", "5")
        info = parse_info(host_smi("t1").stdout)
        assert 5 not in [c.npu_id for c in info.cards] and len(info.cards) == 7
        assert not (ROOT["t1"] / "dev/davinci5").exists()

        _fault("t2", "chip-unhealthy", "--device", "3", "--health", "Critical")
        t2 = parse_info(host_smi("t2").stdout)
        assert t2.cards[1].chips[1].health == "Critical" and t2.cards[1].health == "Critical"
        assert t2.cards[0].health == "OK"

        _fault("t2", "fw-mismatch")
        drv = parse_kv((ROOT["t2"] / "usr/local/Ascend/driver/version.info").read_text())
        fw = parse_kv((ROOT["t2"] / "usr/local/Ascend/firmware/version.info").read_text())
        assert not firmware_accepts_driver(fw["compatible_version_drv"], drv["Version"]).ok
        assert driver_accepts_firmware(drv["compatible_version_fw"], fw["Version"]).ok  # only one side objects

        _fault("t1", "driver-too-old")
        assert parse_info(host_smi("t1").stdout).version == "24.1.rc1"

        _fault("t1", "npu-smi-libpath")
        cp = host_smi("t1")                                      # even with LD_LIBRARY_PATH set
        assert cp.returncode != 0 and detect_loader_error(cp.stderr) == "libdrvdsmi_host.so"

        _fault("t2", "disk-full", "--free-mb", "20")
        st = os.statvfs(ROOT["t2"] / "usr/local/Ascend")
        assert st.f_bavail * st.f_frsize < 21 * 1024 * 1024
        assert (ROOT["t2"] / "usr/local/Ascend/driver/version.info").exists()  # contents still there

        rows = {r["name"]: r for r in json.loads(lab("status", "--json").stdout)}
        assert len(rows["t1"]["faults"]) == 4 and len(rows["t2"]["faults"]) == 3
        assert "cannot load libdrvdsmi_host.so" in rows["t1"]["npu_smi_detail"]
    finally:
        lab("fault", "t1", "--clear", "all")
        lab("fault", "t2", "--clear", "all")
    assert {h: tree_digest(ROOT[h]) for h in ROOT} == before
    assert json.loads(lab("status", "--json").stdout)[1]["npu_smi_detail"].endswith("all OK")


def test_bad_fault_values_change_nothing():
    cp = lab("fault", "t1", "missing-device", "--device", "99", check=False)
    assert cp.returncode == 2 and "--device 99" in cp.stderr and "0..7" in cp.stderr
    cp = lab("fault", "t9", "card-lost", check=False)
    assert cp.returncode == 2 and "no simulated host named 't9'" in cp.stderr
