"""Real ``npu-smi`` output from public bug reports, docs and test fixtures (tests/unit/data/npu_smi/SOURCES.md has
the source of each file): drivers 23.0.rc1 .. 25.3.rc1; 910B1/B2/B2C/B4/B4-1, 910ProB, A3, 310P3 (300I Duo, 300I
Pro), 310B4.  Each table must be read whole; what a paste garbled becomes unknown with a warning, never a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.probe.npu_smi import (
    NpuSmiParseError,
    detect_loader_error,
    parse_info,
    parse_info_m,
    parse_kv_block,
    parse_kv_sections,
)

DATA = Path(__file__).parent / "data" / "npu_smi"

# file -> (version, NPU ids, chips per card, names, healths of every chip in order, first bus ids, process count,
#          idle NPUs, the warnings' count)
CASES = {
    "real_300iduo-310p3_24.1.0.1_nputop-yeahjack.txt":
        ("24.1.0.1", [1, 2], 2, {"310P3"}, ["OK"] * 4, ["0000:01:00.0", "0000:01:00.0", "0000:02:00.0"], 4, (), 0),
    "real_300iduo-310p3_24.1.rc2_host-vs-container_partial_ollama-5315.txt":
        ("24.1.rc2", [1], 2, {"310P3"}, ["OK", "OK"], ["0000:01:00.0", "0000:01:00.0"], 0, (), 1),
    "real_300iduo-310p3_25.0.rc1.b033_critical_vllm-ascend-3316.txt":
        ("25.0.rc1.b033", [1, 2, 4, 5], 2, {"310P3"}, ["OK"] * 4 + ["Critical"] + ["OK"] * 3,
         ["0000:01:00.0", "0000:01:00.0", "0000:02:00.0"], 0, (1, 2, 4, 5), 0),
    "real_300ipro-310p3_25.3.rc1_single-npu6_doc.txt":
        ("25.3.rc1", [6], 1, {"310P3"}, ["OK"], ["0000:84:00.0"], 0, (6,), 0),
    "real_310b4_23.0.0_nputop.txt":
        ("23.0.0", [0], 1, {"310B4"}, ["Alarm"], [None], 0, (), 0),
    "real_310p3-as-910layout_25.0.rc1.1_ocr-collapsed_vllm-ascend-1141.txt":
        ("25.0.rc1.1", [0, 1, 2, 3], 1, {"310P3"}, ["OK"] * 4, ["0000:81:00.0", "0000:41:00.0", "0000:82:00.0"], 0,
         (), 4),
    "real_910-xxx_23.0.5_health-warning-overflow_elided_mindcluster-doc.txt":
        ("23.0.5", [0, 7], 1, {"xxx"}, ["Warning", "OK"], ["0000:61:00.0", "0000:3D:00.0"], 0, (0, 7), 2),
    "real_910b1_23.0.rc2.b090_elided_llm-action.txt":
        ("23.0.rc2.b090", [0, 7], 1, {"910B1"}, ["OK", "OK"], ["0000:C1:00.0", "0000:42:00.0"], 2, (), 1),
    "real_910b1_23.0.rc2_elided_arthurchiao-blog.txt":
        ("23.0.rc2", [0, 1, 7], 1, {"910B1"}, ["OK"] * 3, ["0000:C1:00.0", "0000:01:00.0", "0000:42:00.0"], 0, (), 1),
    "real_910b2_24.1.0_interleaved-commands_partial_vllm-ascend-5707.txt":
        ("24.1.0", [0, 1], 1, {"910B2"}, ["OK", "OK"], ["0000:C1:00.0", "0000:01:00.0"], 0, (), 3),
    "real_910b2c-16npu_25.0.rc1.2.sph001_vllm-ascend-3289.txt":
        ("25.0.rc1.2.sph001", list(range(16)), 1, {"910B2C"}, ["OK"] * 16,
         ["0000:5A:00.0", "0000:19:00.0", "0000:49:00.0"], 0, tuple(range(16)), 0),
    "real_910b2c_23.0.2.1_nputop.txt":
        ("23.0.2.1", [0, 1], 1, {"910B2C"}, ["OK", "OK"], ["0000:5A:00.0", "0000:19:00.0"], 1, (), 0),
    "real_910b2c_25.0.rc1.2_busid-func02_2procs-same-chip_gpustat.txt":
        ("25.0.rc1.2", [0, 1], 1, {"910B2C"}, ["OK", "OK"], ["0000:6B:02.0", "0000:65:02.0"], 3, (), 0),
    "real_910b4-1_25.2.0_masked-busid_truncated_hami-webui-47.txt":
        ("25.2.0", [0, 1], 1, {"910B4-1"}, ["OK", "OK"], [None, None], 0, (), 2),
    "real_910b4-64g_25.0.rc1.1_masked-busid-xxxx_doc.txt":
        ("25.0.rc1.1", [0], 1, {"910B4"}, ["OK"], [None], 0, (), 1),
    "real_910b4_23.0.6_vllm-ascend-1999.txt":
        ("23.0.6", [1, 2, 3, 4], 1, {"910B4"}, ["OK"] * 4, ["0000:01:00.0", "0000:C2:00.0", "0000:02:00.0"], 0,
         (1, 2, 3, 4), 0),
    "real_910prob_23.0.rc1_narrow-namecol_blankline-before-procs_blog.txt":
        ("23.0.rc1", [0], 1, {"910ProB"}, ["OK"], ["0000:C1:00.0"], 1, (), 0),
    "real_910prob_24.1.0_ddr-and-hbm_prompt_vllm-ascend-1047.txt":
        ("24.1.0", list(range(8)), 1, {"910ProB"}, ["OK"] * 8, ["0000:C1:00.0", "0000:81:00.0", "0000:41:00.0"], 0,
         tuple(range(8)), 0),
    "real_a3-ascend910-16die_25.3.rc1_empty-procname_vllm-ascend-4266.txt":
        ("25.3.rc1", list(range(8)), 2, {"Ascend910"}, ["OK"] * 16, ["0000:9D:00.0", "0000:9F:00.0", "0000:99:00.0"],
         4, (2, 3, 4, 5, 6, 7), 0),
    "real_a3-ascend910_25.2.0_nputop.txt":
        ("25.2.0", [0, 1], 2, {"Ascend910"}, ["OK"] * 4, ["0000:9C:00.0", "0000:9E:00.0", "0000:37:00.0"], 1, (0,), 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_tables_are_read_whole(name):
    version, ids, per_card, names, healths, buses, procs, idle, warnings = CASES[name]
    info = parse_info((DATA / name).read_text(encoding="utf-8"))
    assert info.version == version
    assert [c.npu_id for c in info.cards] == ids
    assert {len(c.chips) for c in info.cards} == {per_card}
    assert {c.name for c in info.cards} == names
    assert [ch.health for c in info.cards for ch in c.chips] == healths
    assert [ch.bus_id for c in info.cards for ch in c.chips][:len(buses)] == buses
    assert (len(info.processes), info.idle_npus) == (procs, idle)
    assert len(info.warnings) == warnings, info.warnings


def test_every_real_table_has_a_case():
    from test_npu_smi_layouts import NEW  # the layouts added for issue 20 have their cases there

    tables = {p.name for p in DATA.glob("real_*.txt")
              if "info-" not in p.name and "error" not in p.name}
    assert tables == set(CASES) | set(NEW)


def test_details_that_vary_by_release():
    a3 = parse_info((DATA / "real_a3-ascend910-16die_25.3.rc1_empty-procname_vllm-ascend-4266.txt").read_text())
    assert [ch.device_id for ch in a3.cards[5].chips] == [10, 11]          # two-digit Phy-IDs
    assert a3.processes[0].name == "" and a3.processes[0].memory_mb == 43266   # container processes: no name
    sph = parse_info((DATA / "real_910b2c-16npu_25.0.rc1.2.sph001_vllm-ascend-3289.txt").read_text())
    assert (sph.tool_version, sph.version) == ("25.0.rc1.2", "25.0.rc1.2.sph001")   # the hot patch only in Version
    prob = parse_info((DATA / "real_910prob_24.1.0_ddr-and-hbm_prompt_vllm-ascend-1047.txt").read_text())
    chip = prob.cards[0].chips[0]
    assert (chip.memory_used_mb, chip.memory_total_mb, chip.hbm_used_mb, chip.hbm_total_mb) == (2387, 13553, 18, 32768)
    duo = parse_info((DATA / "real_300iduo-310p3_24.1.0.1_nputop-yeahjack.txt").read_text())
    assert (duo.cards[0].hugepages_used, duo.cards[0].hugepages_total) == (7210, 7210)
    assert duo.processes[0].name == "mindie_llm_back"
    b310 = parse_info((DATA / "real_310b4_23.0.0_nputop.txt").read_text())
    assert b310.cards[0].power == 0.0 and b310.cards[0].chips[0].memory_total_mb == 15609
    ocr = parse_info((DATA / "real_310p3-as-910layout_25.0.rc1.1_ocr-collapsed_vllm-ascend-1141.txt").read_text())
    assert all("'0K' (a zero) read as OK" in w for w in ocr.warnings)
    masked = parse_info((DATA / "real_910b4-1_25.2.0_masked-busid_truncated_hami-webui-47.txt").read_text())
    assert all("'0000:xx:00.0' is redacted" in w for w in masked.warnings)
    gpustat = parse_info((DATA / "real_910b2c_25.0.rc1.2_busid-func02_2procs-same-chip_gpustat.txt").read_text())
    assert [(p.npu_id, p.chip_id, p.name) for p in gpustat.processes[:2]] == [(0, 0, "rayWorkerDict"),
                                                                             (0, 0, "VLLMWorker_TP")]


def test_real_mapping_and_key_value_blocks():
    rows = parse_info_m((DATA / "real_910a_23.0.5_info-m_tab-indented_mindcluster-faultdiag.txt").read_text())
    assert rows[0].chip_name == "Ascend 910A" and [r.logic_id for r in rows] == list(range(len(rows)))
    usages = parse_kv_block((DATA / "real_910b_info-t-usages_unindented_llm-action.txt").read_text())
    assert usages["NPU ID"] == "1" and usages["DDR Capacity(MB)"] == "15079"
    common = parse_kv_sections((DATA / "real_910b1_23.0.rc2_info-t-common_mcu_arthurchiao-blog.txt").read_text())
    assert any(s.get("Chip Name") == "mcu" for s in common)
    health = parse_kv_block((DATA / "real_910a_23.0.7_error-invalid-card-id_and_health-alarm_mindcluster-faultdiag.txt")
                            .read_text())
    assert health["Health Status"] == "Alarm" and health["Error Code"] == "A4025021 8C03A000 8C084E00"
    assert health["Error Information"].splitlines() == [
        "ascend_monitor adda heart beat lost error",
        "node type=process-manager, sensor type=General Software, event state=The process start failed or exit "
        "abnormally",
        "node type=adda, sensor type=Heartbeat Sensor, event state=Heartbeat Lost."]


@pytest.mark.parametrize(("name", "quoted"), [
    ("real_error_-8005_container_vllm-ascend-2698.txt", "DrvMngGetConsoleLogLevel failed. (g_conLogLevel=3)"),
    ("real_error_-8020_device-used_cann-container-image-46.txt", "root@aa6890a14c34:/# npu-smi info"),
])
def test_real_error_output_is_not_a_table(name, quoted):
    with pytest.raises(NpuSmiParseError) as err:
        parse_info((DATA / name).read_text())
    assert quoted in str(err.value)


def test_real_loader_error():
    text = (DATA / "real_error_libc_sec.so_container_hami-615.txt").read_text()
    assert detect_loader_error(text) == "libc_sec.so"
