"""The short reliability and security suite, run as a user runs it: `python -m pipelines.chaos --quick`."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"kills", "resumed_identical", "lost", "corrupt_served", "fuzz_cases", "unclear_errors", "tracebacks",
        "hangs", "ssrf_blocked", "traversal_blocked", "server_5xx", "p50_ms", "p99_ms"}


def test_quick_chaos_run(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "pipelines.chaos", "--quick", "--json", "--details",
                           "--work", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert KEYS <= set(report)
    details = report["details"]
    assert all("error" not in area for area in details["kills"].values()), details["kills"]
    assert report["kills"] >= 2 and report["resumed_identical"] == report["kills"]
    assert report["lost"] == 0 and report["corrupt_served"] == 0
    assert report["fuzz_cases"] >= 24 and report["tracebacks"] == 0 and report["hangs"] == 0
    assert report["unclear_errors"] == 0, details
    assert details["fuzz_problems"] == []
    blocked, cases = map(int, report["ssrf_blocked"].split("/"))
    assert blocked == cases >= 25
    blocked, cases = map(int, report["traversal_blocked"].split("/"))
    assert blocked == cases >= 8
    assert report["server_5xx"] == 0 and details["load"]["errors"] == 0
    assert 0 < report["p50_ms"] <= report["p99_ms"]
