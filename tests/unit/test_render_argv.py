"""``render_container_argv`` builds the argv in Python (issue 21); it is byte-for-byte the argv the Jinja template it
replaced rendered (templates/container_run.argv.j2 -> YAML -> list).

``data/container_argv.json`` holds that template's argv for 77 specs -- 7 written by hand and 70 generated (docker
and isula, ascend_runtime with and without oci_runtime, manager devices, the driver dir, info mounts, ports
v4/v6/udp, mounts, env and labels with spaces, quotes, backslashes, Jinja/YAML/HTML syntax, control and non-ASCII
characters, commands with line breaks and empty arguments, every option on or off) -- written by the template path
before it was removed (commit "render: render_container_argv builds the argv list in Python" compared the two on
6,000 generated specs).  A change to the command line a container is run with shows here first: make it on
purpose, and update the file with the new argv.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ascend_env.render import ContainerSpec, render_container_argv, spec_hash

GOLDEN = json.loads((Path(__file__).parent / "data" / "container_argv.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{i}-{c['spec'].get('runtime', 'docker')}"
                                              for i, c in enumerate(GOLDEN)])
def test_the_argv_is_what_the_template_rendered(case: dict[str, Any]) -> None:
    assert render_container_argv(ContainerSpec.from_dict(case["spec"])) == case["argv"]


def test_the_golden_cases_cover_what_differs_between_specs() -> None:
    specs = [c["spec"] for c in GOLDEN]
    for key, value in (("runtime", "isula"), ("ascend_runtime", True), ("detach", False), ("ipc_host", False),
                       ("mount_driver_dir", True), ("info_mounts", False), ("privileged", True), ("hisi_hdc", False)):
        assert any(s.get(key) == value for s in specs), key
    for key in ("ports", "mounts", "env", "labels", "command", "oci_runtime", "shm_size", "pids_limit", "restart",
                "user", "workdir", "device_dir", "host_driver_dir"):
        assert any(s.get(key) for s in specs), key


#: spec_hash of the hand-written cases (the first 7) before the argv builder (computed on the lead branch at 77a70bd):
#: the hash is of the spec, not of the argv, and must not move -- a new hash would make the role recreate every
#: container on the upgrade
HASHES_BEFORE = ["9f10ea47ac93690e", "c242e13c6f7c6a50", "a049e9c2eca18de3", "103f9b85a152d067", "2dc0d03515c1c09b",
                 "4e80d62a12d8aaca", "b3f928e81706695c"]


@pytest.mark.parametrize(("case", "expected"), list(zip(GOLDEN, HASHES_BEFORE, strict=False)))
def test_the_spec_hash_is_unchanged(case: dict[str, Any], expected: str) -> None:
    assert spec_hash(ContainerSpec.from_dict(case["spec"])) == expected
