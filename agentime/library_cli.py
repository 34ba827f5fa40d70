"""`agentime library add|search|ask DIR`: the command line of `agentime.Library`.

Builds the library from its options, calls it and prints the result (a table, or JSON with `--json`); it
holds no logic of its own. Errors a user can cause reach `agentime.cli`, which prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agentime.config import Config, default_cache_dir


def add_library_arguments(parser: argparse.ArgumentParser) -> None:
    from agentime.search import NAMES

    parser.add_argument("action", choices=["add", "search", "ask"],
                        help="add: index the folder's videos; search: moments for a text; ask: answer a question")
    parser.add_argument("folder", help="folder of videos (its sub-folders too)")
    parser.add_argument("text", nargs="?", default=None, help="what to search for, or the question to ask")
    parser.add_argument("--k", type=int, default=10, help="moments to list (search)")
    parser.add_argument("--options", nargs="+", help="multiple-choice options (ask)")
    parser.add_argument("--strategy", default="auto", choices=NAMES, help="search inside the chosen videos (ask)")
    parser.add_argument("--budget", type=int, default=None, help="target frames per searched video (ask)")
    parser.add_argument("--target", default="embedded:target", help="target model spec")
    parser.add_argument("--draft", default="embedded:draft", help="draft model spec ('' for none)")
    parser.add_argument("--embedder", default="embedded:embedder", help="embedder spec")
    parser.add_argument("--quantizer", default="fp16", choices=["fp16", "sq8", "pq"], help="codes of a large library's index")
    parser.add_argument("--workers", type=int, default=1, help="videos ingested and embedded at once, each in its own process (add)")
    parser.add_argument("--watch", action="store_true", help="keep adding the folder's new files until Ctrl-C (add)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between looks at a watched folder")
    parser.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def library_main(args: argparse.Namespace) -> int:
    from agentime.errors import ConfigError
    from agentime.library import Library

    if args.action in ("search", "ask") and not (args.text or "").strip():
        raise ConfigError(f"`agentime library {args.action}` needs a text after the folder")
    if args.workers < 1 or args.interval <= 0:
        raise ConfigError("--workers needs at least 1 and --interval a positive number of seconds")
    if args.watch and args.action != "add":
        raise ConfigError("--watch goes with `agentime library add`")
    models = {"target": args.target, "draft": args.draft or None, "embedder": args.embedder or None}
    if args.action != "ask":
        models["draft"] = None  # adding and searching use the embedder only
    config = Config(cache_dir=Path(args.cache) if args.cache else default_cache_dir())
    library = Library(args.folder, cache=config, models=models, quantizer=args.quantizer, add=False,
                      progress=None if args.quiet else _progress)
    summary = library.add(workers=args.workers)
    if args.action == "add":
        _print_add(summary, args.json)
        if args.watch:
            _watch(library, args)
    elif args.action == "search":
        moments = [vars(m) for m in library.search(args.text, args.k)]
        print(json.dumps(moments) if args.json else "\n".join(_moment_line(m) for m in moments))
    else:
        answer = library.ask(args.text, options=args.options, strategy=args.strategy, budget=args.budget)
        _print_answer(answer, args.json)
    if not args.json:
        for note in library.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def _watch(library, args: argparse.Namespace) -> None:
    """Follow the folder until Ctrl-C; each add prints as the first one did."""
    print(f"watching {library.folder} every {args.interval:g} s (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        library.watch(interval=args.interval, workers=args.workers,
                      on_add=lambda summary: _print_add(summary, args.json))
    except KeyboardInterrupt:
        print(f"stopped watching; {len(library.videos)} videos in the library", file=sys.stderr, flush=True)


def _progress(message: str, fraction: float) -> None:
    print(f"\r[{fraction * 100:5.1f}%] {message[:60]:<60}", end="" if fraction < 1 else "\n", file=sys.stderr,
          flush=True)


def _moment_line(moment: dict) -> str:
    from agentime.video.tafr import format_timestamp

    said = f'  said: "{moment["said"]}"' if moment.get("said") else ""
    return f"{moment['video']}  {format_timestamp(moment['t'])}  {moment['score']:.3f}{said}"


def _print_add(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary), flush=True)
        return
    print(f"{summary['videos']} videos ({len(summary['added'])} added, {len(summary['unchanged'])} unchanged), "
          f"index: {summary['index']}")
    for skipped in summary["skipped"]:
        print(f"skipped {skipped['path']}: {skipped['reason']}")
    sys.stdout.flush()


def _print_answer(answer, as_json: bool) -> None:
    from agentime.video.tafr import format_timestamp

    if as_json:
        print(json.dumps(answer.to_dict()))  # its `video` and `candidates` come with it
        return
    label = f"{answer.choice}. {answer.text}" if answer.choice else answer.text
    print(f"answer: {label}")
    print(f"video: {answer.video}")
    print(f"confidence: {answer.confidence:.2f} ({answer.strategy})")
    for start, end in answer.spans:
        print(f"span: {format_timestamp(start)} - {format_timestamp(end)}")
    print("evidence: " + ", ".join(f"{format_timestamp(e.t)} ({e.score_text()})" for e in answer.evidence))
