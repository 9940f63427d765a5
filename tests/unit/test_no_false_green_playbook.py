"""site.yml / playbooks/preflight.yml with an inventory that yields no NPU host, or two hosts that are one machine:
a failure naming the file (or both hosts), never "no hosts matched" and exit 0 (issue 24)."""

from __future__ import annotations

import pytest

from tests.unit.test_playbook_preflight import run_playbook

pytestmark = pytest.mark.skipif(run_playbook is None, reason="no ansible-playbook")

_HOST = ("      ascend_chip: 910b\n      ascend_arch: aarch64\n"
         "      ascend_containers: [{name: pt, framework: torch, pins: {cann: '8.0.RC1'}}]\n")


def _said(r) -> str:
    return " ".join((r.stdout + r.stderr).split())


@pytest.mark.parametrize("content", [None, "", "- a\n- b\n", "all:\n  vars: {x: 1}\n", "all: [\n",
                                     "other:\n  hosts:\n    h1: {}\n", b"\xff\xfe: x\n"],
                         ids=["missing", "empty", "list", "hostless", "broken", "no-ascend_hosts", "not-utf8"])
def test_an_inventory_without_ascend_hosts_fails_naming_the_file(tmp_path, content):
    inv = tmp_path / "hosts.yml"
    if isinstance(content, bytes):
        inv.write_bytes(content)
    elif content is not None:
        inv.write_text(content)
    r = run_playbook(inv)
    said = _said(r)
    assert r.returncode != 0, said[-2000:]
    assert str(inv) in said
    assert "Traceback" not in said


def test_two_hosts_with_the_same_address_and_port_are_refused_naming_both(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("ascend_hosts:\n  hosts:\n"
                   f"    npu-a:\n      ansible_host: 192.0.2.10\n{_HOST}"
                   f"    npu-b:\n      ansible_host: 192.0.2.10\n{_HOST}")
    r = run_playbook(inv)
    said = _said(r)
    assert r.returncode != 0, said[-2000:]
    assert "npu-b: ansible_host '192.0.2.10': host npu-a has the same address and SSH port (192.0.2.10:22)" in said
    assert "Fix: list each server once: remove npu-b or npu-a" in said


def test_a_bad_ansible_port_is_refused_by_the_preflight(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(f"ascend_hosts:\n  hosts:\n    npu-a:\n      ansible_host: 192.0.2.10\n      ansible_port: 70000\n"
                   f"{_HOST}")
    r = run_playbook(inv)
    said = _said(r)
    assert r.returncode != 0
    assert "npu-a: ansible_port 70000: is out of range 1-65535" in said
