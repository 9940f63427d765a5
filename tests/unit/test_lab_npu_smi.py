"""The lab's fake npu-smi: a real binary + libdrvdsmi_host.so, checked with the real-sample parsers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ascend_env.lab.npu_smi_build import build_npu_smi, default_state, read_state, write_state
from ascend_env.probe.npu_smi import detect_loader_error, parse_info, parse_info_m, parse_kv_block, parse_kv_sections

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (apt-get install gcc libc6-dev)")

DATA = Path(__file__).parent / "data" / "npu_smi"
LOADER_MSG = (
    "npu-smi: error while loading shared libraries: libdrvdsmi_host.so: "
    "cannot open shared object file: No such file or directory"
)


class Host:
    def __init__(self, base: Path, cache: Path, chip: str, cards: int, driver: str = "24.1.0") -> None:
        self.root = base / "root"
        self.lib = self.root / "usr/local/Ascend/driver/lib64/driver"
        self.bin = self.root / "usr/local/bin"
        build_npu_smi(self.lib, self.bin / "npu-smi", cache_dir=cache)
        (self.root / "usr/local/Ascend/driver/version.info").write_text(f"Version={driver}\nInnerversion=X\n")
        (self.root / "usr/local/Ascend/firmware").mkdir(parents=True)
        (self.root / "usr/local/Ascend/firmware/version.info").write_text("Version=7.5.0.1.129\n")
        (self.root / "dev").mkdir()
        (self.root / "dev/davinci_manager").touch()
        self.state = default_state(chip, cards)
        for card in self.state["cards"]:
            for c in card["chips"]:
                (self.root / f"dev/davinci{c['device_id']}").touch()
        write_state(self.lib, self.state)

    def run(self, *args: str, ld: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.bin}:{os.environ['PATH']}"}
        if ld:
            env["LD_LIBRARY_PATH"] = str(self.lib)
        return subprocess.run(["npu-smi", *args], env=env, capture_output=True, text=True, check=False)

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cc-cache")


def test_without_ld_library_path_fails_like_the_real_loader(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 1)
    proc = host.run("info", ld=False)
    assert proc.returncode != 0
    assert proc.stderr.strip() == LOADER_MSG
    assert detect_loader_error(proc.stderr) == "libdrvdsmi_host.so"
    assert "rpath" not in subprocess.run(["readelf", "-d", str(host.bin / "npu-smi")], capture_output=True,
                                         text=True).stdout.lower()  # fmt: skip


def test_cache_is_reused(tmp_path: Path, cache: Path) -> None:
    Host(tmp_path / "a", cache, "910b", 1)
    entries = sorted(p.name for p in cache.iterdir())
    Host(tmp_path / "b", cache, "910b", 1)
    assert sorted(p.name for p in cache.iterdir()) == entries and len(entries) == 1


def test_910b_x8(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 8)
    info = parse_info(host.ok("info"))
    assert (info.tool_version, info.version, info.chip_header, info.has_hbm_column) == (
        "24.1.0",
        "24.1.0",
        "Chip",
        True,
    )
    assert [(c.npu_id, c.name, c.chips[0].bus_id) for c in info.cards] == [
        (i, "910B3", card["bus_id"]) for i, card in enumerate(host.state["cards"])
    ]
    assert info.cards[0].chips[0].bus_id == "0000:C1:00.0" and info.cards[7].chips[0].bus_id == "0000:42:00.0"
    assert {(c.power, c.temp, c.chips[0].hbm_used_mb, c.chips[0].hbm_total_mb) for c in info.cards} == {
        (93.1, 36, 3418, 65536)
    }
    assert info.idle_npus == tuple(range(8)) and info.processes == ()
    mapping = parse_info_m(host.ok("info", "-m"))
    assert [(r.npu_id, r.chip_id, r.logic_id, r.chip_name) for r in mapping] == [
        (i, 0, i, "Ascend910B3") for i in range(8)
    ]
    board = parse_kv_block(host.ok("info", "-t", "board", "-i", "5"))
    assert board["NPU ID"] == "5" and board["PCIe Bus Info"] == "0000:02:00.0"
    assert (board["Software Version"], board["Firmware Version"], board["Compatibility"]) == (
        "24.1.0", "7.5.0.1.129", "OK",
    )  # fmt: skip
    assert (board["PCI Vendor ID"], board["PCI Device ID"], board["Chip Count"]) == ("0x19E5", "0xD802", "1")
    for key in ("Board ID", "PCB ID", "BOM ID", "Slot ID", "Class ID", "Subsystem Vendor ID", "Subsystem Device ID"):
        assert board[key]
    common = parse_kv_block(host.ok("info", "-t", "common", "-i", "0"))
    assert (common["HBM Usage Rate(%)"], common["Temperature(C)"], common["NPU Real-time Power(W)"]) == (
        "5",
        "36",
        "93.1",
    )
    assert parse_kv_block(host.ok("info", "-t", "product", "-i", "0"))["Product Type"] == "Atlas 800T A2"


def test_910b_single_card_matches_real_layout_byte_for_byte(tmp_path: Path, cache: Path) -> None:
    # vllm-ascend#3403 first card (ascend-facts.md §1.2): same values -> same bytes as the real table.
    host = Host(tmp_path, cache, "910b", 1)
    host.state["cards"][0]["name"] = "910B1"
    write_state(host.lib, host.state)
    real = (DATA / "910b1_24.1.0_first_card.txt").read_text().splitlines()
    assert host.ok("info").splitlines()[: len(real)] == real


def test_300i_duo_matches_real_layout_byte_for_byte(tmp_path: Path, cache: Path) -> None:
    # https://github.com/Ascend/pytorch/issues/94, reproduced from state.
    host = Host(tmp_path, cache, "300i-duo", 1, driver="24.1.rc2")
    card = host.state["cards"][0]
    card.update(npu_id=1792, bus_id="0000:07:00.0", temp=36)
    card["chips"][0]["memory"], card["chips"][1]["memory"] = [1821, 44280], [1041, 43693]
    write_state(host.lib, host.state)
    assert host.ok("info") == (DATA / "300i_duo_24.1.rc2.txt").read_text()


def test_300i_duo_x2(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "300i-duo", 2)
    info = parse_info(host.ok("info"))
    assert info.chip_header == "Chip Device" and not info.has_hbm_column
    assert len(info.cards) == 2
    for card, st in zip(info.cards, host.state["cards"], strict=True):
        assert (card.name, card.power) == ("310P3", None)
        assert [(c.chip_id, c.device_id, c.bus_id) for c in card.chips] == [
            (ch["chip_id"], ch["device_id"], st["bus_id"]) for ch in st["chips"]
        ]
        assert [(c.memory_used_mb, c.memory_total_mb, c.hbm_total_mb) for c in card.chips] == [
            (1529, 44280, None), (1412, 43693, None)
        ]  # fmt: skip
    assert info.cards[1].chips[1].device_id == 3
    mapping = parse_info_m(host.ok("info", "-m"))
    assert [(r.npu_id, r.chip_id, r.logic_id) for r in mapping] == [
        (0, 0, 0), (0, 1, 1), (0, 2, None), (1, 0, 2), (1, 1, 3), (1, 2, None)
    ]  # fmt: skip
    board = parse_kv_block(host.ok("info", "-t", "board", "-i", "1"))
    assert (board["PCI Device ID"], board["Subsystem Device ID"], board["Chip Count"]) == ("0xD500", "0x0110", "2")
    health = parse_kv_sections(host.ok("info", "-t", "health", "-i", "1"))
    assert [s.get("Health") for s in health[1:]] == ["OK", "OK"]


def test_310p_x1(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "310p", 1)
    info = parse_info(host.ok("info"))
    (card,) = info.cards
    assert (card.name, card.power, card.temp, len(card.chips)) == ("310P3", 15.8, 42, 1)
    assert (card.chips[0].memory_used_mb, card.chips[0].memory_total_mb, card.chips[0].hbm_used_mb) == (
        1821,
        21527,
        None,
    )
    board = parse_kv_block(host.ok("info", "-t", "board", "-i", "0"))
    assert (board["PCI Device ID"], board["Subsystem Device ID"]) == ("0xD500", "0x0100")


@pytest.mark.parametrize("health", ["Warning", "Alarm", "Critical"])
def test_chip_health_is_shown(tmp_path: Path, cache: Path, health: str) -> None:
    host = Host(tmp_path, cache, "300i-duo", 2)
    host.state["cards"][1]["chips"][1]["health"] = health
    write_state(host.lib, host.state)
    info = parse_info(host.ok("info"))
    assert [c.health for c in info.cards] == ["OK", health]
    assert [c.health for c in info.cards[1].chips] == ["OK", health]
    sections = parse_kv_sections(host.ok("info", "-t", "health", "-i", "1"))
    assert sections[2] == {"Chip ID": "1", "Health": health}


def test_lost_card_disappears(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 8)
    host.state["cards"][3]["lost"] = True
    write_state(host.lib, host.state)
    assert read_state(host.lib)["cards"][3]["lost"] is True
    info = parse_info(host.ok("info"))
    assert [c.npu_id for c in info.cards] == [0, 1, 2, 4, 5, 6, 7]
    assert 3 not in info.idle_npus
    assert [r.npu_id for r in parse_info_m(host.ok("info", "-m"))] == [0, 1, 2, 4, 5, 6, 7]
    proc = host.run("info", "-t", "board", "-i", "3")
    assert proc.returncode != 0 and "invalid" in proc.stdout


def test_container_shows_only_mapped_devices(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 8)
    (host.root / ".dockerenv").touch()
    for n in range(6):
        (host.root / f"dev/davinci{n}").unlink()
    info = parse_info(host.ok("info"))
    assert [c.npu_id for c in info.cards] == [6, 7] and info.idle_npus == (6, 7)
    (host.root / ".dockerenv").unlink()
    assert len(parse_info(host.ok("info")).cards) == 8  # on the host every card is listed


def test_missing_davinci_manager_gives_dcmi_failure(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 2)
    (host.root / "dev/davinci_manager").unlink()
    for args in (("info",), ("info", "-m"), ("info", "-t", "board", "-i", "0")):
        proc = host.run(*args)
        assert proc.returncode != 0
        assert proc.stdout.strip() == "dcmi module initialize failed. ret is -8005"


def test_invalid_id_and_type(tmp_path: Path, cache: Path) -> None:
    host = Host(tmp_path, cache, "910b", 2)
    proc = host.run("info", "-t", "board", "-i", "9")
    assert proc.returncode != 0 and proc.stdout.strip() == "The device id 9 is invalid. ret is -8007"
    proc = host.run("info", "-t", "bogus", "-i", "0")
    assert proc.returncode != 0 and proc.stdout.startswith("Error parameter of -t\nUsage: npu-smi info")
    assert host.ok("info", "-h").startswith("Usage: npu-smi info <watch|proc|-h|-m|-l|-t type>")
    assert host.ok("-v").strip() == "npu-smi version: 24.1.0"
