"""Reliability and security suite: `python -m pipelines.chaos --json [--quick]`.

1. Kill -9 at random points of ingest (`agentime ingest`), batch evaluation (`agentime eval`), a checkpointed
   session and a training stage; each killed run is resumed by running the same command again, and what it
   ends with is compared to an uninterrupted run: identical, lost (missing, or the resume failed) or corrupt
   (different content served without an error).
2. A fuzzed-input corpus (`pipelines.robustness.fuzz`): mutated real and generated videos, annotation files and
   session checkpoints through their loaders and the CLI, and mutated image payloads to `agentime serve`.
3. The SSRF and traversal catalogues and a 32-client load test (`pipelines.robustness.attacks`).

Prints one JSON line: kills, resumed_identical, lost, corrupt_served, fuzz_cases, unclear_errors,
tracebacks, hangs, ssrf_blocked, traversal_blocked, server_5xx, p50_ms, p99_ms (and a `details` object with
--details). Everything runs on 127.0.0.1 in a scratch folder; `--time-limit` bounds the kill phase.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_VIDEO = Path("/work/shared/datasets/real_videos/mmcv_test.mp4")
SESSION_QUESTIONS = 3
TRAIN_STEPS = 60


def child_env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# ---- the drivers the kill phase runs in child processes -----------------------------------------------------

def session_driver(video: str, folder: str, questions_file: str) -> int:
    """Ask the first SESSION_QUESTIONS questions in one checkpointed session, skipping those already answered,
    then print the session's history."""
    from agentime.api import Session
    from agentime.config import Config

    questions = [q["question"] for q in json.loads(Path(questions_file).read_text())][:SESSION_QUESTIONS]
    session = Session(video, config=Config(cache_dir=Path(folder) / "cache"), session_id="chaos",
                      checkpoint=Path(folder) / "sessions.sqlite", models={"draft": None})
    for question in questions[len(session.history):]:
        session.ask(question, strategy="uniform", budget=8)
    print(json.dumps([{k: h.get(k) for k in ("question", "answer", "confidence", "strategy")}
                      for h in session.history], sort_keys=True))
    return 0


def train_driver(folder: str) -> int:
    """A small model through the project's training loop (`run_stage`: checkpoints, resume, done marker)."""
    import torch
    from torch import nn

    from pipelines.train import embedded as training

    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
    stage = training.StageConfig(steps=TRAIN_STEPS, minutes=60, batch=32, lr=1e-2, eval_every=1000,
                                 checkpoint_every=5)
    cfg = training.TrainConfig(out=folder, stages={"chaos": stage}, warmup=5)
    Path(folder).mkdir(parents=True, exist_ok=True)

    def batch_fn(rng: random.Random):
        generator = torch.Generator().manual_seed(rng.getrandbits(32))
        x = torch.randn(32, 16, generator=generator)
        return x, (x[:, :4] > 0).float()

    def loss_fn(batch):
        time.sleep(0.02)  # long enough steps for kills to land between and inside checkpoints
        x, y = batch
        return nn.functional.binary_cross_entropy_with_logits(module(x), y), {}

    training.run_stage("chaos", cfg, module, batch_fn, loss_fn, lambda: {})
    return 0


# ---- kill areas: the command that is killed and resumed, and what its finished result is -------------------

def ingest_area(data: dict) -> dict:
    def command(folder: Path) -> list[str]:
        return [sys.executable, "-m", "agentime.cli", "ingest", str(data["video"]), "--cache", str(folder),
                "--quiet", "--json"]

    def result(folder: Path, _stdout: str):
        from agentime.config import Config
        from agentime.video.ingest import ingest

        done = ingest(data["video"], Config(cache_dir=folder), progress=False)
        digest = hashlib.sha256()
        count = 0
        for frame in done.iter_frames():
            digest.update(f"{frame.t:.4f}".encode())
            digest.update(frame.image.tobytes())
            count += 1
        return {"frames": count, "digest": digest.hexdigest()}

    return {"name": "ingest", "command": command, "result": result, "items": lambda r: r["frames"]}


