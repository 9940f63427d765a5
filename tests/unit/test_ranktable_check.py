"""`ranktable --check`: HCCL's rank table rules one by one (ascend_env/ranktable_check.py names each rule's source),
and the real tables of tests/unit/data/ranktable (SOURCES.md) accepted or refused as HCCL would, with the reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ascend_env import cli

# ascend_env.ranktable_check is imported inside the tests that use it: the command-line tests also run (and fail
# for their own reasons) on a checkout without it

DATA = Path(__file__).parent / "data" / "ranktable"


def table(servers: int = 2, devices: int = 8, version: str = "1.0", ip: str = "10.{s}.0.{d}") -> dict:
    """A table HCCL loads: ``servers`` x ``devices``, rank_ids dense in server order."""
    out = {"version": version, "server_count": str(servers), "server_list": [], "status": "completed"}
    rank = 0
    for s in range(servers):
        devs = []
        for d in range(devices):
            devs.append({"device_id": str(d), "device_ip": ip.format(s=s + 1, d=d + 11), "rank_id": str(rank)})
            rank += 1
        out["server_list"].append({"server_id": f"192.0.2.{10 + s}", "device": devs, "host_nic_ip": "reserve"})
    return out


def run(tmp_path: Path, doc, capsys, *extra: str) -> tuple[int, str]:
    f = tmp_path / "hccl.json"
    f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code = cli.main(["ranktable", "--check", str(f), *extra])
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert "Traceback" not in out
    return code, out


def errors(doc, chip: str | None = None) -> list[str]:
    from ascend_env.ranktable_check import check, chip_named

    return [str(f) for f in check(doc, chip_named(chip)).errors]


def strip_comments(text: str) -> str:
    """What the HCCL guide tells its readers to do with its samples ("实际使用时，请删除JSON文件中的注释"): remove
    every // comment (outside strings)."""
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


# -- issue 20: what main refused although HCCL loads it --------------------------------------------------------------

def test_hccl_single_server_example_with_empty_device_ip_is_accepted(tmp_path, capsys):
    code, out = run(tmp_path, (DATA / "hccl-example_tensorflow_1server.json").read_text(), capsys)
    assert code == 0, out
    assert "HCCL loads it: version 1.0, 1 server(s), 8 rank(s)" in out


def test_device_ip_may_be_missing_on_one_server_but_not_on_two():
    one = table(servers=1)
    for d in one["server_list"][0]["device"]:
        del d["device_ip"]
    assert errors(one) == []
    two = table()
    two["server_list"][1]["device"][3]["device_ip"] = ""
    assert errors(two) == ["server 192.0.2.11 device[3]: device_ip is empty in a table of several servers: HCCL "
                           "refuses it (\"'device_ip' is not set correctly, must be set when multi Server\"); put "
                           "the port's address (hccn_tool -i <device_id> -ip -g)"]
    del two["server_list"][1]["device"][3]["device_ip"]
    assert "device_ip is missing in a table of several servers" in errors(two)[0]


def test_a3_within_one_super_pod_needs_no_device_ip():
    doc = table(version="1.2")
    for s in doc["server_list"]:
        for d in s["device"]:
            d.pop("device_ip")
    assert errors(doc) == []                      # one super pod (none listed): HCCL uses the vNIC
    doc["super_pod_list"] = [{"super_pod_id": "0", "server_list": [{"server_id": "192.0.2.10"}]},
                             {"super_pod_id": "1", "server_list": [{"server_id": "192.0.2.11"}]}]
    for s in doc["server_list"]:
        for d in s["device"]:
            d["super_device_id"] = d["device_id"]
    assert any("device_ip is missing in a table of several servers" in e for e in errors(doc))


def test_version_1_2_without_super_pod_list_super_device_id_or_server_count_is_accepted(tmp_path, capsys):
    doc = table(version="1.2")
    del doc["server_count"]
    code, out = run(tmp_path, doc, capsys)
    assert code == 0, out
    assert "server_count is missing: HCCL takes the list's length (2)" in out      # a warning, not a refusal
    assert "checked for Atlas A3 (Ascend 910_93)" in out


