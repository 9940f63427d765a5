"""Pure parts of the lab: config validation, faults, inventory, sshd and dockerd command lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ascend_env.lab import hdk
from ascend_env.lab.config import HostSpec, LabConfig, LabConfigError, build_config
from ascend_env.lab.engine import dockerd_argv
from ascend_env.lab.faults import desired, make_fault
from ascend_env.lab.inventory import render_inventory
from ascend_env.lab.layout import LabPaths
from ascend_env.lab.procs import LabError
from ascend_env.lab.sshd import sshd_config_text
from ascend_env.lab.store import lab_stacks, torch_guard
from ascend_env.matrix import load_matrix

PREFIX = Path("/srv/lab-test")


def cfg(raw=None, **kw):
    return build_config(raw, prefix=PREFIX, cache=Path("/srv/lab-cache"), **kw)


def test_default_lab_has_two_hosts_on_their_own_loopback_addresses():
    c = cfg()
    assert [(h.name, h.address, h.chip, h.cards) for h in c.hosts] == [
        ("h1", "127.0.0.2", "910b", 8), ("h2", "127.0.0.3", "300i-duo", 2)]
    assert [h.address for h in cfg(hosts=5).hosts][-1] == "127.0.0.6"


@pytest.mark.parametrize(("raw", "needle"), [
    ({"hosts": [{"chip": "910c"}]}, "chip '910c' is not simulated; use one of 910b, 310p, 300i-duo"),
    ({"hosts": [{"cards": 0}]}, "cards=0 for 910b; use a whole number from 1 to 16"),
    ({"hosts": [{"driver": "24.1.rc9"}]}, "no driver sample for '24.1.rc9'"),
    ({"hosts": [{"address": "10.0.0.5"}]}, "address '10.0.0.5' is not allowed"),
    ({"hosts": [{"address": "127.0.0.1"}]}, "never the machine's own 127.0.0.1"),
    ({"hosts": [{"name": "a"}, {"name": "a", "address": "127.0.0.9"}]}, "name 'a' is already used by hosts[0]"),
    ({"hosts": [{"name": "Bad_Name"}]}, "host name 'Bad_Name' is not usable"),
    ({"hosts": [{"colour": "red"}]}, "unknown key(s) ['colour']"),
    ({"ssh_port": 223}, "ssh_port 223"),
    ({"hostz": []}, "unknown key(s) ['hostz']"),
])
def test_bad_config_values_are_named_with_the_fix(raw, needle):
    with pytest.raises(LabConfigError) as e:
        cfg(raw)
    assert needle in str(e.value)


@pytest.mark.parametrize("prefix", ["/usr/local/Ascend/lab", "/dev/lab", "/", "/var/lib/docker", "/etc/x"])
def test_prefix_in_a_system_location_is_refused(prefix):
    with pytest.raises(LabConfigError, match="pass --prefix"):
        build_config(None, prefix=Path(prefix), cache=Path("/srv/c"))


def test_driver_version_info_is_the_real_format():
    text = hdk.driver_version_info("24.1.rc1")
    # verbatim keys and values of the real sample (ascend-facts §2.1)
    assert text.splitlines()[0] == "Version=24.1.rc1"
    assert "Innerversion=V100R001C15SPC006B220" in text
    assert "compatible_version_fw=[7.0.0,7.2.99]" in text
    fw = hdk.firmware_version_info("7.1.0.11.220")
    assert fw == ("Version=7.1.0.11.220\nfirmware_version=1.0\npackage_version=23.0.7\n"
                  "compatible_version_drv=[23.0.rc3,23.0.rc3.],[23.0.0,23.0.0.]\n")


def test_faults_validate_and_compose():
    c = cfg()
    h1, h2 = c.hosts
    with pytest.raises(LabConfigError, match=re.escape("must be 0..7")):
        make_fault(h1, "missing-device", device=8)
    with pytest.raises(LabConfigError, match=re.escape("must be 0..1")):
        make_fault(h2, "card-lost", device=2)          # 300I Duo x2: cards 0..1 (devices 0..3)
    with pytest.raises(LabConfigError, match=re.escape("unknown fault 'gpu-melted'")):
        make_fault(h1, "gpu-melted")
    with pytest.raises(LabConfigError, match=re.escape("--health 'Dead'")):
        make_fault(h1, "chip-unhealthy", health="Dead")
    faults = [make_fault(h2, "card-lost", device=1), make_fault(h2, "chip-unhealthy", device=0, health="critical"),
              make_fault(h2, "fw-mismatch"), make_fault(h2, "disk-full", free_mb=10)]
    d = desired(h2, faults)
    assert d.missing_nodes == {"davinci2", "davinci3"}  # both chips of card 1
    assert d.lost_cards == {1} and d.health == {0: "Critical"}
    assert d.firmware == "7.1.0.11.220" and d.driver == h2.driver and d.disk_free_mb == 10
    assert desired(h2, []).missing_nodes == frozenset()


def test_inventory_addresses_each_host_like_a_real_machine():
    c = cfg()
    lp = LabPaths(c.prefix, c.cache)
    inv = yaml.safe_load(render_inventory(c, lp))
    h1 = inv["ascend_hosts"]["hosts"]["h1"]
    assert h1["ansible_host"] == "127.0.0.2" and h1["ansible_user"] == "root"
    assert h1["ascend_host_pins"] == {"driver": "25.0.rc1.1", "firmware": "7.7.0.1.231"}
    assert h1["ascend_host_root"] == "/srv/lab-test/hosts/h1/root"
    assert inv["ascend_hosts"]["hosts"]["h2"]["ascend_npu_smi_path"] == "/usr/local/sbin/npu-smi"
    assert "StrictHostKeyChecking=yes" in h1["ansible_ssh_common_args"]
    assert "ascend_ranktable_enabled" not in h1          # one 910B host: no multi-node job


def test_two_910b_hosts_take_part_in_a_rank_table():
    c = build_config({"hosts": [{"name": "t1", "chip": "910b"}, {"name": "t2", "chip": "300i-duo"},
                                {"name": "t3", "chip": "910b", "containers": False}]}, prefix=PREFIX)
    hosts = yaml.safe_load(render_inventory(c, LabPaths(c.prefix, c.cache)))["ascend_hosts"]["hosts"]
    assert {n: h.get("ascend_ranktable_enabled", False) for n, h in hosts.items()} == {"t1": True, "t2": False,
                                                                                         "t3": True}


def test_sshd_is_key_only_on_the_hosts_own_address():
    c = cfg()
    lp = LabPaths(c.prefix, c.cache)
    text = sshd_config_text(c.hosts[1], lp.host("h2"), lp, 22)
    assert "ListenAddress 127.0.0.3:22" in text
    assert "PasswordAuthentication no" in text and "PermitRootLogin prohibit-password" in text
    assert "SetEnv DOCKER_HOST=unix:///srv/lab-test/hosts/h2/run/docker.sock" in text
    assert f"BASH_ENV={lp.host('h2').sshd_dir / 'bash_env'}" in text


def test_a_session_on_a_lab_host_reads_its_roots_bashrc_files_as_bash_on_a_real_host_does(tmp_path):
    """`ssh host CMD` on Debian/Ubuntu runs bash, which reads /etc/bash.bashrc and ~/.bashrc: BASH_ENV does that
    under the lab host's root, in that order, and an interactive guard in them returns as it would."""
    import subprocess

    from ascend_env.lab.sshd import bash_env_text

    hp = LabPaths(tmp_path, tmp_path / "cache").host("h1")
    (hp.root / "etc").mkdir(parents=True)
    (hp.root / "root").mkdir(parents=True)
    (hp.root / "etc/bash.bashrc").write_text("ORDER=system\n")
    (hp.root / "root/.bashrc").write_text('ORDER="$ORDER,root"; export ORDER\n[ -z "$PS1" ] && return\nORDER=late\n')
    env_file = tmp_path / "bash_env"
    env_file.write_text(bash_env_text(hp))
    cp = subprocess.run(["bash", "-c", 'echo "$ORDER ${BASH_ENV-unset}"'], capture_output=True, text=True,
                        env={"PATH": "/usr/bin:/bin", "BASH_ENV": str(env_file)}, check=True)
    assert cp.stdout.split() == ["system,root", "unset"]


