"""The lab's CANN provides the libraries the frameworks load (generated from the wheels: ascend_env/lab/cann_libs.py),
so `import torch_npu` works in a converged environment exactly when its LD_LIBRARY_PATH reaches CANN and the driver,
and fails with the loader's real message otherwise; the device queries answer "no device" as without an NPU.  And
the environment's pip holds CANN's Python limits: numpy 2 is refused where CANN 8.2 forbids it.

Named to run after test_lab_e2e (whose faults and second `lab up` precede the converge, as on main) and before
test_lab_multinode, which converges otherwise."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from .conftest import PREFIX

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"
VENV_PY = "/opt/ascend-env/venv/bin/python"


def exec_in(host: str, name: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`docker exec` (t2: the lab's isula client) as a user types it: no shell, the container's own environment
    (CANN's variables set when it was created), plus ``env``."""
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"][host]
    cli = str(hv.get("ascend_container_cli") or "docker")
    flags = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
    return subprocess.run([cli, "exec", *flags, name, *argv], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"]))


IMPORT = "import torch, torch_npu; print('torch_npu', torch_npu.__version__, 'available', torch.npu.is_available())"


def test_torch_npu_imports_in_the_converged_container_and_only_with_the_environment(converged):
    ok = exec_in("t1", "llm-torch", VENV_PY, "-c", IMPORT)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "torch_npu 2.13.0 available False" in ok.stdout
    # the environment deliberately broken: no CANN folder on LD_LIBRARY_PATH -> the loader's own message
    none = exec_in("t1", "llm-torch", VENV_PY, "-c", "import torch_npu", env={"LD_LIBRARY_PATH": "/usr/lib"})
    assert none.returncode != 0 and "libhccl.so: cannot open shared object file" in none.stderr, none.stderr[-2000:]
    # CANN's folder but not the driver's: CANN's libraries load the driver's libascend_hal.so
    home = exec_in("t1", "llm-torch", "printenv", "ASCEND_HOME_PATH").stdout.strip()
    nodrv = exec_in("t1", "llm-torch", VENV_PY, "-c", "import torch_npu", env={"LD_LIBRARY_PATH": f"{home}/lib64"})
    assert nodrv.returncode != 0
    assert "libascend_hal.so: cannot open shared object file" in nodrv.stderr, nodrv.stderr[-2000:]


def test_the_device_answers_no_device_like_the_real_runtime(converged):
    cp = exec_in("t1", "llm-torch", VENV_PY, "-c", "import torch, torch_npu; torch.ones(2).npu()")
    assert cp.returncode != 0
    assert "aclrtGetDeviceCount(&device_count), error code is 207004" in cp.stderr, cp.stderr[-3000:]
    assert "rtGetDeviceCount execute failed, reason=[driver error:no valid device]" in cp.stderr


def test_mindspore_loads_its_ascend_backend_and_finds_no_device(converged):
    cp = exec_in("t2", "llm-ms", VENV_PY, "-c",
                 "import mindspore; mindspore.set_device('Ascend'); mindspore.run_check()")
    out = cp.stdout + cp.stderr
    assert "MindSpore running check failed" in out and "Call rtGetDeviceCount, ret[207004]" in out, out[-3000:]


def test_pip_refuses_numpy_2_where_the_cann_forbids_it(converged):
    before = exec_in("t2", "llm-ms", VENV_PY, "-c", "import numpy; print(numpy.__version__)")
    assert before.returncode == 0 and before.stdout.strip().startswith("1."), before.stdout + before.stderr
    cp = exec_in("t2", "llm-ms", VENV_PY, "-m", "pip", "install", "numpy>=2")
    assert cp.returncode != 0, cp.stdout[-2000:]
    assert "numpy<2.0" in cp.stdout + cp.stderr
    after = exec_in("t2", "llm-ms", VENV_PY, "-c", "import numpy; print(numpy.__version__)")
    assert after.stdout.strip() == before.stdout.strip()
    conf = exec_in("t2", "llm-ms", "cat", "/etc/pip.conf", "/etc/ascend-env-constraints.txt").stdout
    assert "constraint = /etc/ascend-env-constraints.txt" in conf and "\nnumpy<2.0\n" in conf
