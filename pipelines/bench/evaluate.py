"""Batch evaluation on a benchmark: per-question JSONL results (resumable) and the official metrics.

    python -m pipelines.evaluate --task T --annotations FILE --videos DIR [--strategy S] [--target SPEC] \
        [--draft SPEC] [--embedder SPEC] [--workers N] [--executor local|ray] --out results.jsonl

Tasks: synthetic, videomme, lvbench, longvideobench, egoschema, charades_sta, tempcompass (formats in
`agentime.eval.tasks`). Writes `<results name>.metrics.json` and the benchmark's submission files beside the
results and prints the metrics. Same as `agentime eval`.
"""

from __future__ import annotations

import sys

from agentime.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["eval", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