def test_dockerd_has_no_bridge_no_iptables_and_its_own_roots():
    lp = LabPaths(PREFIX, Path("/c"))
    argv = dockerd_argv("h1", lp.host("h1"))
    assert "--bridge=none" in argv and "--iptables=false" in argv
    assert argv[argv.index("--data-root") + 1] == "/srv/lab-test/hosts/h1/docker"
    assert argv[argv.index("--config-file") + 1] == "/srv/lab-test/hosts/h1/daemon.json"


def test_torch_from_pypi_is_refused(monkeypatch, tmp_path):
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    assert torch_guard(["torch==2.13.0"]) == []
    assert torch_guard(["transformers"]) == ["torch==2.13.0"]   # a dependency cannot pull another torch
    from ascend_env.lab.procs import LabError
    for bad in (["torch"], ["torch>=2.1"], ["torch==2.9.0"]):
        with pytest.raises(LabError, match="multi-GB CUDA build"):
            torch_guard(bad)


def test_loopback_addresses_are_added_adopted_or_left_alone(monkeypatch):
    """An address left on lo with the lab's label (a lab whose processes died) is adopted so `lab down` removes
    it; one without the label belongs to somebody else and is never claimed."""
    import subprocess

    from ascend_env.lab import lab as labmod

    lo = ["1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever",
          "1: lo    inet 127.0.0.12/32 scope host lo:ascendlab\\       valid_lft forever",
          "1: lo    inet 127.0.0.13/32 scope host lo\\       valid_lft forever"]
    calls: list[list[str]] = []

    def fake_run(argv, check=True, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "\n".join(lo) + "\n", "")

    monkeypatch.setattr(labmod, "run", fake_run)
    assert labmod.add_address("127.0.0.12") == "adopted"
    assert labmod.add_address("127.0.0.13") is None
    assert labmod.add_address("127.0.0.14") == "added"
    assert calls[-1] == ["ip", "addr", "add", "127.0.0.14/32", "dev", "lo", "label", "lo:ascendlab"]
    assert not any(c[:3] == ["ip", "addr", "add"] and "127.0.0.1" in c[3] and c[3] != "127.0.0.14/32" for c in calls)