def test_version_1_2_super_pod_rules():
    doc = table(version="1.2")
    doc["super_pod_list"] = [{"super_pod_id": "0", "server_list": [{"server_id": "192.0.2.10"}]}]
    for s in doc["server_list"]:
        for d in s["device"]:
            d["super_device_id"] = d["device_id"]
    assert errors(doc) == ["server 192.0.2.11: is in no super pod of super_pod_list: HCCL refuses it (\"superPod in "
                           "rank is invalid\"); add it to its super pod"]
    doc["super_pod_list"][0]["server_list"].append({"server_id": "192.0.2.11"})
    assert any("super_device_id 0 is also server 192.0.2.10 device[0]'s in super pod 0" in e for e in errors(doc))
    for d in doc["server_list"][1]["device"]:
        d["super_device_id"] = str(8 + int(d["device_id"]))
    assert errors(doc) == []
    doc["server_list"][1]["device"][0]["super_device_id"] = ""          # rank_table_load_fail.md's own case
    assert "super_device_id '' is not a non-negative integer" in errors(doc)[0]
    del doc["server_list"][1]["device"][0]["super_device_id"]
    assert "1 device(s) have no super_device_id while super_pod_list is given" in errors(doc)[0]
    doc["super_pod_list"][0]["server_list"].append({"server_id": "192.0.2.99"})
    assert any("server_id '192.0.2.99' is not in server_list" in e for e in errors(doc))


def test_super_pods_interleaved_in_server_list_are_refused():
    doc = table(servers=3, devices=2, version="1.2")
    for s in doc["server_list"]:
        for d in s["device"]:
            d["super_device_id"] = d["device_id"]
    ids = [s["server_id"] for s in doc["server_list"]]
    doc["super_pod_list"] = [{"super_pod_id": "a", "server_list": [{"server_id": ids[0]}, {"server_id": ids[2]}]},
                             {"super_pod_id": "b", "server_list": [{"server_id": ids[1]}]}]
    assert any("the servers of a super pod are not listed together in server_list (super pods a b a)" in e
               for e in errors(doc))


# -- issue 20: what main accepted although HCCL refuses it -----------------------------------------------------------

@pytest.mark.parametrize("ip", ["192.100.62.256", "10.0.0", "10.0.0.01", "fe80::1::2", "node-1", "%eth0", "::1%"])
def test_a_device_ip_that_is_not_an_address_is_refused(tmp_path, capsys, ip):
    doc = table()
    doc["server_list"][0]["device"][1]["device_ip"] = ip
    code, out = run(tmp_path, doc, capsys)
    assert code == 1
    assert f"device_ip {ip!r} is not an IPv4 or IPv6 address: HCCL refuses it" in out


def test_addresses_as_hccl_reads_them():
    from ascend_env.ranktable_check import ip_family

    assert ip_family("192.100.62.14") == 4 and ip_family("fe80::1%eth0") == 6 and ip_family("::ffff:1.2.3.4") == 6
    assert ip_family("192.100.62.256") is None and ip_family("1.2.3.4%") is None
    assert errors(table(ip="fd00::{s}:{d}")) == []                       # IPv6 everywhere is fine
    two = table()
    two["server_list"][0]["device"][0]["device_ip"] = "10.1.0.11,10.1.1.11"    # several addresses per device...
    assert errors(two) == ["devices carry different numbers of comma-separated device_ip addresses (1, 2): HCCL "
                           "refuses it; give each the same number"]                # ...the same number on each


def test_a_masked_documentation_address_is_named_as_a_placeholder():
    doc = table()
    doc["server_list"][0]["device"][0]["device_ip"] = "192.168.101.xx"
    assert "device_ip '192.168.101.xx' is a placeholder (documentation samples mask addresses)" in errors(doc)[0]


def test_mixed_address_families_across_servers_are_refused_on_one_server_not(tmp_path, capsys):
    doc = table()
    doc["server_list"][1]["device"] = [dict(d, device_ip=f"fd00::2:{i}") for i, d in
                                       enumerate(doc["server_list"][1]["device"])]
    code, out = run(tmp_path, doc, capsys)
    assert code == 1 and "device_ip mixes IPv4 and IPv6 addresses across servers: HCCL refuses it" in out
    one = table(servers=1)
    one["server_list"][0]["device"][0]["device_ip"] = "fd00::1"
    assert errors(one) == []                               # CheckRankIpFamily runs only with serverNum > 1