def eval_area(data: dict) -> dict:
    def command(folder: Path) -> list[str]:
        return [sys.executable, "-m", "agentime.cli", "eval", "--task", "synthetic", "--annotations",
                str(data["questions"]), "--videos", str(data["videos"]), "--out", str(folder / "rows.jsonl"),
                "--strategy", "uniform", "--budget", "8", "--limit", str(data["eval_limit"]), "--draft", "",
                "--cache", str(folder / "cache"), "--quiet"]

    def result(folder: Path, _stdout: str):
        rows = {}
        for line in (folder / "rows.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[row["question_id"]] = {k: v for k, v in row.items() if k not in ("seconds", "attempts")}
        from agentime.eval.results_file import output_path

        metrics = json.loads(output_path(folder / "rows.jsonl", "metrics.json").read_text())
        return {"rows": rows, "questions": metrics.get("questions", metrics.get("total"))}

    return {"name": "eval", "command": command, "result": result, "items": lambda r: len(r["rows"])}


def session_area(data: dict) -> dict:
    def command(folder: Path) -> list[str]:
        return [sys.executable, "-m", "pipelines.chaos", "--session-driver", str(data["video"]), str(folder),
                str(data["questions"])]

    def result(_folder: Path, stdout: str):
        return json.loads(stdout.strip().splitlines()[-1])

    return {"name": "session", "command": command, "result": result, "items": len}


def training_area(_data: dict) -> dict:
    def command(folder: Path) -> list[str]:
        return [sys.executable, "-m", "pipelines.chaos", "--train-driver", str(folder)]

    def result(folder: Path, _stdout: str):
        from safetensors.numpy import load_file

        stage = folder / "chaos"
        tensors = load_file(str(stage / "module.safetensors"))
        digest = hashlib.sha256(b"".join(tensors[k].tobytes() for k in sorted(tensors))).hexdigest()
        return {"step": json.loads((stage / "done.json").read_text())["step"], "digest": digest}

    return {"name": "training", "command": command, "result": result, "items": lambda r: r["step"]}


def run_to_end(command: list[str], timeout_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout_s)


def kill_at(command: list[str], delay_s: float) -> bool:
    """Start `command`, kill -9 it after `delay_s`; False when it finished first."""
    process = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay_s)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def baseline(area: dict, work: Path) -> dict:
    """The uninterrupted run of an area: its result and how long it took."""
    folder = work / f"{area['name']}-baseline"
    began = time.monotonic()
    done = run_to_end(area["command"](folder))
    if done.returncode != 0:
        return {"error": f"baseline failed: {done.stderr.strip()[-300:]}"}
    return {"result": area["result"](folder, done.stdout), "seconds": time.monotonic() - began}


def kill_and_resume(area: dict, reference: dict, folder: Path, rng: random.Random, outcomes: Counter,
                    notes: list) -> None:
    """One kill point: kill -9 at a random moment, run the same command again, compare with the reference."""
    killed = kill_at(area["command"](folder), rng.uniform(0.15, 0.95) * reference["seconds"])
    if not killed:
        outcomes["finished_before_kill"] += 1
        reference["seconds"] *= 0.8
        return
    outcomes["kills"] += 1
    began = time.monotonic()
    resumed = run_to_end(area["command"](folder))
    # kill points are drawn within the shortest run seen: later runs are often faster than the first
    reference["seconds"] = min(reference["seconds"], time.monotonic() - began + 0.5)
    if resumed.returncode != 0:
        outcomes["lost"] += 1
        outcomes["resume_failed"] += 1
        outcomes["tracebacks"] += "Traceback" in resumed.stderr
        notes.append(resumed.stderr.strip().splitlines()[-1][:200] if resumed.stderr.strip() else "no output")
        return
    try:
        got = area["result"](folder, resumed.stdout)
    except Exception as exc:  # the resumed state cannot even be read back: data lost
        got = None
        notes.append(f"{type(exc).__name__}: {exc}"[:200])
    if got == reference["result"]:
        outcomes["resumed_identical"] += 1
    elif got is None or area["items"](got) < area["items"](reference["result"]):
        outcomes["lost"] += 1
    else:
        outcomes["corrupt_served"] += 1
        notes.append("resumed result differs from the uninterrupted one")


def kill_phase(areas: list[dict], work: Path, kills: int, rng: random.Random, deadline: float) -> dict:
    """Baselines, then kill points taken from the areas in turn until `kills` or the deadline."""
    references = {area["name"]: baseline(area, work) for area in areas}
    outcomes = {area["name"]: Counter() for area in areas}
    notes = {area["name"]: [] for area in areas}
    usable = [area for area in areas if "result" in references[area["name"]]]
    trial = 0
    while usable and sum(o["kills"] for o in outcomes.values()) < kills and time.monotonic() < deadline:
        area = usable[trial % len(usable)]
        folder = work / f"{area['name']}-{trial}"
        kill_and_resume(area, references[area["name"]], folder, rng, outcomes[area["name"]], notes[area["name"]])
        shutil.rmtree(folder, ignore_errors=True)
        trial += 1
    keys = ("kills", "resumed_identical", "lost", "corrupt_served", "resume_failed", "tracebacks",
            "finished_before_kill")
    report = {}
    for area in areas:
        name, reference = area["name"], references[area["name"]]
        if "error" in reference:
            report[name] = {"kills": 0, "error": reference["error"]}
        else:
            report[name] = {**{k: outcomes[name][k] for k in keys}, "baseline_s": round(reference["seconds"], 1),
                            "notes": sorted(set(notes[name]))[:5]}
    return report


# ---- the whole suite --------------------------------------------------------------------------------------

