"""What a host lacks of the artefact store and how the files travel (ascend_env.artifacts): the plan's files against
the manifest and the host's reading, the record, and the mode with its reason."""

from __future__ import annotations

import pytest

from ascend_env.artifacts import (
    ManifestFile,
    checked_ok,
    host_need,
    manifest_files,
    record_text,
    route,
    setting_word,
    wanted_files,
)

MANIFEST = manifest_files({"files": [
    {"path": "runs/Ascend-cann-toolkit_8.0.RC2_linux-aarch64.run", "size": 600, "sha256": "a" * 64, "mtime": 1},
    {"path": "runs/Ascend-cann-kernels-910b_8.0.RC2_linux.run", "size": 300, "sha256": "b" * 64},
    {"path": "runs/Ascend-cann-nnal_8.0.RC2_linux-aarch64.run", "size": 50, "sha256": "c" * 64},
    {"path": "images/ascend-env-base_bookworm.tar", "size": 90, "sha256": "d" * 64},
    {"path": "wheels/torch-2.1.0-cp39-cp39-linux_aarch64.whl", "size": 200, "sha256": "e" * 64},
    {"path": "wheels/torch_npu-2.1.0.post3-cp39-cp39-linux_aarch64.whl", "size": 20, "sha256": "f" * 64},
    {"path": "wheels/mindspore-2.3.0-cp39-cp39-linux_aarch64.whl", "size": 250, "sha256": "1" * 64},
    {"path": "wheels/mindformers-1.2.0-py3-none-any.whl", "size": 5, "sha256": "2" * 64},
    {"path": "wheels/numpy-1.26.4-cp39-cp39-linux_aarch64.whl", "size": 15, "sha256": "3" * 64},
    {"path": "wheels/py_rattler-0.9.0-cp38-abi3-linux_aarch64.whl", "size": 7, "sha256": "4" * 64},
    {"path": "conda/channel/noarch/repodata.json", "size": 3, "sha256": "5" * 64},
]})
TORCH_HOST = {"runs": ["Ascend-cann-toolkit_8.0.RC2_linux-aarch64.run", "Ascend-cann-kernels-910b_8.0.RC2_linux.run"],
              "frameworks": ["torch"], "conda": False, "containers": True,
              "image_tar": "ascend-env-base_bookworm.tar", "store_dir": "/var/cache/ascend-env/store",
              "shared_store": False}


def paths(files):
    return sorted(f.path for f in files)


def reading(files, recorded=None, **extra):
    """The host's store reading with these files in place (recorded with their sums unless told otherwise)."""
    recorded = files if recorded is None else recorded
    return {"sizes": {f.path: f.size for f in files}, "sums": {f.path: f.sha256 for f in recorded},
            "tools": {"rsync": "/usr/bin/rsync", "rrsync": "/usr/bin/rrsync"}, "fanout_leftover": False, **extra}


def test_a_torch_host_wants_its_installers_the_image_its_framework_wheels_and_the_shared_dependencies():
    wanted, unlisted = wanted_files(TORCH_HOST, MANIFEST)
    assert unlisted == []
    assert paths(wanted) == sorted([
        "runs/Ascend-cann-toolkit_8.0.RC2_linux-aarch64.run", "runs/Ascend-cann-kernels-910b_8.0.RC2_linux.run",
        "images/ascend-env-base_bookworm.tar", "wheels/torch-2.1.0-cp39-cp39-linux_aarch64.whl",
        "wheels/torch_npu-2.1.0.post3-cp39-cp39-linux_aarch64.whl", "wheels/numpy-1.26.4-cp39-cp39-linux_aarch64.whl"])


def test_conda_brings_the_conda_folder_and_its_installer_wheel_and_no_wheels_means_none():
    conda = dict(TORCH_HOST, frameworks=["mindspore"], conda=True)
    got = paths(wanted_files(conda, MANIFEST)[0])
    assert "conda/channel/noarch/repodata.json" in got and "wheels/py_rattler-0.9.0-cp38-abi3-linux_aarch64.whl" in got
    assert "wheels/mindformers-1.2.0-py3-none-any.whl" in got and not any("torch" in p for p in got)
    assert not any(p.startswith("wheels/") for p in paths(wanted_files(TORCH_HOST, MANIFEST, wheels=False)[0]))


def test_a_host_provisioned_itself_gets_no_image_and_a_file_the_manifest_lacks_is_named():
    host_mode = dict(TORCH_HOST, containers=False, runs=[*TORCH_HOST["runs"], "Ascend-cann-toolkit_9.9_linux.run"])
    wanted, unlisted = wanted_files(host_mode, MANIFEST)
    assert not any(p.startswith("images/") for p in paths(wanted))
    assert unlisted == ["runs/Ascend-cann-toolkit_9.9_linux.run"]
    need = host_need(wanted, reading(wanted), unlisted=unlisted)
    assert need.todo and need.to_dict()["unlisted"] == unlisted


def test_an_unchanged_host_has_nothing_to_do_and_says_so_in_a_few_bytes():
    wanted, _ = wanted_files(TORCH_HOST, MANIFEST)
    need = host_need(wanted, reading(wanted))
    assert not need.todo and need.to_dict() == {"todo": False}