def test_a_device_ip_twice_is_refused():
    doc = table()
    doc["server_list"][1]["device"][0]["device_ip"] = doc["server_list"][0]["device"][0]["device_ip"]
    assert errors(doc) == ["server 192.0.2.11 device[0]: device_ip 10.1.0.11 is also server 192.0.2.10 device[0]'s: "
                           "HCCL refuses an address twice (\"is already exist\"); every port has its own"]


@pytest.mark.parametrize(("chip", "device", "ok"), [(None, 15, True), (None, 16, False), ("910", 7, True),
                                                    ("910", 8, False), ("910b", 15, True), ("910b", 16, False),
                                                    ("a3", 16, False), ("310p", 31, True), ("310p", 32, False)])
def test_device_ids_beyond_the_chips_range_are_refused(tmp_path, capsys, chip, device, ok):
    from ascend_env.ranktable_check import CHIPS

    doc = table(devices=1)
    for s in doc["server_list"]:
        s["device"][0]["device_id"] = str(device)
    code, out = run(tmp_path, doc, capsys, *(["--chip", chip] if chip else []))
    assert code == (0 if ok else 1), out
    if not ok:
        bound = CHIPS[chip].devices if chip else 16
        assert f"device_id {device} is beyond 0-{bound - 1}, the range HCCL reads on" in out


def test_device_id_twice_on_one_server_and_not_a_number():
    doc = table(servers=1, devices=2)
    doc["server_list"][0]["device"][1]["device_id"] = "0"
    assert errors(doc) == ["server 192.0.2.10 device[1]: device_id 0 is also device[0] of this server: HCCL refuses "
                           "it (\"device id repeat for one server\"); each NPU once per server"]
    doc["server_list"][0]["device"][1]["device_id"] = "davinci1"
    assert "device_id 'davinci1' is not a device number" in errors(doc)[0]


def test_rank_ids_interleaved_across_servers_are_refused(tmp_path, capsys):
    """The guide's own counter-example: server 1 {0,1,2,7}, server 2 {3,4,5,6}."""
    doc = table(devices=4)
    for d, r in zip(doc["server_list"][0]["device"], (0, 1, 2, 7), strict=True):
        d["rank_id"] = str(r)
    for d, r in zip(doc["server_list"][1]["device"], (3, 4, 5, 6), strict=True):
        d["rank_id"] = str(r)
    code, out = run(tmp_path, doc, capsys)
    assert code == 1
    assert "server 192.0.2.10: its rank_ids {0,1,2,7} are interleaved with another server's: HCCL does not support" \
           in out


def test_rank_ids_must_be_0_to_n_minus_1_each_once():
    doc = table(devices=2)
    doc["server_list"][1]["device"][1]["rank_id"] = "2"
    assert errors(doc) == ["rank_ids must be 0..3, each once (repeated: 2; missing: 3): HCCL refuses the table "
                           "(\"rank_id is less than the communication size and must be unique\", EI0014)"]
    doc["server_list"][1]["device"][1]["rank_id"] = "-3"
    assert "rank_id '-3' is not a non-negative integer" in errors(doc)[0]


def test_rank_order_within_a_server_is_free_and_server_order_against_server_id_is_a_warning():
    from ascend_env.ranktable_check import check

    doc = table(devices=4)
    for d, r in zip(doc["server_list"][0]["device"], (3, 2, 0, 1), strict=True):   # MindSpore's own test table
        d["rank_id"] = str(r)
    assert errors(doc) == []
    doc["server_list"][0]["server_id"], doc["server_list"][1]["server_id"] = "node_b", "node_a"
    r = check(doc)
    assert r.exit_code == 0 and "MindSpore's rank table start-up requires that order" in str(r.warnings[0])


def test_values_must_be_json_strings():
    doc = table(servers=1, devices=1)
    doc["server_list"][0]["device"][0]["rank_id"] = 0
    assert errors(doc) == ["server 192.0.2.10 device[0]: rank_id is 0, a JSON int: HCCL reads only strings (\"json "
                           "object property value of Name[rank_id] is not string\"); write it as \"0\""]


