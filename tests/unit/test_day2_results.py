"""Acceptance results as JSON with a timestamp, and drift from the last passing run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ascend_env.day2.pingmesh import mesh, pairs, result_items
from ascend_env.day2.results import (
    Check,
    Measurement,
    Result,
    ResultsError,
    drift,
    from_json,
    last_passing,
    load_dir,
    new_run,
    save,
    to_json,
)
from ascend_env.probe.hccn import NetInfo, parse_ping
from ascend_env.ranktable import Server, build

T0 = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


def host(name: str, tps: float | None = 20.0, ttft: float = 150.0, bw: float = 25.0, health: bool | None = True,
         env: str | None = "llm-ms") -> Result:
    return Result(name, env, {"smoke tokens/s": Measurement(tps, "tokens/s", "higher"),
                              "TTFT": Measurement(ttft, "ms", "lower"),
                              "h2d bandwidth": Measurement(bw, "GB/s", "higher")},
                  {"doctor": Check(True), "npu health": Check(health, "" if health else "NPU 3 Alarm")})


def test_a_run_round_trips_through_json_with_its_timestamp():
    run = new_run([host("h1"), host("h2", env=None)], T0.astimezone(timezone(timedelta(hours=8))), fleet="lab",
                  meta={"ascend-env": "0.9"})
    assert run.timestamp == "2026-12-07T10:00:00Z" and run.passed
    text = to_json(run)
    assert '"passed": true' in text
    again = from_json(text)
    assert again == run
    assert again.result("h2").environment is None and again.result("h1/llm-ms").measurements["TTFT"].unit == "ms"


def test_an_unreadable_value_or_an_undecided_check_never_passes():
    assert not new_run([host("h1", tps=None)], T0).passed
    assert not new_run([host("h1", health=None)], T0).passed
    assert not new_run([], T0).passed


@pytest.mark.parametrize(("text", "words"), [
    ("{", "not JSON"),
    ('{"schema": 2, "timestamp": "2026-12-07T10:00:00Z", "results": []}', "schema 2"),
    ('{"schema": 1, "timestamp": "yesterday", "results": []}', "'yesterday'"),
    ('{"schema": 1, "timestamp": "2026-12-07T10:00:00Z", "results": [{"host": "h1", "checks": {}, '
     '"measurements": {"x": {"value": "fast", "better": "higher"}}}]}', "results[0] x: 'value'"),
])
def test_a_bad_file_names_the_field(text, words):
    with pytest.raises(ResultsError, match=words.replace("[", r"\[").replace("]", r"\]")):
        from_json(text)


def test_bad_runs_are_refused_before_anything_is_written():
    with pytest.raises(ResultsError, match="appear twice"):
        new_run([host("h1"), host("h1")], T0)
    with pytest.raises(ResultsError, match="better='faster'"):
        new_run([Result("h1", None, {"x": Measurement(1.0, "", "faster")})], T0)
    with pytest.raises(ResultsError, match="no time zone"):
        new_run([host("h1")], datetime(2026, 1, 1))


def test_drift_names_what_got_slower_went_missing_or_failed():
    base = new_run([host("h1"), host("h2")], T0)
    now = new_run([host("h1", tps=17.0, ttft=160.0, bw=31.0), host("h2", health=False)], T0 + timedelta(days=1))
    d = drift(now, base, tolerance=0.10)
    kinds = {(c.key, c.name): c.kind for c in d.changes}
    assert kinds == {("h1/llm-ms", "smoke tokens/s"): "slower",      # 15 % fewer tokens/s
                     ("h1/llm-ms", "h2d bandwidth"): "faster",        # 24 % more: listed, not a regression
                     ("h2/llm-ms", "npu health"): "failed"}            # TTFT +6.7 % stays within 10 %
    assert not d.ok and {c.kind for c in d.regressions} == {"slower", "failed"}
    slower = next(c for c in d.changes if c.kind == "slower")
    assert slower.message == "15.0% worse (20 -> 17 tokens/s, higher is better)"
    assert "| h1/llm-ms | smoke tokens/s | slower" in d.render()
    # a per-measurement tolerance: TTFT must stay within 5 %
    assert ("h1/llm-ms", "TTFT") in {(c.key, c.name) for c in drift(now, base, 0.10, {"TTFT": 0.05}).regressions}


def test_missing_hosts_measurements_checks_and_unreadable_values_are_regressions():
    base = new_run([host("h1"), host("h2")], T0)
    partial = Result("h1", "llm-ms", {"smoke tokens/s": Measurement(None, "tokens/s"),
                                      "TTFT": Measurement(0.15, "s", "lower")}, {"doctor": Check(True)})
    d = drift(new_run([partial, host("h3")], T0 + timedelta(hours=1)), base)
    kinds = {(c.key, c.name): c.kind for c in d.changes}
    assert kinds[("h2/llm-ms", "")] == "missing"
    assert kinds[("h1/llm-ms", "h2d bandwidth")] == "missing" and kinds[("h1/llm-ms", "npu health")] == "missing"
    assert kinds[("h1/llm-ms", "smoke tokens/s")] == "unknown"
    assert kinds[("h1/llm-ms", "TTFT")] == "unknown"          # seconds against milliseconds: not comparable
    assert kinds[("h3/llm-ms", "")] == "new"
    assert drift(base, base).changes == () and drift(base, base).ok


def test_last_passing_and_the_files(tmp_path):
    old = new_run([host("h1")], T0)
    bad = new_run([host("h1", health=False)], T0 + timedelta(days=2))
    good = new_run([host("h1", tps=21.0)], T0 + timedelta(days=1))
    for run in (bad, old, good):
        save(run, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accept-20261207T100000Z.json", "accept-20261208T100000Z.json", "accept-20261209T100000Z.json"]
    runs = load_dir(tmp_path)
    assert [r.timestamp for r in runs] == [old.timestamp, good.timestamp, bad.timestamp]
    assert last_passing(runs) == good and last_passing([bad]) is None
    (tmp_path / "accept-broken.json").write_text("{}")
    with pytest.raises(ResultsError, match=r"accept-broken\.json: 'schema' is missing"):
        load_dir(tmp_path)


def test_a_ping_matrix_as_results_drifts_like_anything_else():
    servers = [Server(n, sid, (NetInfo(0, ip, "255.255.255.0", "UP", "Success"),))
               for n, sid, ip in (("h1", "127.0.0.2", "10.0.2.11"), ("h2", "127.0.0.3", "10.0.3.11"))]
    table, _ = build(servers)
    ok = "device 0 PING {ip}\nrecv seq=0,time=0.1ms\n1 packets transmitted, 1 received, 0.00% packet loss\n"
    lost = "device 0 PING {ip}\nrecv time out seq=0\n1 packets transmitted, 0 received, 100.00% packet loss\n"

    def results(broken: bool):
        got = {(s.server_id, s.device_id, d.ip): parse_ping((lost if broken and d.ip == "10.0.3.11" else ok)
                                                            .format(ip=d.ip)) for s, d in pairs(table)}
        items = result_items(mesh(table, got), {"127.0.0.2": "h1", "127.0.0.3": "h2"})
        return [Result(h, None, m, c) for h, (m, c) in sorted(items.items())]

    before, after = new_run(results(False), T0), new_run(results(True), T0 + timedelta(hours=1))
    assert before.passed and not after.passed
    assert before.result("h1").measurements["ping NPU 0 -> 10.0.3.11 rtt"] == Measurement(0.1, "ms", "lower")
    d = drift(after, before)
    assert {(c.key, c.name, c.kind) for c in d.regressions} == {
        ("h1", "ping NPU 0 -> 10.0.3.11", "failed"), ("h1", "ping NPU 0 -> 10.0.3.11 rtt", "missing")}
