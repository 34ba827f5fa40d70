"""The command line of a batch evaluation, shared by `agentime eval` and `python -m pipelines.evaluate`.

Parses options into `EvalSettings` and a `ModelSource`, runs `runner.evaluate`, prints the metrics JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from agentime.eval.runner import EXECUTORS
    from agentime.eval.tasks import TASKS
    from agentime.search import NAMES

    parser.add_argument("--task", required=True, choices=list(TASKS), help="benchmark whose annotations to read")
    parser.add_argument("--annotations", required=True, type=Path, help="annotation file in the task's format")
    parser.add_argument("--videos", required=True, type=Path, help="folder holding the videos")
    parser.add_argument("--out", required=True, type=Path,
                        help="results JSONL (resumed when it exists); metrics.json is written beside it")
    parser.add_argument("--strategy", default="auto", choices=NAMES)
    parser.add_argument("--budget", type=int, default=None, help="target frames per question")
    parser.add_argument("--target", default="embedded:target", help="target model spec")
    parser.add_argument("--draft", default="embedded:draft", help="draft model spec ('' for none)")
    parser.add_argument("--embedder", default="embedded:embedder", help="embedder spec ('' for none)")
    parser.add_argument("--executor", default="local", choices=EXECUTORS, help="local threads or a Ray cluster")
    parser.add_argument("--workers", type=int, default=1, help="videos answered at once (threads or Ray actors)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster to join (default: start a local one)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--retries", type=int, default=2, help="retries of a question after a model server error")
    parser.add_argument("--retry-wait", type=float, default=2.0, help="seconds before the first retry (doubles)")
    parser.add_argument("--fps", type=float, default=1.0, help="overview frames per second")
    parser.add_argument("--cache", default=None, help="frame cache folder (default: $AGENTIME_CACHE or ~/.cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def eval_main(args: argparse.Namespace) -> int:
    from agentime.errors import ConfigError
    from agentime.eval.runner import EvalSettings, ModelSource, evaluate

    if args.budget is not None and args.budget < 1:
        raise ConfigError(f"--budget must be >= 1, got {args.budget}")
    if args.retries < 0 or args.retry_wait < 0:
        raise ConfigError("--retries and --retry-wait must be >= 0")
    settings = EvalSettings(task=args.task, strategy=args.strategy, budget=args.budget, retries=args.retries,
                            retry_wait=args.retry_wait, cache_dir=args.cache, fps=args.fps,
                            allow_truncated=getattr(args, "allow_truncated", False))
    source = ModelSource({"target": args.target, "draft": args.draft or None, "embedder": args.embedder or None})
    metrics = evaluate(args.task, args.annotations, args.videos, args.out, source, settings, executor=args.executor,
                       workers=args.workers, limit=args.limit, ray_address=args.ray_address, progress=not args.quiet)
    print(json.dumps(metrics, indent=1))
    return 0
