"""The `agentime` command line: `agentime ingest VIDEO`, more subcommands as the layers below grow.

The CLI builds a `Config` from its options, calls the library and prints results; it holds no logic of its
own. Errors a user can cause print one readable line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from agentime.config import Config, VideoConfig, default_cache_dir
from agentime.errors import AgentimeError


def _offline_default() -> None:
    # A hub id that cannot be reached otherwise takes ~25 s to fail; users with network can unset these.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _ingest(args: argparse.Namespace) -> int:
    from agentime.video.ingest import ingest

    config = Config(cache_dir=Path(args.cache) if args.cache else default_cache_dir(),
                    video=VideoConfig(overview_fps=args.fps, max_side=args.max_side))
    result = ingest(args.video, config, progress=not args.quiet, allow_truncated=args.allow_truncated)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        state = "found in cache" if result.cached else "ingested"
        print(f"{summary['video']}: {state}")
        print(f"  duration {summary['duration']:.1f} s, {summary['fps']:.2f} fps, "
              f"{summary['size'][0]}x{summary['size'][1]} {summary['codec']}")
        print(f"  frames sampled {summary['frames_sampled']} at {args.fps:g} fps ({summary['method']} decoding) "
              f"in {summary['seconds']:.2f} s")
        print(f"  cache {summary['cache']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentime", description="Answer questions about long videos.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="sample a video's overview into the frame cache")
    ingest.add_argument("video", help="path of a video file")
    ingest.add_argument("--fps", type=float, default=1.0, help="overview frames per second (default 1)")
    ingest.add_argument("--max-side", type=int, default=384, help="longer side of stored frames in pixels")
    ingest.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")
    ingest.add_argument("--allow-truncated", action="store_true", help="ingest the readable part of a cut file")
    ingest.add_argument("--json", action="store_true", help="print a JSON summary")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(run=_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    _offline_default()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AgentimeError as exc:
        print(f"agentime: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentime: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
