"""Benchmark: yes/no frame scoring in process vs through `agentime serve`, in one run.

Loads the embedded target model (or, until it is installed, a randomly initialised model of the same
shape built in a temp folder), scores the same frames in batches with the hf backend directly and through
the OpenAI-compatible server on 127.0.0.1 driven by the openai backend, and prints one JSON line per batch
size with `batch`, `inprocess_fps`, `served_fps` and their `ratio` (in-process / served).

    python -m pipelines.bench_vlm [--batch 16] [--frames 64] [--repeats 3] [--model hf:/path]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from agentime.video.frames import Frame

STATEMENT = "a red circle is visible in the frame"


def load_target(spec: str | None, batch: int, workdir: str):
    """The model to measure: `spec`, else the embedded target, else a random model of the target's shape."""
    from pipelines.tiny import vlms as tiny
    from agentime.vlm.errors import EmbeddedModelMissingError
    from agentime.vlm.registry import DEFAULT_MODEL_SPECS, embedded_model_dir, load_vlm

    if spec:
        return load_vlm(spec, max_batch=batch), spec
    try:
        embedded_model_dir("target")
        return load_vlm(DEFAULT_MODEL_SPECS["target"], max_batch=batch), DEFAULT_MODEL_SPECS["target"]
    except EmbeddedModelMissingError:
        folder = tiny.build_llava(os.path.join(workdir, "target"), image_size=64, patch=8, vision_hidden=192,
                                  vision_layers=3, text_hidden=256, text_layers=4)
        return load_vlm(f"hf:{folder}", max_batch=batch, name="target"), "random-target-shape"


def make_frames(count: int, size: int, seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(float(i), rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(count)]


def _rate(score, frames: list[Frame], batch: int) -> float:
    start = time.perf_counter()
    for begin in range(0, len(frames), batch):
        score(frames[begin:begin + batch])
    return len(frames) / (time.perf_counter() - start)


def compare(inprocess, served, frames: list[Frame], batch: int, repeats: int) -> tuple[float, float]:
    """Median frames per second of both paths; repeats alternate between them so load drifts hit both."""
    inprocess(frames[:batch])  # warm-up: first-call allocations, connection set-up
    served(frames[:batch])
    rates_in, rates_served = [], []
    for _ in range(repeats):
        rates_in.append(_rate(inprocess, frames, batch))
        rates_served.append(_rate(served, frames, batch))
    return statistics.median(rates_in), statistics.median(rates_served)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16], help="batch sizes (default 16)")
    parser.add_argument("--frames", type=int, default=64, help="frames scored per repeat (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats, median reported (default 5)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    parser.add_argument("--model", default=None, help="model spec (default: embedded:target)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM
    from agentime.vlm.server import ServerConfig, serve_in_thread

    workdir = tempfile.mkdtemp(prefix="agentime-bench-")
    try:
        largest = max(args.batch)
        vlm, label = load_target(args.model, largest, workdir)
        frames = make_frames(args.frames, args.size)
        for batch in args.batch:
            vlm.max_batch = batch
            server = serve_in_thread(vlm, ServerConfig(max_batch=batch))
            client = OpenAIVLM(OpenAIConfig(server.base_url, max_concurrency=batch, max_batch=batch))
            try:
                inprocess, served = compare(lambda fs: vlm.yes_probability(fs, STATEMENT),
                                            lambda fs: client.yes_probability(fs, STATEMENT),
                                            frames, batch, args.repeats)
            finally:
                client.close()
                server.stop()
            print(json.dumps({
                "batch": batch, "inprocess_fps": round(inprocess, 2), "served_fps": round(served, 2),
                "ratio": round(inprocess / served, 3), "model": label, "frames": args.frames,
                "frame_size": args.size, "repeats": args.repeats,
            }), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
