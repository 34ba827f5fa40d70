"""Generate the synthetic long-video benchmark: videos, their timelines and questions with ground truth.

    python -m pipelines.make_benchmark --out DIR --videos N --minutes M --seed S

Writes `DIR/videos/<video_id>.mp4`, `DIR/worlds/<video_id>.json` (the full timeline) and
`DIR/questions.json` (schema in `datasets/README.md`). Deterministic by seed; a rerun skips videos that are
already complete, and every file is written atomically, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from agentime.video.cache import atomic_write_bytes, atomic_write_json
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import World, WorldConfig, generate_world, write_video


def video_seed(seed: int, index: int) -> int:
    return seed * 100_003 + index


def make_benchmark(out: str | Path, *, videos: int, minutes: float, seed: int, fps: float = 4.0,
                   gop_seconds: float = 5.0, progress: bool = True) -> dict:
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "worlds").mkdir(parents=True, exist_ok=True)
    questions: list[dict] = []
    for index in range(videos):
        video_id = f"synth_s{seed}_{index:03d}"
        world = generate_world(video_seed(seed, index), WorldConfig(minutes=minutes, fps=fps))
        world_path = out / "worlds" / f"{video_id}.json"
        video_path = out / "videos" / f"{video_id}.mp4"
        done = world_path.exists() and video_path.exists() and World.load(world_path).to_json() == world.to_json()
        if not done:
            tmp = video_path.with_name(f".{video_path.name}.partial.mp4")
            write_video(world, tmp, gop_seconds=gop_seconds, progress=progress)
            os.replace(tmp, video_path)
            atomic_write_json(world_path, world.to_json())
        for q in make_questions(world, video_id, video_seed(seed, index)):
            q["video_path"] = f"videos/{video_id}.mp4"
            questions.append(q)
    atomic_write_bytes(out / "questions.json", json.dumps(questions, indent=1).encode())
    summary = {"out": str(out), "videos": videos, "minutes": minutes, "seed": seed, "questions": len(questions)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--videos", type=int, default=2, help="number of videos")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each video in minutes (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed; same seed, same benchmark")
    parser.add_argument("--fps", type=float, default=4.0, help="frame rate of the videos (2-5 is typical)")
    parser.add_argument("--gop", type=float, default=5.0, help="seconds between keyframes")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.minutes < 1 or not (0.5 <= args.fps <= 60) or args.gop <= 0:
        parser.error("need --videos >= 1, --minutes >= 1, 0.5 <= --fps <= 60 and --gop > 0")
    print(json.dumps(make_benchmark(args.out, videos=args.videos, minutes=args.minutes, seed=args.seed,
                                    fps=args.fps, gop_seconds=args.gop)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
