"""`make demo`: generate a sample long video (once), ingest it and answer a question about it.

The sample lives in `artifacts/demo/`; its cache in `artifacts/demo/cache/` unless AGENTIME_CACHE is set.
The question is one of the sample's benchmark questions, so the true answer is printed beside agentime's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from agentime.cli import main as cli_main
from agentime.vlm.registry import MODELS_DIR
from pipelines.synthetic.make_benchmark import make_benchmark

DEMO_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "demo"


def main() -> int:
    make_benchmark(DEMO_DIR, videos=1, minutes=10, seed=2024, progress=True)
    video = DEMO_DIR / "videos" / "synth_s2024_000.mp4"
    cache = os.environ.get("AGENTIME_CACHE") or str(DEMO_DIR / "cache")
    print(f"sample video: {video} (questions with ground truth in {DEMO_DIR / 'questions.json'})")
    status = cli_main(["ingest", str(video), "--cache", cache])
    if status != 0:
        return status
    if not (MODELS_DIR / "target" / "config.json").is_file():
        print("the embedded models are not installed, so no question is answered; see README.md")
        return 0
    question = next(q for q in json.loads((DEMO_DIR / "questions.json").read_text()) if q["task_type"] == "needle")
    print(f"\nquestion: {question['question']}")
    print("options: " + "  ".join(question["options"]))
    print(f"true answer: {question['answer']}. {question['answer_text']} "
          f"(on screen {question['answer_spans'][0][0]:.1f}-{question['answer_spans'][0][1]:.1f} s)\n")
    return cli_main(["ask", str(video), question["question"], "--options", *question["options"], "--cache", cache])


if __name__ == "__main__":
    sys.exit(main())
