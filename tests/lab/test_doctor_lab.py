"""The doctor against the lab: healthy hosts and containers are all ✓; every fault and broken setup is found
with the right fix.  Containers are made on the lab host t1 with its own dockerd, as the container role does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ascend_env.lab import installers

from .conftest import PREFIX, REPO, lab

pytestmark = pytest.mark.usefixtures("lab_up")
T1 = PREFIX / "hosts/t1/root"
STORE = PREFIX / "store"
ENV_OK = {"ASCEND_TOOLKIT_HOME": "/usr/local/Ascend/ascend-toolkit/latest",
          "ASCEND_OPP_PATH": "/usr/local/Ascend/ascend-toolkit/latest/opp",
          "LD_LIBRARY_PATH": "/usr/local/Ascend/ascend-toolkit/latest/lib64:/usr/local/Ascend/driver/lib64/driver"}


def docker_env() -> dict[str, str]:
    return dict(os.environ, DOCKER_HOST=f"unix://{PREFIX}/hosts/t1/run/docker.sock")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run(["docker", *args], capture_output=True, text=True, env=docker_env(), timeout=300)
    if check and cp.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {cp.stderr}")
    return cp


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", *args], capture_output=True,
                        text=True, cwd=REPO, env=env or docker_env(), timeout=300)
    assert cp.returncode in (0, 1, 2), cp.stderr
    return cp.returncode, json.loads(cp.stdout)


def by_id(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for t in doc["targets"] for c in t["checks"]}


def make_container(name: str, devices=("davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"),
                   env: dict[str, str] | None = None, cann: str = "8.1.RC1", kernels_chip: str = "910b",
                   shm: str = "1g") -> None:
    docker("rm", "-f", name, check=False)
    argv = ["run", "-d", "--name", name, "--network=host", f"--shm-size={shm}"]
    argv += [f"--device={T1}/dev/{d}:/dev/{d}" for d in devices]
    argv += ["-v", f"{T1}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
             "-v", f"{T1}/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
             "-v", f"{T1}/etc/ascend_install.info:/etc/ascend_install.info:ro", "-v", f"{STORE}:/store:ro"]
    for k, v in (ENV_OK if env is None else env).items():
        argv += ["-e", f"{k}={v}"]
    docker(*argv, "ascend-env/base:bookworm", "sleep", "infinity")
    runs = STORE / "runs"
    tk = f"Ascend-cann-toolkit_{cann}_linux-x86_64.run"
    if not (runs / tk).exists() or not list(runs.glob(f"Ascend-cann-kernels-{kernels_chip}_{cann}_*")):
        lab("store", "--cann", cann)
    kern = next(runs.glob(f"Ascend-cann-kernels-{kernels_chip}_{cann}_*")).name
    cp = docker("exec", name, "bash", "-c", f"bash /store/runs/{tk} --install --quiet && "
                f"bash /store/runs/{kern} --install --quiet")
    assert "install success" in cp.stdout + cp.stderr or cp.returncode == 0


@pytest.fixture(scope="module")
def healthy():
    make_container("doc-ok")
    yield "doc-ok"
    docker("rm", "-f", "doc-ok", check=False)


def test_healthy_hosts_are_all_ok():
    code, doc = doctor("--inventory", str(PREFIX / "inventory/hosts.yml"))
    bad = [(t["name"], c["id"], c["summary"]) for t in doc["targets"] for c in t["checks"] if c["status"] != "ok"]
    assert code == 0 and bad == []
    assert [t["name"] for t in doc["targets"]] == ["t1", "t2", "t3"]


def test_healthy_container_is_all_ok_but_for_what_launchers_get(healthy):
    """Made as the seeds make it (-e for three of CANN's variables, set_env.sh in no startup file): every check is ok
    except the launcher group, which names what `docker exec` and `ssh host CMD` lack of the installed CANN."""
    code, doc = doctor("--container", healthy, "--chip", "910b")
    bad = [(c["id"], c["summary"]) for c in doc["checks"] if c["status"] != "ok" and c["group"] != "launcher"]
    assert bad == []
    ids = by_id(doc)
    assert ids["cann.toolkit"]["summary"].startswith("CANN toolkit 8.1.RC1")
    assert "devices.nodes" in ids and "python.version" in ids
    exe, ssh = ids["launcher.exec"], ids["launcher.ssh"]
    assert code == 1 and exe["status"] == "fail" and ssh["status"] == "fail"
    assert "ASCEND_HOME_PATH unset" in exe["detail"] and "ASCEND_OPP_PATH" not in exe["detail"]   # it has that one
    assert "ASCEND_OPP_PATH unset" in ssh["detail"] and "at the TOP of both" in ssh["fix"]
    assert "--tags container" in exe["fix"]


def test_expected_stack_is_compared(healthy):
    code, doc = doctor("--container", healthy, "--expect", "cann=8.1.RC1,driver=25.0.rc1.1", "--only", "expect")
    assert code == 0 and by_id(doc)["expect.cann"]["status"] == "ok"
    code, doc = doctor("--container", healthy, "--expect", "cann=8.0.RC3")
    c = by_id(doc)["expect.cann"]
    assert code == 1 and c["summary"] == "cann: expected 8.0.RC3, found 8.1.RC1"


def test_missing_device_mapping_in_a_container_names_the_flag():
    make_container("doc-nomgr", devices=("davinci0", "devmm_svm", "hisi_hdc"))
    try:
        code, doc = doctor("--container", "doc-nomgr")
        ids = by_id(doc)
        assert code == 1
        assert ids["devices.managers"]["status"] == "fail"
        assert "--device=/dev/davinci_manager" in ids["devices.managers"]["fix"]
        assert "dcmi module initialize failed" in ids["npu_smi.runs"]["summary"]
    finally:
        docker("rm", "-f", "doc-nomgr", check=False)


def test_set_env_not_sourced():
    make_container("doc-noenv", env={})
    try:
        _, doc = doctor("--container", "doc-noenv")
        ids = by_id(doc)
        assert ids["cann.env"]["status"] == "fail"
        assert ids["cann.env"]["fix"].startswith("source /usr/local/Ascend/ascend-toolkit/set_env.sh")
        assert "libdrvdsmi_host.so" in ids["npu_smi.runs"]["summary"]
        assert "LD_LIBRARY_PATH=/usr/local/Ascend/driver/lib64/driver" in ids["npu_smi.runs"]["fix"]
    finally:
        docker("rm", "-f", "doc-noenv", check=False)


def test_kernels_for_another_chip():
    make_container("doc-310k", kernels_chip="310p")
    try:
        code, doc = doctor("--container", "doc-310k", "--chip", "910b")
        c = by_id(doc)["cann.kernels.chip"]
        assert code == 1 and c["status"] == "fail" and "ascend310p" in c["summary"]
        assert "Ascend-cann-kernels-910b_8.1.RC1" in c["fix"]
    finally:
        docker("rm", "-f", "doc-310k", check=False)


def test_python_outside_the_cann_range(tmp_path):
    """CANN 8.0.RC1 supports Python 3.7-3.9.7; bookworm's python3 is 3.11 (installed with a 3.9.7 shim)."""
    run = installers.build_cann_package("toolkit", "8.0.RC1", "x86_64", tmp_path)
    docker("rm", "-f", "doc-py", check=False)
    docker("run", "-d", "--name", "doc-py", "--network=host", "-v", f"{tmp_path}:/pkgs:ro",
           "ascend-env/base:bookworm", "sleep", "infinity")
    try:
        shim = "mkdir -p /tmp/shim && printf '#!/bin/sh\\necho Python 3.9.7\\n' > /tmp/shim/python3 && " \
               "chmod +x /tmp/shim/python3 && ln -sf python3 /tmp/shim/python3.9"
        docker("exec", "doc-py", "bash", "-c", f"{shim} && PATH=/tmp/shim:$PATH bash /pkgs/{run.name} --install "
               "--quiet")
        code, doc = doctor("--container", "doc-py", "--only", "python")
        c = by_id(doc)["python.version"]
        assert code == 1 and c["status"] == "fail"
        assert "outside CANN 8.0.RC1's range" in c["summary"]
    finally:
        docker("rm", "-f", "doc-py", check=False)


FAULTS = [
    (("t1", "missing-device", "--device", "2"), "t1", "devices.match", "davinci2"),
    (("t1", "card-lost", "--device", "5"), "t1", "devices.pci", "1 of 8 NPU PCI function(s) not shown by npu-smi"),
    (("t2", "chip-unhealthy", "--device", "1", "--health", "Critical"), "t2", "npu.health", "NPU 0 chip 1 Critical"),
    (("t2", "fw-mismatch"), "t2", "driver.firmware", "do not match"),
    (("t1", "driver-too-old"), "t1", "driver.firmware", "driver 24.1.rc1 and firmware 7.7.0.1.231 do not match"),
    (("t1", "npu-smi-libpath"), "t1", "npu_smi.runs", "even with"),
    (("t2", "disk-full", "--free-mb", "20"), "t2", "system.disk", "GiB free"),
]


@pytest.mark.parametrize(("fault", "host", "check_id", "needle"), FAULTS, ids=[f[0][1] for f in FAULTS])
def test_each_lab_fault_is_found_with_a_fix(fault, host, check_id, needle):
    lab("fault", *fault)
    try:
        code, doc = doctor("--inventory", str(PREFIX / "inventory/hosts.yml"), "--limit", host)
        c = by_id(doc)[check_id]
        assert code == 1 and c["status"] == "fail", c
        assert needle in c["summary"] + c["detail"], c
        assert c["fix"]
    finally:
        lab("fault", host, "--clear", "all")


@pytest.fixture(scope="module")
def wheels():
    """torch 2.13.0 (CPU, from the machine's wheelhouse) and torch_npu 2.13.0 (PyPI) in the lab's store."""
    lab("store", "--wheels", "torch==2.13.0", "torch-npu==2.13.0", timeout=1800)
    return STORE / "wheels"


def test_torch_npu_without_cann_libraries_gives_the_real_error_and_its_cause(wheels):
    """The real failure: torch_npu installed, CANN not (reproduced, see docs/research/framework-errors.md)."""
    name = "doc-torch"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network=host", "-v", f"{STORE}:/store:ro",
           *[f"--device={T1}/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")],
           "-v", f"{T1}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
           "ascend-env/base:bookworm", "sleep", "infinity")
    try:
        docker("exec", name, "bash", "-c", "python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --no-index "
               "--find-links /store/wheels torch==2.13.0 torch-npu==2.13.0")
        code, doc = doctor("--container", name, "--python", "/opt/venv/bin/python", "--chip", "910b")
        got = by_id(doc)
        imp = got["frameworks.import.torch_npu"]
        assert code == 1 and imp["status"] == "fail"
        assert "libhccl.so: cannot open shared object file" in imp["detail"]
        assert "set_env.sh" in imp["fix"] and "CANN" in imp["summary"]
        assert got["cann.toolkit"]["status"] == "fail"      # and the reason: no toolkit in the container
        assert got["frameworks.versions"]["summary"].startswith("torch 2.13.0+cpu, torch_npu 2.13.0")
    finally:
        docker("rm", "-f", name, check=False)