def test_status_server_count_server_id_and_ports():
    doc = table()
    doc["status"] = "initializing"
    assert "status 'initializing': HCCL starts only on \"completed\"" in errors(doc)[0]
    doc = table()
    doc["server_count"] = "3"
    assert "server_count '3' but server_list has 2 server(s)" in errors(doc)[0]
    doc = table()
    doc["server_list"][1]["server_id"] = doc["server_list"][0]["server_id"]
    assert "server_id '192.0.2.10' is also server_list[0]'s" in errors(doc)[0]
    doc["server_list"][1]["server_id"] = "n" * 65
    assert "server_id is 65 characters long; HCCL takes at most 64" in errors(doc)[0]
    doc = table()
    doc["server_list"][0]["device"][0]["device_port"] = "0"
    doc["server_list"][0]["device"][1]["host_port"] = "70000"
    found = errors(doc)
    assert len(found) == 2 and "device_port '0' is not a port 1-65535" in found[0]
    assert "host_port '70000' is not a port 1-65535" in found[1]
    doc = table()
    doc["server_list"][0]["host_ip"] = "172.16.0.300"
    assert "host_ip '172.16.0.300' is not an IPv4 or IPv6 address" in errors(doc)[0]


# -- issue 24: what main passed although it breaks the rules --------------------------------------------------------

def test_servers_with_different_device_counts(tmp_path, capsys):
    doc = table()
    doc["server_list"][1]["device"] = doc["server_list"][1]["device"][:4]
    code, out = run(tmp_path, doc, capsys)
    assert code == 1
    assert "servers carry different numbers of devices (8 on 192.0.2.10; 4 on 192.0.2.11): HCCL on Atlas training " \
           "(910) and Atlas 300I Duo refuses it" in out and "--chip 910b or --chip a3" in out
    assert run(tmp_path, doc, capsys, "--chip", "910")[0] == 1
    assert run(tmp_path, doc, capsys, "--chip", "910b")[0] == 0     # HCCL skips that check on A2 and A3


def test_a_server_with_no_devices(tmp_path, capsys):
    doc = table()
    doc["server_list"][1]["device"] = []
    code, out = run(tmp_path, doc, capsys)
    assert code == 1 and "server 192.0.2.11: has no devices" in out and "HCCL refuses a server without devices" in out


def test_non_object_devices_and_servers_are_a_clear_refusal(tmp_path, capsys):
    doc = table(servers=1)
    doc["server_list"][0]["device"] = ["0", "1"]
    code, out = run(tmp_path, doc, capsys)
    assert code == 1 and "server 192.0.2.10 device[0]: is \"0\", not an object with device_id" in out
    code, out = run(tmp_path, {"version": "1.0", "status": "completed", "server_list": [7]}, capsys)
    assert code == 1 and "server_list[0]: is 7, not an object with server_id and device" in out
    code, out = run(tmp_path, [1, 2], capsys)
    assert code == 1 and "a rank table is a JSON object, this is a JSON list" in out


# -- formats ascend-env does not check, and files that are no table ----------------------------------------------------

@pytest.mark.parametrize(("doc", "said"), [
    ({"status": "completed", "group_count": "1", "group_list": []}, "the legacy group_list template"),
    ({"version": "1.1", "status": "completed", "node_list": []}, "version 1.1 is HCCL's heterogeneous-cluster table"),
    ({"version": "2.0", "status": "completed", "rank_count": 1, "rank_list": []}, "version 2.0 is the Ascend 950"),
])
def test_unsupported_formats_say_so_and_what_to_do(tmp_path, capsys, doc, said):
    code, out = run(tmp_path, doc, capsys)
    assert code == 2
    assert f"unsupported format: {said}" in out and "invalid" not in out and "refuses" not in out


def test_an_unknown_version_is_refused(tmp_path, capsys):
    code, out = run(tmp_path, dict(table(), version="1.3"), capsys)
    assert code == 1 and "version \"1.3\" is not a rank table version: HCCL refuses it" in out