def prepare(work: Path, quick: bool) -> dict:
    from pipelines.synthetic.make_benchmark import make_benchmark

    bench = work / "bench"
    make_benchmark(bench, videos=1, minutes=2 if quick else 3, seed=4242, progress=False)
    videos = sorted((bench / "videos").glob("*.mp4"))
    return {"bench": bench, "questions": bench / "questions.json", "videos": bench / "videos", "video": videos[0],
            "eval_limit": 2 if quick else 3}


def run(work: Path, quick: bool, seed: int, kills: int, fuzz: int, clients: int, per_client: int,
        time_limit_s: float) -> dict:
    from pipelines.robustness import attacks as chaos_attacks
    from pipelines.robustness import fuzz as chaos_fuzz

    rng = random.Random(seed)
    data = prepare(work, quick)
    areas = [ingest_area(data), training_area(data)] if quick else [
        ingest_area(data), eval_area(data), session_area(data), training_area(data)]
    deadline = time.monotonic() + time_limit_s
    killing = kill_phase(areas, work, kills, rng, deadline)

    server = chaos_attacks.Served(child_env())
    try:
        server.wait_ready()
        seeds = {"video_real": REAL_VIDEO, "video_generated": data["video"],
                 "synthetic_annotations": data["questions"]}
        checkpoint = work / "session-baseline" / "sessions.sqlite"
        if checkpoint.is_file():
            seeds["checkpoint"] = checkpoint
        file_cases = chaos_fuzz.build_corpus(work / "fuzz", {k: v for k, v in seeds.items() if v.exists()},
                                             fuzz - fuzz // 4, rng)
        fuzzed = chaos_fuzz.run_corpus(file_cases, work / "fuzz", child_env())
        cli_cases = [c for c in file_cases if c["kind"] == "video"][:2 if quick else 10]
        fuzzed += chaos_fuzz.run_cli_cases(cli_cases, child_env(), work / "cli-cache")
        fuzzed += chaos_attacks.payload_fuzz(server.base_url, fuzz // 4, rng)
        ssrf = chaos_attacks.ssrf_catalogue()
        traversal = chaos_attacks.traversal_catalogue(server.base_url, work)
        load = chaos_attacks.load_test(server.base_url, clients, per_client)
    finally:
        server.stop()
    outcomes = Counter(case["outcome"] for case in fuzzed)
    payload_5xx = sum(1 for case in fuzzed if (case.get("status") or 0) >= 500)
    total = lambda key: sum(area.get(key, 0) for area in killing.values())  # noqa: E731
    summary = {
        "kills": total("kills"), "resumed_identical": total("resumed_identical"), "lost": total("lost"),
        "corrupt_served": total("corrupt_served"), "fuzz_cases": len(fuzzed),
        "unclear_errors": outcomes["unclear"] + traversal["unclear"], "tracebacks": outcomes["traceback"],
        "hangs": outcomes["hang"], "ssrf_blocked": f"{ssrf['blocked']}/{ssrf['cases']}",
        "traversal_blocked": f"{traversal['blocked']}/{traversal['cases']}",
        "server_5xx": payload_5xx + load["server_5xx"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
    }
    problems = [c for c in fuzzed if c["outcome"] in ("unclear", "traceback", "hang")]
    details = {"kills": killing, "load": load, "ssrf_failures": ssrf["failures"],
               "traversal_failures": traversal["failures"],
               "fuzz_by_kind": {kind: dict(Counter(c["outcome"] for c in fuzzed if c.get("kind", "payload") == kind))
                                for kind in sorted({c.get("kind", "payload") for c in fuzzed})},
               "fuzz_problems": [{k: c.get(k) for k in ("kind", "source", "outcome", "message", "via", "status")}
                                 for c in problems][:25]}
    return {"summary": summary, "details": details}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.add_argument("--quick", action="store_true", help="a short run (ingest and training kills, fewer cases)")
    parser.add_argument("--details", action="store_true", help="add per-area figures and the failing cases")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--kills", type=int, default=None, help="kill points in all (default 104; quick 2)")
    parser.add_argument("--fuzz", type=int, default=None, help="fuzzed inputs (default 240; quick 24)")
    parser.add_argument("--clients", type=int, default=32, help="load-test clients (default 32)")
    parser.add_argument("--requests", type=int, default=None, help="requests per client (default 10; quick 2)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds for the kill phase (default "
                        "3600; quick 120)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--session-driver", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--train-driver", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.session_driver:
        return session_driver(*args.session_driver)
    if args.train_driver:
        return train_driver(args.train_driver)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    quick = args.quick
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="agentime-chaos-"))
    try:
        report = run(work, quick, args.seed, args.kills or (2 if quick else 104), args.fuzz or (24 if quick else 240),
                     args.clients, args.requests or (2 if quick else 10),
                     args.time_limit or (120 if quick else 3600))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    output = {**report["summary"], "details": report["details"]} if args.details else report["summary"]
    print(json.dumps(output) if args.json else json.dumps(output, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
