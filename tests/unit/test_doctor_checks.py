"""Doctor checks on synthetic facts (the shape ascend_env.probe.host produces), and the CLI's pure parts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ascend_env.cli.doctor import exit_code, fleet_table, mask, parse_expect, render
from ascend_env.doctor.checks import Context, run_checks
from ascend_env.probe import host

DATA = Path(__file__).parent / "data" / "npu_smi"
DRIVER = {"Version": "24.1.rc3", "Innerversion": "V100R001C19SPC001B124",
          "compatible_version_fw": "[7.0.0,7.5.99]"}
FIRMWARE = {"Version": "7.5.0.1.129", "compatible_version_drv": "[23.0.0,23.0.0.],[24.0,24.0.],[24.1,24.1.]"}


def facts(**over):
    f = {
        "system": {"arch": "x86_64", "in_container": True},
        "env": {"ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest",
                "ASCEND_OPP_PATH": "/usr/local/Ascend/ascend-toolkit/latest/opp",
                "LD_LIBRARY_PATH": "/usr/local/Ascend/ascend-toolkit/latest/lib64"},
        "devices": {"nodes": {n: {"char": True} for n in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")},
                    "davinci": [0], "managers": ["davinci_manager", "devmm_svm", "hisi_hdc"]},
        "pci": {"devices": []},
        "driver": {"driver": {"values": DRIVER}, "firmware": None, "install_info": {"values": {}},
                   "install_path": "/usr/local/Ascend"},
        "npu_smi": {"path": "/usr/local/bin/npu-smi",
                    "info": {"rc": 0, "stdout": (DATA / "910b1_24.1.0_first_card.txt").read_text(), "stderr": ""}},
        "cann": {"toolkit": {"home": "/usr/local/Ascend/ascend-toolkit/8.0.RC3", "layout": "ascend-toolkit",
                             "env_home_resolved": "/usr/local/Ascend/ascend-toolkit/8.0.RC3",
                             "install_info": {"version": "8.0.RC3", "arch": "x86_64",
                                              "compatible_version": "[V100R001C13,V100R001C19],[V100R001C30]"}},
                 "kernels": {"version_info": {"version_dir": "8.0.RC3"}}, "kernel_socs": ["ascend910b"],
                 "others": [], "nnal": None},
        "python": {"python": "3.10.14", "executable": "/opt/conda/bin/python", "packages": {}, "imports": {}},
        "disk": {"install_path": {"path": "/usr/local/Ascend", "free_bytes": 50 << 30, "size_bytes": 100 << 30},
                 "shm": {"path": "/dev/shm", "free_bytes": 8 << 30, "size_bytes": 8 << 30}},
        "sshd": {"files": [], "settings": {}},
    }
    for k, v in over.items():
        f[k] = v
    return f


@pytest.fixture(scope="module")
def ctx(matrix):
    return Context(matrix=matrix, chip="910b")


def ids(checks):
    return {c.id: c for c in checks}


def test_a_consistent_container_is_all_ok(ctx):
    checks = run_checks(facts(), ctx)
    assert [(c.id, c.summary) for c in checks if c.status != "ok"] == []
    assert exit_code(checks) == 0


def test_torch_torch_npu_pair_not_in_the_matrix(ctx):
    py = {"python": "3.10.14", "executable": "python", "imports": {},
          "packages": {"torch": "2.4.0+cpu", "torch_npu": "2.1.0.post3"}}
    c = ids(run_checks(facts(python=py), ctx))["frameworks.versions"]
    assert c.status == "fail" and "torch 2.4.0+cpu, torch_npu 2.1.0.post3" in c.summary
    assert "torch_npu 2.1.0.post3" in c.detail or "torch 2.4.0" in c.detail
    assert c.fix


def test_torch_npu_for_another_cann(ctx):
    py = {"python": "3.10.14", "executable": "python", "imports": {},
          "packages": {"torch": "2.1.0", "torch_npu": "2.1.0.post3"}}   # post3 is a CANN 8.0.RC1 build
    c = ids(run_checks(facts(python=py), ctx))["frameworks.versions"]
    assert c.status == "fail" and "with CANN 8.0.RC3" in c.summary


def test_unhealthy_chip_and_processes_from_real_samples(ctx):
    text = (DATA / "910_23.0.rc3_masked_processes.txt").read_text().replace("| OK ", "| Alarm ", 1)
    f = facts(npu_smi={"path": "/usr/local/bin/npu-smi", "info": {"rc": 0, "stdout": text, "stderr": ""}})
    got = ids(run_checks(f, ctx))
    assert got["npu.health"].status == "fail" and "Alarm" in got["npu.health"].summary
    assert "npu-smi info -t health -i 0" in got["npu.health"].fix
    assert got["npu.processes"].status == "warn" and "pid 139667" in got["npu.processes"].summary


def test_driver_firmware_mismatch_on_a_host(ctx):
    fw = {"Version": "7.1.0.11.220", "compatible_version_drv": "[23.0.rc3,23.0.rc3.],[23.0.0,23.0.0.]"}
    f = facts(system={"arch": "x86_64", "in_container": False},
              driver={"driver": {"values": DRIVER}, "firmware": {"values": fw}, "install_info": {"values": {}}})
    c = ids(run_checks(f, ctx))["driver.firmware"]
    assert c.status == "fail" and "Ascend-hdk-<chip>-npu-driver" in c.fix


def test_toolkit_that_does_not_accept_the_driver(ctx):
    old = dict(DRIVER, Version="23.0.3", Innerversion="V100R001C12SPC001B100")
    f = facts(driver={"driver": {"values": old}, "firmware": None, "install_info": {"values": {}}})
    got = ids(run_checks(f, ctx))
    assert got["cann.driver.inner"].status == "fail"


def test_sshd_password_root_login_is_flagged(ctx):
    f = facts(sshd={"files": ["/etc/ssh/sshd_config"], "settings": {
        "permitrootlogin": {"value": "yes", "file": "/etc/ssh/sshd_config"}}})
    c = ids(run_checks(f, ctx))["system.sshd"]
    assert c.status == "warn" and "prohibit-password" in c.fix


def test_small_shm_and_full_disk(ctx):
    f = facts(disk={"install_path": {"path": "/usr/local/Ascend", "free_bytes": 1 << 29, "size_bytes": 1 << 33},
                    "shm": {"path": "/dev/shm", "free_bytes": 64 << 20, "size_bytes": 64 << 20}})
    got = ids(run_checks(f, ctx))
    assert got["system.disk"].status == "fail" and got["system.shm"].fix.startswith("recreate the container with --shm")


def test_a_broken_probe_is_could_not_check_not_a_crash(ctx):
    f = facts(devices={"error": "PermissionError: [Errno 13] /dev"}, cann={"error": "boom"})
    got = ids(run_checks(f, ctx))
    assert got["devices.nodes"].status == "skip" and "PermissionError" in got["devices.nodes"].summary
    assert got["cann.toolkit"].status == "skip"


def test_everything_unknown_exits_2(ctx):
    checks = run_checks({"devices": {"error": "x"}, "driver": {"error": "y"}}, ctx, only=["devices.nodes",
                                                                                       "driver.present"])
    assert [c.status for c in checks] == ["skip", "skip"] and exit_code(checks) == 2


def test_expect_parsing_and_errors(tmp_path):
    assert parse_expect("cann=8.0.RC2, torch=2.1.0") == {"cann": "8.0.RC2", "torch": "2.1.0"}
    f = tmp_path / "stack.json"
    stack = {"ok": True, "components": {"cann": {"version": "8.0.RC2"}, "firmware": {"version": None}}}
    f.write_text(json.dumps(stack))
    assert parse_expect(str(f)) == {"cann": "8.0.RC2"}
    with pytest.raises(ValueError, match="component=version pairs"):
        parse_expect("cann")


def test_report_masks_secrets():
    masked = mask("HTTPS_PROXY=http://bob:s3cret@proxy:8080 token=abc")
    assert masked == "HTTPS_PROXY=http://***:***@proxy:8080 token=***"


def test_human_output_has_fix_lines_and_the_fleet_table(ctx):
    checks = run_checks(facts(env={}), ctx)
    text = render("c1", checks, tty=False)
    assert "✗ CANN environment not set" in text and "fix: source /usr/local/Ascend/ascend-toolkit/set_env.sh" in text
    table = fleet_table([("h1", {}, checks)])
    assert table.splitlines()[1].startswith("h1")


def test_probe_reads_a_tree(tmp_path):
    root = tmp_path
    (root / "usr/local/Ascend/driver").mkdir(parents=True)
    (root / "usr/local/Ascend/driver/version.info").write_text("Version=24.1.rc3\nInnerversion=V100R001C19\n")
    (root / "dev").mkdir()
    (root / "dev/davinci0").write_text("")  # not a char device: the doctor must say so
    pci = root / "sys/bus/pci/devices/0000:c1:00.0"
    pci.mkdir(parents=True)
    for k, v in {"vendor": "0x19e5", "device": "0xd802", "subsystem_vendor": "0x19e5",
                 "subsystem_device": "0x3000", "class": "0x120000"}.items():
        (pci / k).write_text(v + "\n")
    f = host.collect(str(root), imports=False)
    assert f["driver"]["driver"]["values"]["Version"] == "24.1.rc3"
    assert f["pci"]["devices"][0]["device"] == "0xd802"
    assert f["devices"]["davinci"] == [0] and f["devices"]["nodes"]["davinci0"]["char"] is False
    assert f["npu_smi"]["path"] is None and f["cann"]["toolkit"] is None
    json.dumps(f)  # serialisable


def test_every_known_framework_error_matches_its_real_sample():
    from ascend_env.doctor.checks import explain_error, framework_errors

    rows = framework_errors()
    assert len(rows) >= 10
    for r in rows:
        assert re.search(r["pattern"], r["sample"]), r["sample"]
        assert r["source"] and r["fix"] and r["cause"]
    # a real torch_npu failure prints the cause and then the wrapper: the cause must win
    text = ("ImportError: libhccl.so: cannot open shared object file: No such file or directory\n"
            "RuntimeError: Failed to load the backend extension: torch_npu. You can disable extension auto-loading "
            "with TORCH_DEVICE_BACKEND_AUTOLOAD=0.")
    assert "libhccl" in explain_error(text, "torch")["pattern"]


def test_kernels_of_another_release(ctx):
    f = facts()
    f["cann"]["kernels"] = {"version_info": {"version_dir": "8.0.RC2"}}
    c = ids(run_checks(f, ctx))["cann.kernels"]
    assert c.status == "fail" and c.summary == "kernels 8.0.RC2 do not match toolkit 8.0.RC3"
    assert "Ascend-cann-kernels-<chip>_8.0.RC3" in c.fix


def test_report_bundle_is_written_with_secrets_masked(tmp_path, monkeypatch, ctx):
    from ascend_env.cli.doctor import write_report

    monkeypatch.setenv("HTTPS_PROXY", "http://alice:pa55@proxy.example:3128")
    f = facts()
    f["env"]["PIP_INDEX_URL"] = "https://user:tok3n@mirror.example/simple"
    path = write_report(tmp_path, "h1/llm", f, run_checks(f, ctx))
    text = path.read_text()
    assert path.name.startswith("ascend-doctor-h1_llm-")
    assert "pa55" not in text and "tok3n" not in text and "***:***@proxy.example" in text
    doc = json.loads(text)
    assert doc["facts"]["npu_smi"]["info"]["stdout"].startswith("+---")