def test_files_that_are_no_table(tmp_path, capsys):
    code, out = run(tmp_path, '{"version": "1.0", // a comment\n}', capsys)
    assert code == 1 and "it has // comments, which HCCL's JSON reader rejects" in out
    code, out = run(tmp_path, "", capsys)
    assert code == 1 and "the file is empty" in out
    code, out = run(tmp_path, "[" * 100000 + "]" * 100000, capsys)
    assert code == 1 and "nested thousands of levels deep" in out
    assert cli.main(["ranktable", "--check", str(tmp_path / "none.json")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    (tmp_path / "latin1.json").write_bytes(b'{"server_id": "\xe9"}')
    assert cli.main(["ranktable", "--check", str(tmp_path / "latin1.json")]) == 1
    assert "not UTF-8 text" in capsys.readouterr().err
    assert cli.main(["ranktable", "--check", str(tmp_path / "latin1.json"), "--chip", "h100"]) == 2
    assert "--chip 'h100': not a chip HCCL reads rank tables on" in capsys.readouterr().err


def test_json_output(tmp_path, capsys):
    doc = table()
    doc["server_list"][0]["device"][0]["device_ip"] = "192.100.62.256"
    code, out = run(tmp_path, doc, capsys, "--json")
    got = json.loads(out)
    assert code == 1 and got["exit_code"] == 1 and not got["ok"] and got["table"] is None
    assert got["findings"][0]["source"].startswith("hcomm topoinfo_ranktableParser.cc CheckUniquePara")


# -- the real tables -----------------------------------------------------------------------------------------------

# file -> (exit code of --check on the file as published, a phrase of the reason, exit code once the // comments are
# deleted as the HCCL guide says, --chip for that)
SAMPLES = {
    "hccl-example_tensorflow_1server.json": (0, "1 server(s), 8 rank(s)", None, None),
    "hccl-guide_a2_2servers_1.0.json": (1, "it has // comments", 0, None),
    "hccl-guide_a3_superpod_1.2.json": (1, "it has // comments", 0, None),
    "hccl-guide_a3_aiserver_1.0.json": (1, "it has // comments", 0, "a3"),
    "hccl-guide_910_template1_1.0.json": (1, "it has // comments", 0, "910"),
    "hccl-guide_300i-duo_1.0.json": (1, "it has // comments", 0, "310p"),
    "hccl-guide_910_template2_group_list.json": (1, "it has // comments", 2, None),
    "hccl-guide_a5_2.0_ipv4.json": (1, "it has // comments", 2, None),
    "mindspore-docs_rank_table_8pcs.json": (0, "1 server(s), 8 rank(s)", None, None),
    "mindspore-docs_rank_table_16pcs_masked.json": (1, "device_ip '192.1.*.6' is a placeholder", None, None),
    "mindspore-docs_rank_table_cross_cluster_16pcs_masked.json": (1, "device_ip '192.1.*.6' is a placeholder", None,
                                                                  None),
    "ascend-tools_ais-bench_rank_table_16p_64_66.json": (0, "2 server(s), 16 rank(s)", None, None),
    "mindcluster-doc_hccl.json_a2_1.0.json": (1, "not JSON", None, None),
    "mindcluster-doc_hccl.json_a3_1.2.json": (1, "not JSON", None, None),
}


def test_every_sample_is_listed_with_its_source():
    files = {p.name for p in DATA.iterdir() if p.name != "SOURCES.md"}
    assert files == set(SAMPLES)
    sources = (DATA / "SOURCES.md").read_text()
    assert all(f"| {name} |" in sources for name in SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_tables_as_hccl_reads_them(tmp_path, capsys, name):
    code, said, stripped, chip = SAMPLES[name]
    got, out = run(tmp_path, (DATA / name).read_text(), capsys)
    assert got == code and said in out, out
    if stripped is not None:
        got, out = run(tmp_path, strip_comments((DATA / name).read_text()), capsys, *(["--chip", chip] if chip
                                                                                       else []))
        assert got == stripped, out


def test_the_16pcs_sample_is_refused_for_each_reason():
    from ascend_env.ranktable_check import load_text

    doc, why = load_text((DATA / "mindspore-docs_rank_table_16pcs_masked.json").read_text())
    assert why is None
    found = errors(doc)
    assert len(found) == 17                    # 16 masked addresses and one server_id twice ("10.*.*.*")
    assert "server_id '10.*.*.*' is also server_list[0]'s" in found[8]


def test_the_guides_a3_tables_pass_and_break_as_the_guide_says():
    from ascend_env.ranktable_check import check, load_text

    doc, _ = load_text(strip_comments((DATA / "hccl-guide_a3_superpod_1.2.json").read_text()))
    r = check(doc)
    assert (r.exit_code, r.chip.key, r.servers, r.ranks) == (0, "a3", 4, 16)
    broken = copy.deepcopy(doc)
    broken["server_list"][0]["device"][0]["super_device_id"] = ""
    assert "super_device_id '' is not a non-negative integer" in str(check(broken).errors[0])
