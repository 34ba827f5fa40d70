"""Generate the synthetic long-video benchmark: videos, their timelines and questions with ground truth.

    python -m pipelines.make_benchmark --out DIR --videos N --minutes M --seed S [--speech]
    python -m pipelines.make_benchmark --out DIR --library N --minutes M --seed S

Writes `DIR/videos/<video_id>.mp4`, `DIR/worlds/<video_id>.json` (the full timeline) and
`DIR/questions.json` (schema in `datasets/README.md`). `--library N` writes N videos for one library: each
video's event uses an object no other video shows (the rest come from one shared pool), and its questions
(needle, grounding and "which_video", whose answer is the video id) name that object, so each has its answer
in exactly one video; `DIR/library.json` marks the folder as a library benchmark. Deterministic by seed; a rerun skips videos that are
already complete, and every file is written atomically, so an interrupted run resumes. `--speech` adds a
narration (`pipelines.synthetic_speech`): `DIR/videos/<video_id>.srt` beside each video (found as its
sidecar), an MKV copy with it as a subtitle stream in `DIR/videos_mkv/`, and `speech` and `cross_modal`
questions; the videos and their visual questions stay the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import replace
from pathlib import Path

from agentime.video.cache import atomic_write_bytes, atomic_write_json
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import COLOURS, SHAPES, World, WorldConfig, generate_world, write_video

LIBRARY_COMMON_OBJECTS = 20  # objects every video of a library may show; the others are one video's own
LIBRARY_FEWEST_COMMON = 12  # a larger library takes its own objects from the common pool, down to this many


def video_seed(seed: int, index: int) -> int:
    return seed * 100_003 + index


def library_configs(videos: int, minutes: float, fps: float, seed: int) -> list[WorldConfig]:
    """One world config per video of a library: one needle event each, on an object of its own."""
    combos = [(s, c) for s in SHAPES for c in COLOURS]
    if videos > library_max_videos():
        raise ValueError(f"a library benchmark holds at most {library_max_videos()} videos")
    random.Random(seed).shuffle(combos)
    # A library small enough keeps the full common pool, so the benchmarks generated before stay the same.
    shared = min(LIBRARY_COMMON_OBJECTS, len(combos) - videos)
    common = tuple(combos[:shared])
    return [WorldConfig(minutes=minutes, fps=fps, needles=1, groundings=0, orders=0, counts=0,
                        reserved=(combos[shared + i],),
                        common=common) for i in range(videos)]


def library_max_videos() -> int:
    return len(SHAPES) * len(COLOURS) - LIBRARY_FEWEST_COMMON


def library_questions(world: World, video_id: str, seed: int) -> list[dict]:
    """Needle, grounding (the needle object's only appearance) and which-video questions of one video."""
    needle = world.events["needle"][0]
    events = {**world.events, "grounding": [{"object": needle["object"], "span": needle["span"]}]}
    questions = make_questions(replace(world, events=events), video_id, seed)
    questions.append({"video_id": video_id, "question_id": f"{video_id}-{len(questions):03d}",
                      "task_type": "which_video", "question": f"In which video is the {needle['object']} shown?",
                      "options": None, "answer": video_id, "answer_text": video_id,
                      "answer_spans": [needle["span"]], "duration": world.duration})
    return questions


def make_benchmark(out: str | Path, *, videos: int, minutes: float, seed: int, fps: float = 4.0,
                   gop_seconds: float = 5.0, progress: bool = True, library: bool = False,
                   speech: bool = False) -> dict:
    out = Path(out)
    configs = library_configs(videos, minutes, fps, seed) if library else None
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "worlds").mkdir(parents=True, exist_ok=True)
    questions: list[dict] = []
    for index in range(videos):
        video_id = f"synth_s{seed}_{index:03d}"
        config = configs[index] if configs else WorldConfig(minutes=minutes, fps=fps)
        world = generate_world(video_seed(seed, index), config)
        world_path = out / "worlds" / f"{video_id}.json"
        video_path = out / "videos" / f"{video_id}.mp4"
        done = world_path.exists() and video_path.exists() and World.load(world_path).to_json() == world.to_json()
        if not done:
            tmp = video_path.with_name(f".{video_path.name}.partial.mp4")
            write_video(world, tmp, gop_seconds=gop_seconds, progress=progress)
            os.replace(tmp, video_path)
            atomic_write_json(world_path, world.to_json())
        asked = library_questions if library else make_questions
        found = asked(world, video_id, video_seed(seed, index))
        if speech:
            found += _narrate(world, video_id, video_seed(seed, index), video_path, out)
        for q in found:
            q["video_path"] = f"videos/{video_id}.mp4"
            questions.append(q)
    atomic_write_bytes(out / "questions.json", json.dumps(questions, indent=1).encode())
    summary = {"out": str(out), "videos": videos, "minutes": minutes, "seed": seed, "questions": len(questions),
               "library": library, "speech": speech}
    if library:
        atomic_write_json(out / "library.json", summary)
    return summary


def _narrate(world: World, video_id: str, seed: int, video_path: Path, out: Path) -> list[dict]:
    """Write the narration SRT beside the video and the MKV copy; return the narration's questions."""
    from pipelines.synthetic.speech import make_narration, mux_subtitles, write_srt

    cues, questions = make_narration(world, video_id, seed)
    srt = write_srt(cues, video_path.with_suffix(".srt"))
    mkv = out / "videos_mkv" / f"{video_id}.mkv"
    mkv.parent.mkdir(parents=True, exist_ok=True)
    if not (mkv.exists() and mkv.stat().st_mtime >= srt.stat().st_mtime):
        mux_subtitles(video_path, srt, mkv)
    return questions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--videos", type=int, default=2, help="number of videos")
    parser.add_argument("--library", type=int, default=None, metavar="N",
                        help="N videos of one library, each question answered in exactly one of them")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each video in minutes (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed; same seed, same benchmark")
    parser.add_argument("--fps", type=float, default=4.0, help="frame rate of the videos (2-5 is typical)")
    parser.add_argument("--gop", type=float, default=5.0, help="seconds between keyframes")
    parser.add_argument("--speech", action="store_true",
                        help="add a narration (SRT beside each video, an MKV copy with it) and speech questions")
    args = parser.parse_args(argv)
    if args.library is not None:
        args.videos = args.library
        if not 2 <= args.library <= library_max_videos():
            parser.error(f"--library takes 2 to {library_max_videos()} videos")
    if args.videos < 1 or args.minutes < 1 or not (0.5 <= args.fps <= 60) or args.gop <= 0:
        parser.error("need --videos >= 1, --minutes >= 1, 0.5 <= --fps <= 60 and --gop > 0")
    print(json.dumps(make_benchmark(args.out, videos=args.videos, minutes=args.minutes, seed=args.seed,
                                    fps=args.fps, gop_seconds=args.gop, library=args.library is not None,
                                    speech=args.speech)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
