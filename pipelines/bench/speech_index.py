"""Time subtitle indexing of a long transcript: read an SRT, build the timeline, embed every cue, search it.

    python -m pipelines.bench_speech_index [--cues 3000] [--hours 3] [--out DIR]

Writes a synthetic SRT of `--cues` varied sentences spread over `--hours` (or reads `--srt FILE`), then times
each stage with a fresh encoder (its one-time weight loading reported apart) and no stored embeddings.
Prints a JSON summary; `index_seconds` (read + timeline + embed + faiss) is the figure the target is about.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = ("the committee", "our guide", "the old captain", "a young painter", "the market", "the river",
            "the orchestra", "the harbour crew", "my neighbour", "the weather service")
VERBS = ("announced", "described", "remembered", "questioned", "celebrated", "explained", "ignored", "repaired")
OBJECTS = ("the new bridge", "a missing letter", "the spring festival", "forty lanterns", "the morning train",
           "a broken clock", "the price of bread", "the northern road", "an empty stage", "the last chapter")


def write_transcript(path: Path, cues: int, hours: float, seed: int = 0) -> Path:
    from pipelines.synthetic.speech import Cue, write_srt

    rng = random.Random(seed)
    step = hours * 3600 / cues
    lines = [Cue(round(i * step, 3), round(i * step + step * 0.8, 3),
                 f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} at {i % 60} past.")
             for i in range(cues)]
    return write_srt(lines, path)


def run(srt: Path, hours: float) -> dict:
    from agentime.speech.index import SpeechIndex, _encoder
    from agentime.speech.segments import Transcript, build_timeline
    from agentime.speech.sources import read_subtitle_file

    encoder = _encoder()
    began = time.perf_counter()
    encoder.encode(["warm up"])
    load_seconds = time.perf_counter() - began
    began = time.perf_counter()
    text = read_subtitle_file(srt)
    segments, _ = build_timeline(text.cues, duration=hours * 3600)
    read_seconds = time.perf_counter() - began
    began = time.perf_counter()
    index = SpeechIndex.build(Transcript(segments, text.source), None, encoder=encoder)
    embed_seconds = time.perf_counter() - began
    began = time.perf_counter()
    found = index.matches(["What did the committee announce about the new bridge?"], k=5)
    search_seconds = time.perf_counter() - began
    return {"srt": str(srt), "cues": len(text.cues), "segments": len(segments),
            "encoder_load_seconds": round(load_seconds, 2),
            "read_seconds": round(read_seconds, 2), "embed_seconds": round(embed_seconds, 2),
            "index_seconds": round(read_seconds + embed_seconds, 2), "search_seconds": round(search_seconds, 3),
            "best_match": found[0].segment.text if found else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cues", type=int, default=3000)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--srt", type=Path, default=None, help="an existing SRT to index instead")
    parser.add_argument("--out", type=Path, default=None, help="folder for the generated SRT (default: a temp one)")
    args = parser.parse_args(argv)
    folder = args.out or Path(tempfile.mkdtemp(prefix="speech_index_"))
    srt = args.srt or write_transcript(folder / "transcript.srt", args.cues, args.hours)
    print(json.dumps(run(srt, args.hours)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