def test_missing_or_resized_files_are_sent_and_files_of_the_right_size_unrecorded_are_checked_first():
    wanted, _ = wanted_files(TORCH_HOST, MANIFEST)
    toolkit, kernels = wanted[0], wanted[1]
    present = [f for f in wanted if f is not toolkit]
    r = reading(present, recorded=[f for f in present if f is not kernels])
    r["sizes"]["images/ascend-env-base_bookworm.tar"] = 1                 # a torn image
    need = host_need(wanted, r)
    assert paths(need.send) == sorted([toolkit.path, kernels.path, "images/ascend-env-base_bookworm.tar"])
    assert paths(need.unrecorded) == [kernels.path]                     # right size, no recorded sum
    d = need.to_dict()
    assert d["unrecorded_sums"] == f"{kernels.sha256}  {kernels.path}\n"
    assert d["record"] == record_text(wanted)


def test_a_stale_record_alone_is_rewritten_and_a_leftover_fanout_key_is_work():
    wanted, _ = wanted_files(TORCH_HOST, MANIFEST)
    stale = reading(wanted)
    stale["sums"]["wheels/mindspore-2.3.0-cp39-cp39-linux_aarch64.whl"] = "1" * 64    # a file no longer needed
    need = host_need(wanted, stale)
    assert not need.send and need.stale_record and need.to_dict()["record"] == record_text(wanted)
    left = host_need(wanted, reading(wanted, fanout_leftover=True))
    assert left.todo and left.leftover and left.to_dict()["record"] is None


def test_a_shared_store_is_compared_by_size_and_never_recorded():
    wanted, _ = wanted_files(TORCH_HOST, MANIFEST)
    r = reading(wanted, recorded=[])                                     # no record on a shared store
    assert not host_need(wanted, r, shared=True).todo
    r["sizes"].pop(wanted[0].path)
    need = host_need(wanted, r, shared=True)
    assert paths(need.send) == [wanted[0].path] and need.to_dict()["record"] is None and not need.unrecorded


def test_the_record_is_sha256sums_format_sorted_by_path():
    a, b = ManifestFile("wheels/b.whl", 1, "b" * 64), ManifestFile("runs/a.run", 2, "a" * 64)
    assert record_text([a, b]) == f"{'a' * 64}  runs/a.run\n{'b' * 64}  wheels/b.whl\n"


def test_checked_ok_reads_sha256sum_check_output():
    out = "runs/a.run: OK\nwheels/b.whl: FAILED\nimages/c.tar: FAILED open or read\n"
    assert checked_ok(out) == {"runs/a.run"}


@pytest.mark.parametrize(("value", "word"), [(True, "true"), (False, "false"), ("auto", "auto"), ("Yes", "true"),
                                              ("no", "false"), ("FALSE", "false")])
def test_setting_word(value, word):
    assert setting_word(value) == word


TOOLS = ("rsync", "ssh", "ssh-keygen")
BUNDLE = {"runs/t.run": 600_000_000, "wheels/torch.whl": 200_000_000}


def hosts_tools(*names, tools=("rsync", "rrsync")):
    return {h: tools for h in names}


def test_fanout_when_more_than_one_host_lacks_the_same_file():
    sends = {h: dict(BUNDLE) for h in ("a", "b", "c", "d")}
    r = route(sends, "auto", controller_tools=TOOLS, host_tools=hosts_tools(*sends))
    assert r.mode == "fanout"
    assert r.line == ("artefacts: fanout (4 hosts need files, 2 of them (800 MB) by more than one: the controller "
                      "sends each file once, hosts that hold a verified copy serve the others, 3 wave(s))")


def test_direct_when_no_file_is_shared_or_the_setting_says_false_or_nothing_is_needed():
    assert route({"a": dict(BUNDLE), "b": {"wheels/x.whl": 1}}, "auto", controller_tools=TOOLS,
                 host_tools=hosts_tools("a", "b")).line == \
        "artefacts: direct (no file is needed by more than one host this run)"
    assert route({"a": {}, "b": {}}, "auto").why == "no file is needed by more than one host this run"
    assert route({"a": dict(BUNDLE), "b": dict(BUNDLE)}, False).line == \
        "artefacts: direct (ascend_artifacts_fanout is false: every host gets its files from the controller)"


def test_missing_tools_fall_back_to_direct_or_make_a_required_fanout_impossible():
    sends = {"a": dict(BUNDLE), "b": dict(BUNDLE), "c": {}}
    tools = {"a": ("rsync", "rrsync"), "b": ("rsync",), "c": ()}            # c needs nothing: its tools do not matter
    auto = route(sends, "auto", controller_tools=("ssh", "ssh-keygen"), host_tools=tools)
    assert auto.mode == "direct"
    assert auto.why == ("the controller has no rsync (apt-get install rsync); b has no rrsync (install the rsync "
                        "package there); each host gets its files from the controller instead")
    assert route(sends, "true", controller_tools=("ssh", "ssh-keygen"), host_tools=tools).mode == "impossible"


def test_a_shared_store_copies_nothing_and_is_named_with_its_path():
    r = route({}, "auto", shared={"a": "/mnt/store", "b": "/mnt/store"})
    assert r.line == ("artefacts: shared (ascend_artifacts_shared_path /mnt/store: the hosts read the controller's "
                      "store there; nothing is copied)")
    mixed = route({"c": dict(BUNDLE)}, "auto", shared={"a": "/mnt/store"}, controller_tools=TOOLS,
                  host_tools=hosts_tools("c"))
    assert mixed.mode == "direct" and mixed.why.endswith("; 1 host(s) read the shared store at /mnt/store")
