"""Batch evaluation on a benchmark: per-question JSONL results (resumable) and the official metrics.

    python -m pipelines.evaluate --task T --annotations FILE --videos DIR [--strategy S] [--target SPEC] \
        [--draft SPEC] [--embedder SPEC] [--workers N] [--executor local|ray] --out results.jsonl

Tasks: synthetic, videomme, lvbench, longvideobench, egoschema, charades_sta, tempcompass (formats in
`agentime.eval.tasks`). Writes `metrics.json` beside the results and prints it. Same as `agentime eval`.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from agentime.errors import AgentimeError
    from agentime.eval.command import add_eval_arguments, eval_main

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_eval_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return eval_main(args)
    except AgentimeError as exc:
        print(f"evaluate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluate: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
