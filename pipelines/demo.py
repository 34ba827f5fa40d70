"""`make demo`: generate a sample long video (once) and ingest it, printing what was found.

The sample lives in `artifacts/demo/`; its cache in `artifacts/demo/cache/` unless AGENTIME_CACHE is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agentime.cli import main as cli_main
from pipelines.make_benchmark import make_benchmark

DEMO_DIR = Path(__file__).resolve().parent.parent / "artifacts" / "demo"


def main() -> int:
    make_benchmark(DEMO_DIR, videos=1, minutes=10, seed=2024, progress=True)
    video = DEMO_DIR / "videos" / "synth_s2024_000.mp4"
    cache = os.environ.get("AGENTIME_CACHE") or str(DEMO_DIR / "cache")
    print(f"sample video: {video} (questions with ground truth in {DEMO_DIR / 'questions.json'})")
    return cli_main(["ingest", str(video), "--cache", cache])


if __name__ == "__main__":
    sys.exit(main())
