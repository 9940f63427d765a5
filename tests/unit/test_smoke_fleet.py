"""The fleet table the smoke play prints on the controller, from the reports the role fetched."""

from __future__ import annotations

from ascend_env.smoke.fleet import fleet_table

OK = {"ok": True, "framework": "torch", "runner": "torch_direct", "device": "cpu", "max_new_tokens": 30,
      "output_ids": list(range(30)), "golden": {"checked": True, "match": True},
      "metrics": {"ttft_s": 0.0123, "decode_tok_s": 251.26, "load_s": 0.456, "peak_rss_mb": 412.3}, "problems": []}


def test_one_line_per_environment_with_the_medians():
    lines = fleet_table([("t1-llm-torch", OK)])
    assert lines[0].split() == ["environment", "framework/runner", "device", "tokens", "golden", "TTFT", "ms",
                                "decode", "tok/s", "load", "s", "peak", "MB", "status"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["t1-llm-torch", "torch/torch_direct", "cpu", "30/30", "equal", "12.3", "251.3",
                                "0.46", "412", "ok"]


def test_failures_and_missing_reports_are_named():
    bad = {**OK, "ok": False, "golden": {"checked": True, "match": False},
           "problems": ["token 3: got 17, golden 12"]}
    err = {"ok": False, "error": "torch_npu is installed but cannot load: libhccl.so\nmore", "framework": "torch",
           "runner": "auto", "device": "auto"}
    lines = fleet_table([("a", bad), ("b", err), ("c", None)])
    assert "DIFFERENT" in lines[2] and lines[2].endswith("FAILED: token 3: got 17, golden 12")
    assert lines[3].endswith("FAILED: torch_npu is installed but cannot load: libhccl.so")
    assert lines[4].endswith("no report (the smoke did not run here)")
    real = {**OK, "golden": {"checked": False}}
    assert "n/a (real model)" in fleet_table([("d", real)])[2]
