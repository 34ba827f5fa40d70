"""The fuzzed-input part of the reliability suite: damaged videos, annotation files, checkpoints and images.

`build_corpus` writes mutations of real and generated inputs to a folder; `run_corpus` feeds each to the
loader a user would reach it through (video opening and ingest, the eval annotation readers, session
checkpoints; a few videos also through the `agentime ingest` command) in a worker process watched for
hangs, and classifies the outcome: accepted, a clear error (a project error naming the input), an unclear
error (a project error that does not name it), a traceback (any other exception) or a hang. Image payloads
go to a running server (see `pipelines.robustness.chaos`). Nothing here is a test oracle of content.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipelines.robustness.hostile_inputs import mutate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "eval"
ANNOTATION_SEEDS = [("videomme", "videomme.json"), ("lvbench", "lvb_val.json"),
                    ("charades_sta", "charades_sta_test.txt"), ("tempcompass", "tempcompass_multi-choice.json"),
                    ("egoschema", "egoschema/questions.json")]
CASE_TIMEOUT_S = 30.0


def build_corpus(out: Path, seeds: dict[str, Path], count: int, rng: random.Random) -> list[dict]:
    """`count` mutated inputs written under `out`: videos, annotation files and checkpoints, in turn."""
    out.mkdir(parents=True, exist_ok=True)
    sources = [("video", None, path) for key, path in seeds.items() if key.startswith("video")]
    sources += [("annotations", task, FIXTURES / name) for task, name in ANNOTATION_SEEDS if (FIXTURES / name).is_file()]
    if "synthetic_annotations" in seeds:
        sources.append(("annotations", "synthetic", seeds["synthetic_annotations"]))
    if "checkpoint" in seeds:
        sources.append(("checkpoint", None, seeds["checkpoint"]))
    cases = []
    for index in range(count):
        kind, task, source = sources[index % len(sources)]
        data = mutate(source.read_bytes(), rng)
        path = out / f"case{index:04d}_{source.name}"
        path.write_bytes(data)
        cases.append({"id": index, "kind": kind, "task": task, "path": str(path), "source": source.name})
    return cases


def classify(exc: BaseException | None, path: str) -> tuple[str, str]:
    """(outcome, message) of one loader call."""
    from agentime.errors import AgentimeError

    if exc is None:
        return "accepted", ""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, AgentimeError):
        return ("clear" if Path(path).name in message else "unclear"), message[:300]
    return "traceback", f"{type(exc).__name__}: {message}"[:300]


def load_case(case: dict, scratch: Path) -> None:
    """Feed one case to its loader (raises what the loader raises)."""
    if case["kind"] == "annotations":
        from agentime.eval.tasks import read_task

        read_task(case["task"], case["path"])
    elif case["kind"] == "checkpoint":
        from agentime.api import list_sessions

        list_sessions(case["path"])
    else:
        from agentime.config import Config, VideoConfig
        from agentime.video.ingest import ingest
        from agentime.video.source import open_video

        open_video(case["path"], allow_truncated=True)
        ingest(case["path"], Config(cache_dir=scratch / "caches" / str(case["id"]), video=VideoConfig(overview_fps=1.0)),
               progress=False, allow_truncated=True)


def worker_main(cases_file: str, scratch: str) -> int:
    """The fuzz worker: one JSON line per case on stdout, a `start` line before each."""
    for line in Path(cases_file).read_text().splitlines():
        case = json.loads(line)
        print(json.dumps({"start": case["id"]}), flush=True)
        try:
            load_case(case, Path(scratch))
            outcome, message = classify(None, case["path"])
        except Exception as exc:  # the classification is the point: every kind of failure is recorded
            outcome, message = classify(exc, case["path"])
        print(json.dumps({"id": case["id"], "outcome": outcome, "message": message}), flush=True)
    return 0


def run_corpus(cases: list[dict], scratch: Path, env: dict) -> list[dict]:
    """Run every case in worker processes; a case that takes over CASE_TIMEOUT_S is a hang (worker restarted)."""
    results: dict[int, dict] = {}
    pending = list(cases)
    while pending:
        cases_file = scratch / "cases.jsonl"
        cases_file.write_text("".join(json.dumps(c) + "\n" for c in pending))
        worker = subprocess.Popen([sys.executable, "-m", "pipelines.chaos_fuzz", str(cases_file), str(scratch)],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        current, deadline = None, None
        while True:
            wait = CASE_TIMEOUT_S if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([worker.stdout], [], [], wait)
            if not ready:
                worker.kill()
                worker.wait()
                if current is not None:
                    results[current] = {"id": current, "outcome": "hang", "message": ""}
                break
            line = worker.stdout.readline()
            if not line:
                worker.wait()
                if current is not None:  # the worker died inside a case (a crash counts as a traceback)
                    results[current] = {"id": current, "outcome": "traceback", "message": "worker process died"}
                break
            record = json.loads(line)
            if "start" in record:
                current, deadline = record["start"], time.monotonic() + CASE_TIMEOUT_S
            else:
                results[record["id"]] = record
                current, deadline = None, None
        pending = [c for c in pending if c["id"] not in results]
    shutil.rmtree(scratch / "caches", ignore_errors=True)
    by_id = {c["id"]: c for c in cases}
    return [{**by_id[i], **results[i]} for i in sorted(results)]


def run_cli_cases(cases: list[dict], env: dict, cache: Path) -> list[dict]:
    """Mutated videos through `agentime ingest`: exit 0, or exit 2 with one line and no traceback."""
    out = []
    for case in cases:
        try:
            done = subprocess.run([sys.executable, "-m", "agentime.cli", "ingest", case["path"], "--cache", str(cache),
                                   "--quiet", "--allow-truncated"], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=60)
        except subprocess.TimeoutExpired:
            out.append({**case, "outcome": "hang", "message": "", "via": "cli"})
            continue
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        if done.returncode == 0:
            outcome, message = "accepted", ""
        elif "Traceback" in done.stderr or done.returncode != 2:
            outcome, message = "traceback", (lines[-1] if lines else f"exit {done.returncode}")
        else:
            message = lines[-1] if lines else ""
            outcome = "clear" if Path(case["path"]).name in message and len(lines) == 1 else "unclear"
        out.append({**case, "outcome": outcome, "message": message[:300], "via": "cli"})
    return out


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(worker_main(sys.argv[1], sys.argv[2]))
