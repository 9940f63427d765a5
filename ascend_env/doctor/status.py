"""The doctor's statuses and groups: the few names the command line needs before the checks are imported."""

from __future__ import annotations

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
GROUPS = ("devices", "driver", "npu", "network", "cann", "python", "frameworks", "launcher", "system", "expect")