def test_a_host_provisioned_itself_gets_ascend_container_enabled_false():
    c = build_config({"hosts": [{"name": "h1"}, {"name": "h2", "containers": False}]}, prefix=Path("/tmp/lab-x"))
    assert [h.containers for h in c.hosts] == [True, False]
    inv = yaml.safe_load(render_inventory(c, LabPaths(c.prefix, c.cache)))
    assert "ascend_container_enabled" not in inv["ascend_hosts"]["hosts"]["h1"]
    assert inv["ascend_hosts"]["hosts"]["h2"]["ascend_container_enabled"] is False
    assert inv["all"]["vars"] == {"ascend_framework_check_device": "cpu", "ascend_smoke_device": "cpu"}
    with pytest.raises(LabConfigError, match=r"containers 'no'; use true .* or false"):
        build_config({"hosts": [{"name": "h1", "containers": "no"}]}, prefix=Path("/tmp/lab-x"))


def test_a_hosts_image_is_the_base_or_a_variant():
    c = cfg()
    assert [h.image for h in c.hosts] == ["ubuntu-bashrc", "debian"]    # h1 like most Ascend images: Ubuntu's guard
    with pytest.raises(LabConfigError, match="image 'alpine'; use one of debian, ubuntu-bashrc"):
        cfg({"hosts": [{"image": "alpine"}]})
    inv = yaml.safe_load(render_inventory(c, LabPaths(c.prefix, c.cache)))["ascend_hosts"]["hosts"]
    assert inv["h1"]["ascend_container_image"] == "ascend-env/base:bookworm-ubuntu-bashrc"
    assert inv["h1"]["ascend_container_image_tar"] == "ascend-env-base_bookworm-ubuntu-bashrc.tar"
    assert inv["h1"]["ascend_artifacts_images"] == ["ascend-env-base_bookworm-ubuntu-bashrc.tar"]
    assert "ascend_container_image" not in inv["h2"]                      # the role's default: the base image


