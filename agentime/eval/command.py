"""The command line of a batch evaluation, shared by `agentime eval` and `python -m pipelines.evaluate`.

Builds the run's `Config` as every command does (`--config FILE`, then the options, then each `--set`), and
from it `EvalSettings` and a `ModelSource` (with `--open`, registers the free-form answer scorer of
`open_answers.py`), runs `runner.evaluate`, prints the metrics JSON (also when the run fails because too many
videos are missing: then the error line follows on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agentime.vlm.registry import DEFAULT_MODEL_SPECS


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from agentime.eval.runner import EXECUTORS
    from agentime.eval.tasks import TASKS
    from agentime.search import NAMES

    parser.add_argument("--task", required=True, choices=list(TASKS), help="benchmark whose annotations to read")
    parser.add_argument("--annotations", required=True, type=Path, help="annotation file in the task's format")
    parser.add_argument("--videos", required=True, type=Path, help="folder holding the videos")
    parser.add_argument("--out", required=True, type=Path,
                        help="results JSONL (resumed when it exists); <name>.metrics.json and the benchmark's "
                             "submission files are written beside it, named after it")
    parser.add_argument("--strategy", default="auto", choices=NAMES)
    parser.add_argument("--budget", type=int, default=None, help="target frames per question")
    # model and fps defaults are None so that a --config file's values hold unless an option is given
    parser.add_argument("--target", default=None, help=f"target model spec (default {DEFAULT_MODEL_SPECS['target']})")
    parser.add_argument("--draft", default=None,
                        help=f"draft model spec ('' for none; default {DEFAULT_MODEL_SPECS['draft']})")
    parser.add_argument("--embedder", default=None,
                        help=f"embedder spec ('' for none; default {DEFAULT_MODEL_SPECS['embedder']})")
    parser.add_argument("--executor", default="local", choices=EXECUTORS, help="local threads or a Ray cluster")
    parser.add_argument("--workers", type=int, default=1, help="videos answered at once (threads or Ray actors)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster to join (default: start a local one)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--retries", type=int, default=2, help="retries of a question after a model server error")
    parser.add_argument("--retry-wait", type=float, default=2.0, help="seconds before the first retry (doubles)")
    parser.add_argument("--fps", type=float, default=None, help="overview frames per second (default 1)")
    parser.add_argument("--cache", default=None, help="frame cache folder (default: $AGENTIME_CACHE or ~/.cache)")
    parser.add_argument("--max-missing", type=float, default=0.1,
                        help="share of questions whose video may be missing before the run fails (default 0.1)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="accept a run with more missing videos than --max-missing (exit 0)")
    parser.add_argument("--open", action="store_true",
                        help="ask choice questions without their options and score the free-form answers "
                             "against the true option's text (a time, a number or a name)")
    parser.add_argument("--subtitles", type=Path, default=None,
                        help="folder of subtitle files: <video id>.srt (Video-MME), LongVideoBench's subtitle JSON "
                             "(named by the annotation's subtitle_path), or any .srt/.vtt/.ass named after a video")
    parser.add_argument("--no-speech", action="store_true",
                        help="frames only: ignore subtitles beside the videos and inside them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or note on stderr")
    from agentime.cli import add_config_arguments

    add_config_arguments(parser)


def eval_main(args: argparse.Namespace) -> int:
    from agentime.cli import config_from_args, note_demo_models
    from agentime.errors import ConfigError
    from agentime.eval.results_file import output_path
    from agentime.eval.runner import EvalSettings, MissingVideosError, ModelSource, evaluate

    if args.budget is not None and args.budget < 1:
        raise ConfigError(f"--budget must be >= 1, got {args.budget}")
    if args.retries < 0 or args.retry_wait < 0:
        raise ConfigError("--retries and --retry-wait must be >= 0")
    config = config_from_args(args)
    settings = EvalSettings(task=args.task, strategy=args.strategy, budget=args.budget, retries=args.retries,
                            retry_wait=args.retry_wait, cache_dir=str(config.cache_dir),
                            fps=config.video.overview_fps, open=args.open,
                            allow_truncated=config.video.allow_truncated,
                            subtitles=str(args.subtitles) if args.subtitles else None,
                            speech=not args.no_speech and config.speech.enabled,
                            base=config)
    if args.subtitles is not None and not args.subtitles.is_dir():
        raise ConfigError(f"subtitles folder {args.subtitles} does not exist")
    if args.open:
        from agentime.eval.metrics import set_open_scorer
        from agentime.eval.open_answers import score_open_answer

        set_open_scorer(score_open_answer)
    note_demo_models(config.models.specs(), args)
    source = ModelSource(config.models.specs(), verbose=config.verbose)
    try:
        metrics = evaluate(args.task, args.annotations, args.videos, args.out, source, settings,
                           executor=args.executor, workers=args.workers, limit=args.limit, ray_address=args.ray_address,
                           progress=not args.quiet, max_missing=args.max_missing, allow_missing=args.allow_missing)
    except MissingVideosError:
        # the metrics were written: show them, then the error line (the CLI exits 2 with it)
        print(json.dumps(json.loads(output_path(args.out, "metrics.json").read_text()), indent=1))
        raise
    print(json.dumps(metrics, indent=1))
    return 0