def test_mindspore_asked_for_ascend_without_cann():
    """The real failure: MindSpore's Ascend plugin cannot load without CANN ("Unsupported device target Ascend")."""
    lab("store", "--wheels", "mindspore==2.10.0", timeout=3600)
    name = "doc-ms"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network=host", "-v", f"{STORE}:/store:ro",
           *[f"--device={T1}/dev/{d}:/dev/{d}" for d in ("davinci0", "davinci_manager", "devmm_svm", "hisi_hdc")],
           "-v", f"{T1}/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
           "ascend-env/base:bookworm", "sleep", "infinity")
    try:
        docker("exec", name, "bash", "-c", "python3 -m venv /opt/ms && /opt/ms/bin/pip install -q --no-index "
               "--find-links /store/wheels mindspore==2.10.0")
        # the base image is minbase: no libgomp1, which MindSpore links from the system (found here, first)
        code, doc = doctor("--container", name, "--python", "/opt/ms/bin/python", "--only", "frameworks")
        imp = by_id(doc)["frameworks.import.mindspore"]
        assert code == 1 and "libgomp.so.1" in imp["detail"] and imp["fix"].startswith("apt-get install -y libgomp1")
        docker("exec", name, "bash", "-c", "apt-get update -qq && apt-get install -y -qq libgomp1")
        code, doc = doctor("--container", name, "--python", "/opt/ms/bin/python", "--only", "frameworks")
        imp = by_id(doc)["frameworks.import.mindspore"]
        assert code == 1 and imp["status"] == "fail", imp
        assert "Unsupported device target Ascend" in imp["detail"] or "libge_runner.so" in imp["detail"], imp
        assert "set_env.sh" in imp["fix"]
    finally:
        docker("rm", "-f", name, check=False)


def test_fleet_with_containers_over_ssh(healthy):
    """--inventory --containers: each host, and each of its ascend_containers through the host's engine."""
    docker("rename", healthy, "llm-torch")     # the name the lab inventory gives t1's container
    try:
        code, doc = doctor("--inventory", str(PREFIX / "inventory/hosts.yml"), "--containers", "--limit", "t1",
                           "--chip", "910b", "--only", "devices,driver,npu,network,cann,python,frameworks,system")
        names = [t["name"] for t in doc["targets"]]
        assert names == ["t1", "t1/llm-torch"]
        cont = {c["id"]: c for c in doc["targets"][1]["checks"]}
        assert cont["cann.toolkit"]["status"] == "ok" and code == 0
    finally:
        docker("rename", "llm-torch", healthy)