def test_the_ubuntu_variant_carries_ubuntus_root_bashrc_and_its_own_key(monkeypatch, tmp_path):
    from ascend_env.lab import image

    files = image._variant_files("ubuntu-bashrc")
    text = files["/root/.bashrc"]
    assert text.startswith("# ~/.bashrc: executed by bash(1) for non-login shells.\n")
    assert next(ln for ln in text.splitlines() if ln and not ln.startswith("#")) == '[ -z "$PS1" ] && return'
    assert "figlet" not in text and "notepad" not in text                  # the fork's additions are not Ubuntu's
    key = image.variant_key("bookworm", "http://deb.debian.org/debian", "ubuntu-bashrc")
    assert key.startswith(image.cache_key("bookworm", "http://deb.debian.org/debian") + "-ubuntu-bashrc-")
    (tmp_path / "ubuntu_root.bashrc").write_text(text + "# changed\n")
    monkeypatch.setattr(image, "DATA", tmp_path)
    assert image.variant_key("bookworm", "http://deb.debian.org/debian", "ubuntu-bashrc") != key  # a change rebuilds
    with pytest.raises(image.ImageVariantError, match="'fedora'"):
        image.variant_key("bookworm", "m", "fedora")


def test_build_faults_take_away_what_the_driver_installer_builds_with(tmp_path):
    from ascend_env.lab import sysroot

    c = cfg()
    h1 = c.hosts[0]
    d = desired(h1, [make_fault(h1, "no-dkms"), make_fault(h1, "no-build-tools")])
    assert d.no_build == {"dkms", "gcc", "make"} and desired(h1, []).no_build == frozenset()
    root = tmp_path / "root"
    assert sysroot.driver_build_deps(root) == ["dkms", "gcc", "make", "lspci", "ifconfig", "kernel headers"]
    assert sysroot.driver_build_deps(root) == []                            # idempotent
    assert sysroot.driver_build_deps(root, d.no_build | {"headers"}) == ["dkms removed", "gcc removed",
                                                                        "make removed", "kernel headers removed"]
    assert not sysroot.kernel_headers(root).exists() and (root / "usr/bin/lspci").exists()
    assert sysroot.driver_build_deps(root) == ["dkms", "gcc", "make", "kernel headers"]
    assert (root / sysroot.HOST_MARKER).exists()
    assert "ID=ubuntu" in sysroot.OS_RELEASE["docker"] and 'ID="openEuler"' in sysroot.OS_RELEASE["isula"]


def test_a_lab_container_that_does_not_resolve_is_a_lab_error_naming_why():
    # mypy found it: the message read Conflict.message, which does not exist (an AttributeError, not this error)
    c = LabConfig(prefix=PREFIX, cache=Path("/srv/lab-cache"), hosts=(HostSpec("h1", "127.0.0.2", chip="910z"),))
    with pytest.raises(LabError, match=r"container llm-torch on h1 does not resolve:\nunknown chip '910z'"):
        lab_stacks(c, load_matrix())
