"""Run many short commands on one host, at most N at once, and print each one's exit code and output as JSON.

Sent as the program text of ``python3 -`` over one SSH session per host (``ascend_env.day2.remote``): the acceptance's
``hccn_tool -i N -ping -g address A`` runs, each of which waits on its packets, so they overlap up to the bound
instead of queueing one after another.  The payload -- base64 of JSON ``{"bound": N, "timeout": S, "commands":
[[argv...], ...]}``, every command an argv (no shell) -- is the program's first argument, or a line ``PAYLOAD =
'...'`` put before the program's text (then no limit on its length).  The output is one JSON line: a list, in the
commands' order, of ``{"rc", "stdout", "stderr"}`` (``rc`` null when the command could not be started or timed out,
``stderr`` then says why).  Standard library only (the host's own python3, as the doctor's probe).
"""

import base64
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def run_one(argv, timeout):
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                            stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return {"rc": None, "stdout": "", "stderr": f"{argv[0]}: not found"}
    except OSError as e:
        return {"rc": None, "stdout": "", "stderr": f"{argv[0]}: {e}"}
    except subprocess.TimeoutExpired:
        return {"rc": None, "stdout": "", "stderr": f"{argv[0]}: no answer within {timeout} s"}
    return {"rc": cp.returncode, "stdout": cp.stdout, "stderr": cp.stderr}


def run_all(commands, bound, timeout):
    with ThreadPoolExecutor(max_workers=max(1, min(int(bound), len(commands) or 1))) as pool:
        return list(pool.map(lambda argv: run_one([str(a) for a in argv], timeout), commands))


def main(argv):
    payload = argv[1] if len(argv) > 1 else globals().get("PAYLOAD", "")
    doc = json.loads(base64.b64decode(payload).decode("utf-8"))
    print(json.dumps(run_all(doc["commands"], doc.get("bound", 8), float(doc.get("timeout", 60)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
