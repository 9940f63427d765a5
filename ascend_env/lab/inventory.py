"""The Ansible inventory the lab writes for itself (pure rendering; lab.py writes the file)."""

from __future__ import annotations

import platform
from typing import Any

import yaml

from ..versions import Arch
from .config import HostSpec, LabConfig
from .image import image_tar_name, variant_ref
from .layout import LabPaths
from .sysroot import ISULA_PATH

#: Containers the lab's inventory asks for: one torch and one MindSpore environment, alternating over hosts.
#: Python 3.11 is Debian bookworm's python3 (the base image); torch 2.13.0 is the CPU wheel this machine's
#: wheelhouse holds (a torch resolved without a pin would be a multi-GB CUDA build from PyPI).
LAB_CONTAINERS: tuple[dict[str, Any], ...] = (
    {"name": "llm-torch", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}},
    # PyPI has cp311 MindSpore wheels from 2.7.0 on (docs/research/framework-errors.md).
    {"name": "llm-ms", "framework": "mindspore", "pins": {"python": "3.11", "mindspore": "2.7.0"}},
)
#: The container of a host with ``conda: true``: MindSpore 2.7.0 (CANN 8.2.RC1) on Python 3.9, not the image's 3.11,
#: in a conda environment made by rattler from the store's channel (PyPI has MindSpore 2.7.0's cp39 wheel; MindFormers
#: 1.6.0 wants 3.11.4, so it is left out).
LAB_CONDA_CONTAINER: dict[str, Any] = {"name": "llm-conda", "framework": "mindspore", "python_provider": "conda",
                                       "pins": {"python": "3.9", "mindspore": "2.7.0", "mindformers": "none"}}


def lab_container(spec: HostSpec, index: int) -> dict[str, Any]:
    """The container the lab's inventory gives host number ``index``."""
    return dict(LAB_CONDA_CONTAINER if spec.conda else LAB_CONTAINERS[index % len(LAB_CONTAINERS)])


def machine_arch() -> Arch:
    return Arch.parse(platform.machine())


def host_vars(spec: HostSpec, index: int, cfg: LabConfig, lp: LabPaths, pubkey: str | None = None) -> dict[str, Any]:
    hp = lp.host(spec.name)
    engine: dict[str, Any] = {"ascend_container_runtime": spec.runtime}
    if spec.chip == "910b" and sum(h.chip == "910b" and h.group == spec.group for h in cfg.hosts) >= 2:
        # two or more 910B hosts make a multi-node job: the fleet's rank table, and the cross-host all_reduce
        engine["ascend_ranktable_enabled"] = True
    if not spec.containers:  # host mode: the environment is built in the host's own filesystem view
        engine["ascend_container_enabled"] = False
    if spec.runtime == "isula":  # the shim lives in the host's filesystem view, like iSulad's /usr/bin/isula
        engine["ascend_container_cli"] = str(hp.root / ISULA_PATH)
    if spec.image != "debian" and spec.containers:  # a variant of the base image (its own tar in the store)
        engine["ascend_container_image"] = variant_ref(cfg.suite, spec.image)
        engine["ascend_container_image_tar"] = image_tar_name(cfg.suite, spec.image)
        engine["ascend_artifacts_images"] = [image_tar_name(cfg.suite, spec.image)]
    return {
        "ansible_host": spec.address,
        "ansible_port": cfg.ssh_port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(lp.client_key),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={lp.known_hosts} -o StrictHostKeyChecking=yes",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ascend_chip": spec.chip,
        "ascend_arch": machine_arch().cann,
        "ascend_host_pins": {"driver": spec.driver, "firmware": spec.firmware},
        # The simulated host's filesystem view and Docker engine (on real hardware: "/" and the default engine).
        "ascend_host_root": str(hp.root),
        "ascend_docker_host": f"unix://{hp.docker_sock}",
        **engine,
        "ascend_npu_smi_path": "/" + spec.npu_smi_dir + "/npu-smi",
        "ascend_offline_store": str(lp.store),
        "ascend_containers": [lab_container(spec, index)],
        # Containers let in the lab's own key (on real fleets: the controller's public key).
        "ascend_ssh_authorized_keys": [pubkey] if pubkey else [],
    }


def render_inventory(cfg: LabConfig, lp: LabPaths, pubkey: str | None = None) -> str:
    hosts = {spec.name: host_vars(spec, i, cfg, lp, pubkey) for i, spec in enumerate(cfg.hosts)
             if spec.group == "ascend_hosts"}
    doc: dict[str, Any] = {
        # for every host and every container the run adds: the lab has no NPU, so frameworks verify on the CPU
        "all": {"vars": {"ascend_framework_check_device": "cpu", "ascend_smoke_device": "cpu"}},
        # the lab's hosts are never rebooted (a driver/firmware install with ascend_driver_manage=true says a reboot
        # is owed instead)
        "ascend_hosts": {"hosts": hosts, "vars": {"ascend_lab": True, "ascend_driver_reboot": False}},
    }
    # spare hosts (lab config `group:`): reachable like the others, but not in ascend_hosts, so site.yml leaves them
    # alone until a test puts them in an inventory of its own
    for i, spec in enumerate(cfg.hosts):
        if spec.group != "ascend_hosts":
            doc.setdefault(spec.group, {"hosts": {}, "vars": {"ascend_lab": True, "ascend_driver_reboot": False}})
            doc[spec.group]["hosts"][spec.name] = host_vars(spec, i, cfg, lp, pubkey)
    head = ("# Written by `python -m ascend_env lab up`; rewritten on every lab up.\n"
            f"# ansible-playbook site.yml -i {lp.inventory}\n---\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
