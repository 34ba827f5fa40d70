"""Benchmark how the cost of a video grows with its length: ingest, memory, index size and questions.

    python -m pipelines.bench_scale --hours 1,4,12 [--seed 7] [--json] [--out artifacts/scale]
        [--strategies timesearch,spectemp] [--budget 64]

For each length one synthetic video is generated once and kept under OUT (320x240 at 2 fps, H.264 with a
keyframe every 5 s, the same events whatever the length: 4 needles, 4 groundings, 2 orders; no counting
questions, which need a sweep of the whole video by design). Then, in a child process each:

- ingest: an empty cache, the overview and the frame index (`ingest_and_index`, decoding and embedding in
  parallel stages); `ingest_seconds` excludes loading the embedder;
- ask: the shipped models answer every question with each strategy on the warm cache; a first question
  (not counted) opens the index, the rest are timed one by one (`seconds_per_question`), scored as
  multiple choice (`accuracy`) and counted (`target_frames` per question, from the answers' stats).

`peak_rss_mb` is each child's peak resident memory (from `wait4`), `index_mb` the saved frame index,
`overview_mb` the cached overview frames. `ratios` compares the longest length with the shortest against the
targets (ingest per hour <= 1.2x, peak memory <= 1.5x, seconds per question <= 2x, target frames <= 1.5x,
accuracy >= 0.85 at the longest). Prints a table and the JSON summary (`--json`: only the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "artifacts" / "scale"
EVENTS = {"needles": 4, "groundings": 4, "orders": 2, "counts": 0}
VIDEO_FPS = 2.0
TARGETS = {"ingest_seconds_per_hour": 1.2, "peak_rss_mb": 1.5, "seconds_per_question": 2.0, "target_frames": 1.5}
MIN_ACCURACY = 0.85


def make_scale_video(out: Path, hours: float, seed: int) -> Path:
    """The benchmark folder of one length (`videos/<id>.mp4`, `questions.json`); made once, then reused."""
    from pipelines.synthetic.make_benchmark import video_seed
    from pipelines.synthetic.questions import make_questions
    from pipelines.synthetic.world import WorldConfig, generate_world, write_video

    from agentime.video.cache import atomic_write_bytes

    folder = out / f"video_{hours:g}h_s{seed}"
    questions_path = folder / "questions.json"
    if questions_path.is_file():
        return folder
    video_id = f"scale_{hours:g}h_s{seed}"
    world = generate_world(video_seed(seed, 0), WorldConfig(minutes=hours * 60, fps=VIDEO_FPS, **EVENTS))
    video = folder / "videos" / f"{video_id}.mp4"
    partial = video.with_name(f".{video.name}.partial.mp4")
    write_video(world, partial, gop_seconds=5.0)
    os.replace(partial, video)
    questions = make_questions(world, video_id, seed)
    for q in questions:
        q["video_path"] = f"videos/{video_id}.mp4"
    atomic_write_bytes(questions_path, json.dumps(questions, indent=1).encode())  # written last: marks it done
    return folder


def run_child(args: list[str]) -> tuple[dict, float]:
    """Run this module in a child process; its last stdout line (JSON) and its peak resident memory in MB."""
    process = subprocess.Popen([sys.executable, "-m", "pipelines.bench.scale", *args], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the child `{' '.join(args[:1])}` failed with exit code {process.returncode}")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024  # Linux: kilobytes


def child_ingest(video: str, cache: Path, embedder_spec: str, progress: bool) -> dict:
    from agentime.config import Config
    from agentime.index.ingest_index import ingest_and_index
    from agentime.vlm.registry import load_embedder

    embedder = load_embedder(embedder_spec)
    began = time.perf_counter()
    result, _ = ingest_and_index(video, Config(cache_dir=cache), embedder, progress=progress)
    seconds = time.perf_counter() - began
    return {"ingest_seconds": seconds, "frames": result.frames, "directory": str(result.directory),
            "duration": result.info.duration}


def child_ask(bench: Path, cache: Path, strategies: list[str], budget: int) -> dict:
    import numpy as np

    from agentime.api import Session
    from agentime.config import Config
    from agentime.vlm.registry import DEFAULT_MODEL_SPECS, load_model_roles

    questions = json.loads((bench / "questions.json").read_text())
    models = load_model_roles(dict(DEFAULT_MODEL_SPECS))
    config = Config(cache_dir=cache).with_speech(enabled=False)
    session = Session(str(bench / questions[0]["video_path"]), models=models, config=config)
    began = time.perf_counter()
    session.ask("Is anything shown?", strategy="uniform", budget=1)  # opens the cache and the index
    open_seconds = time.perf_counter() - began
    rows: dict[str, list[dict]] = {s: [] for s in strategies}
    for q in questions:
        for strategy in strategies:
            began = time.perf_counter()
            answer = session.ask(q["question"], options=q["options"], strategy=strategy, budget=budget)
            rows[strategy].append({"correct": answer.choice == q["answer"], "seconds": time.perf_counter() - began,
                                   "target_frames": answer.stats["target_frames"],
                                   "draft_frames": answer.stats["draft_frames"], "task_type": q["task_type"]})
    summary = {}
    for strategy, found in rows.items():
        summary[strategy] = {
            "questions": len(found),
            "accuracy": float(np.mean([r["correct"] for r in found])),
            "seconds_per_question": float(np.mean([r["seconds"] for r in found])),
            "target_frames": float(np.mean([r["target_frames"] for r in found])),
            "draft_frames": float(np.mean([r["draft_frames"] for r in found])),
            "target_frames_by_question": [r["target_frames"] for r in found],
            "wrong": [f"{q['question_id']} ({q['task_type']})" for q, r in zip(questions, found, strict=True)
                      if not r["correct"]],
        }
    return {"open_seconds": open_seconds, "strategies": summary}


def folder_mb(paths) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def measure_length(hours: float, seed: int, out: Path, strategies: list[str], budget: int, embedder: str,
                   progress: bool) -> dict:
    bench = make_scale_video(out, hours, seed)
    video = next((bench / "videos").glob("*.mp4"))
    cache = out / f"cache_{hours:g}h_s{seed}"
    shutil.rmtree(cache, ignore_errors=True)  # ingest is measured from an empty cache
    ingested, ingest_rss = run_child(["ingest", str(video), str(cache), embedder] + (["--progress"] if progress else []))
    asked, ask_rss = run_child(["ask", str(bench), str(cache), ",".join(strategies), str(budget)])
    directory = Path(ingested["directory"])
    seconds = ingested["ingest_seconds"]
    return {
        "hours": hours, "duration": ingested["duration"], "frames": ingested["frames"],
        "video_mb": round(video.stat().st_size / 2**20, 2),
        "ingest_seconds": round(seconds, 2), "ingest_seconds_per_hour": round(seconds / hours, 2),
        "peak_rss_mb": {"ingest": round(ingest_rss, 1), "ask": round(ask_rss, 1)},
        "index_mb": round(folder_mb(directory.glob("index_*")), 2),
        "overview_mb": round(folder_mb(directory.glob("chunk_*.npz")), 2),
        "open_seconds": round(asked["open_seconds"], 2),
        "strategies": asked["strategies"],
    }


def ratios(first: dict, last: dict, strategies: list[str]) -> dict:
    """The longest length against the shortest, per target, with whether each target is met."""
    def entry(name: str, a: float, b: float) -> dict:
        ratio = b / a if a else float("inf")
        return {"ratio": round(ratio, 3), "target": TARGETS[name], "met": ratio <= TARGETS[name]}

    out = {"ingest_seconds_per_hour": entry("ingest_seconds_per_hour", first["ingest_seconds_per_hour"],
                                            last["ingest_seconds_per_hour"])}
    for role in ("ingest", "ask"):
        out[f"peak_rss_mb_{role}"] = entry("peak_rss_mb", first["peak_rss_mb"][role], last["peak_rss_mb"][role])
    for s in strategies:
        a, b = first["strategies"][s], last["strategies"][s]
        out[s] = {
            "seconds_per_question": entry("seconds_per_question", a["seconds_per_question"], b["seconds_per_question"]),
            "target_frames": entry("target_frames", a["target_frames"], b["target_frames"]),
            "accuracy": {"value": b["accuracy"], "target": MIN_ACCURACY, "met": b["accuracy"] >= MIN_ACCURACY},
        }
    return out


def table(summary: dict) -> str:
    lines = [f"{'hours':>6}{'ingest s':>10}{'s/h':>8}{'rss in':>8}{'rss ask':>8}{'index':>8}  strategy: acc s/q frames"]
    for r in summary["lengths"]:
        per = "  ".join(f"{s}: {v['accuracy']:.2f} {v['seconds_per_question']:.2f} {v['target_frames']:.1f}"
                        for s, v in r["strategies"].items())
        lines.append(f"{r['hours']:>6g}{r['ingest_seconds']:>10.1f}{r['ingest_seconds_per_hour']:>8.1f}"
                     f"{r['peak_rss_mb']['ingest']:>8.0f}{r['peak_rss_mb']['ask']:>8.0f}{r['index_mb']:>8.1f}  {per}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ingest":  # child processes (see run_child)
        print(json.dumps(child_ingest(argv[1], Path(argv[2]), argv[3], "--progress" in argv)))
        return 0
    if argv and argv[0] == "ask":
        print(json.dumps(child_ask(Path(argv[1]), Path(argv[2]), argv[3].split(","), int(argv[4]))))
        return 0
    from agentime.vlm.registry import DEFAULT_MODEL_SPECS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="1,4,12", help="video lengths in hours, comma-separated")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated videos and questions")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where videos and caches are kept")
    parser.add_argument("--strategies", default="timesearch,spectemp")
    parser.add_argument("--budget", type=int, default=64, help="target frames per question")
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"])
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    try:
        hours = sorted({float(h) for h in args.hours.split(",") if h.strip()})
    except ValueError:
        parser.error(f"--hours takes numbers separated by commas, got {args.hours!r}")
    if not hours or min(hours) < 1 / 60:
        parser.error("--hours needs at least one length of one minute (1/60 h) or more")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    lengths = []
    for h in hours:
        lengths.append(measure_length(h, args.seed, args.out, strategies, args.budget, args.embedder, not args.json))
        print(json.dumps(lengths[-1]), file=sys.stderr, flush=True)  # each length as soon as it is measured
    summary = {"seed": args.seed, "budget": args.budget, "video": {"size": [320, 240], "fps": VIDEO_FPS},
               "cpus": os.cpu_count(), "lengths": lengths}
    if len(lengths) > 1:
        summary["ratios"] = ratios(lengths[0], lengths[-1], strategies)
    if not args.json:
        print(table(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
