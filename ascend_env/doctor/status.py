"""The doctor's statuses and groups: the few names the command line needs before the checks are imported."""

from __future__ import annotations

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: the check ran but could not read what it must judge (an npu-smi table or a health value it cannot read): never ok,
#: and, like a failure, it makes the doctor exit 1 (docs/doctor.md)
UNKNOWN = "unknown"
GROUPS = ("devices", "driver", "npu", "network", "cann", "python", "frameworks", "launcher", "system", "expect")
