"""Benchmark of the frame-aware sparse attention against dense SDPA, measured in the same run.

    python -m pipelines.bench_attention [--lengths 4096,16384,32768,65536] [--dtypes float32,bfloat16]
                                        [--model embedded:target] [--frames 1024] [--frame-seconds 1]
                                        [--questions 12] [--threads N] [--skip-model] [--json]

Kernel grid (B=1, 8 query heads, 2 KV heads, head dim 64, causal and non-causal): time and peak memory of
`torch.nn.functional.scaled_dot_product_attention` (GQA via `enable_gqa`, as transformers calls it) and of the
sparse kernel, each measured in its own child process (peak = the child's maximum resident memory above its
resident memory once the inputs exist, with glibc's mmap threshold fixed so freed buffers leave at once);
output error against dense on (a) random inputs and (b) inputs with
planted needles (a few strong keys that one run of queries must find; recall = share of those queries whose
sparse output carries at least half the needle value the dense output carries, counted over the query/head
pairs whose dense output carries at least a quarter of it).

Model part, on the shipped embedded target by default (`--model` takes any model spec: `hf:/path`, a folder), loaded
twice through the hf backend: SDPA everywhere, and sparse attention in its text model (same settings as the
grid). Prompts are the backend's own yes/no prompts (`yes_no_parts`: each frame preceded by its timestamp, then
the statement) over `--frames` frames rendered from a synthetic world, one every `--frame-seconds`.
(c) captured: q/k/v of every text layer in a dense prefill of one such prompt; sparse vs dense output per layer
(cosine, minimum row cosine) with frame-aligned blocks (the prompt's frame spans) and with fixed blocks, the
prompt's text being global tokens in both, as the backend's input hook sets them; `cosine_min` is the lowest
frame-aligned cosine, `cosine_min_with_summaries` the same with `summarize_skipped` on. End to end: `--questions`
statements ("a red triangle is visible"), half true (an object some frame shows), half false (a colour or shape
shown, in a combination no frame shows, when possible), each over its own world; answered yes when the backend's
P(yes) > 0.5, dense and sparse back to back; accuracy of each, agreement of sparse with dense, the AUC of P(yes)
(true vs false statements, threshold-free), and the mean time of the model's forward pass (prefill: vision tower
and text model). The embedded target was trained on single frames and short clips (at most 1024 positions), so its
accuracy on 1024-frame prompts (about 32k tokens) may be near chance; agreement with dense is the sparse kernel's
own signal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from agentime.attention import ATTENTION_NAME, SparseAttentionConfig
from agentime.attention.kernel import sparse_attention
from agentime.vlm.registry import DEFAULT_MODEL_SPECS

BATCH, Q_HEADS, KV_HEADS, HEAD_DIM = 1, 8, 2, 64
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
NEEDLE_VALUE = 8.0
SETTINGS = SparseAttentionConfig(block_size=128, top_k=8, sink_blocks=1, local_blocks=1, min_seq_len=4096)
DEFAULT_MODEL = DEFAULT_MODEL_SPECS["target"]


# ---- inputs -------------------------------------------------------------------------------------------------


def random_inputs(length: int, dtype: torch.dtype, seed: int = 0):
    """Standard normal q, k, v made directly in `dtype` (no float32 transient inflating the memory baseline)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(BATCH, Q_HEADS, length, HEAD_DIM, generator=gen, dtype=dtype)
    k = torch.randn(BATCH, KV_HEADS, length, HEAD_DIM, generator=gen, dtype=dtype)
    v = torch.randn(BATCH, KV_HEADS, length, HEAD_DIM, generator=gen, dtype=dtype)
    return q, k, v


def needle_inputs(length: int, dtype: torch.dtype, causal: bool, needles: int = 8, seed: int = 1):
    """Random inputs with planted needles; returns (q, k, v, asks) with asks = [(query rows, value direction)].

    Each needle is 4 keys with a shared direction placed in a random block (not the first, not near the asking
    queries), and a run of 32 queries (a quarter of a block) leaning towards that direction. Strengths are
    chosen so that dense attention puts most of those queries' weight on the needle.
    """
    q, k, v = random_inputs(length, torch.float32, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    block = SETTINGS.block_size
    blocks = length // block
    asks = []
    for _ in range(needles):
        direction = torch.randn(HEAD_DIM, generator=gen)
        direction /= direction.norm()
        value_direction = torch.randn(HEAD_DIM, generator=gen)
        value_direction /= value_direction.norm()
        ask_block = int(torch.randint(blocks // 2, blocks, (1,), generator=gen))
        high = ask_block - 2 if causal else blocks
        key_block = int(torch.randint(1, max(2, high), (1,), generator=gen))
        if not causal and abs(key_block - ask_block) < 2:
            key_block = (ask_block + blocks // 2) % blocks or 1
        key_pos = key_block * block + int(torch.randint(0, block - 4, (1,), generator=gen))
        row = ask_block * block + int(torch.randint(0, block - 32, (1,), generator=gen))
        k[:, :, key_pos : key_pos + 4] = 26.0 * direction
        v[:, :, key_pos : key_pos + 4] = NEEDLE_VALUE * value_direction
        q[:, :, row : row + 32] += 4.0 * direction
        asks.append((torch.arange(row, row + 32), value_direction))
    return q.to(dtype), k.to(dtype), v.to(dtype), asks


def dense(q, k, v, causal: bool):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=q.shape[1] != k.shape[1])


def dense_rows(q, k, v, rows: torch.Tensor, causal: bool):
    """Dense attention of only some query rows (of a full-length prefill)."""
    allowed = torch.ones(len(rows), k.shape[2], dtype=torch.bool)
    if causal:
        allowed = torch.arange(k.shape[2])[None, :] <= rows[:, None]
    return F.scaled_dot_product_attention(q[:, :, rows], k, v, attn_mask=allowed[None, None], enable_gqa=True)


def needle_recall(length: int, dtype: torch.dtype, causal: bool) -> float:
    q, k, v, asks = needle_inputs(length, dtype, causal)
    out = sparse_attention(q, k, v, SETTINGS, causal=causal).float()
    found = total = 0
    for rows, value_direction in asks:
        reference = dense_rows(q, k, v, rows, causal).float() @ value_direction
        got = out[:, :, rows] @ value_direction
        retrieves = reference >= 0.25 * NEEDLE_VALUE  # (query, head) pairs whose dense attention finds the needle
        found += int((got >= 0.5 * reference)[retrieves].sum())
        total += int(retrieves.sum())
    return found / max(total, 1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0))


# ---- measurement in a child process ------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the process's resident high-water mark (Linux), so the next peak is the next call's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _max_rss_mb() -> float:
    """Resident high-water mark since the last reset, else the lifetime one."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(spec: dict) -> dict:
    """Time one implementation at one grid point; the SDPA worker also computes the error metrics afterwards."""
    torch.manual_seed(0)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    length, dtype, causal = spec["seq_len"], DTYPES[spec["dtype"]], spec["causal"]
    small = random_inputs(1024, dtype)
    sparse_attention(*small, SparseAttentionConfig(block_size=128, min_seq_len=0), causal=causal)
    dense(*small, causal)
    del small
    q, k, v = random_inputs(length, dtype)
    if spec["impl"] == "sdpa":
        call = lambda: dense(q, k, v, causal)  # noqa: E731
    else:
        call = lambda: sparse_attention(q, k, v, SETTINGS, causal=causal)  # noqa: E731
    times, peaks = [], []
    out = None
    for _ in range(spec["repeats"]):
        out = None  # the previous output must not count in this call's peak
        _reset_peak()
        before = _rss_mb()
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
        peaks.append(max(0.0, _max_rss_mb() - before))
    result = {"seconds": min(times), "peak_mb": max(peaks)}
    if spec["impl"] == "sdpa":
        sparse_out = sparse_attention(q, k, v, SETTINGS, causal=causal)
        result["cosine_random"] = cosine(sparse_out, out)
        result["max_abs_random"] = float((sparse_out.float() - out.float()).abs().max())
        del sparse_out, out
        result["needle_recall"] = needle_recall(length, dtype, causal)
    return result


def measure(spec: dict) -> dict:
    cmd = [sys.executable, "-m", "pipelines.bench_attention", "--worker", json.dumps(spec)]
    # a fixed mmap threshold makes glibc return freed buffers at once, so resident memory tracks live memory
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {spec}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kernel_rows(lengths: list[int], dtypes: list[str], log, threads: int | None = None) -> list[dict]:
    rows = []
    for dtype in dtypes:
        for length in lengths:
            for causal in (True, False):
                repeats = 3 if length <= 16384 else 1
                spec = {"seq_len": length, "dtype": dtype, "causal": causal, "repeats": repeats, "threads": threads}
                sparse = measure({**spec, "impl": "sparse"})
                sdpa = measure({**spec, "impl": "sdpa"})
                row = {
                    "seq_len": length,
                    "dtype": dtype,
                    "causal": causal,
                    "sdpa_seconds": round(sdpa["seconds"], 4),
                    "sparse_seconds": round(sparse["seconds"], 4),
                    "speedup": round(sdpa["seconds"] / sparse["seconds"], 2),
                    "sdpa_peak_mb": round(sdpa["peak_mb"], 1),
                    "sparse_peak_mb": round(sparse["peak_mb"], 1),
                    "cosine_random": round(sdpa["cosine_random"], 4),
                    "max_abs_random": round(sdpa["max_abs_random"], 4),
                    "needle_recall": round(sdpa["needle_recall"], 4),
                }
                log(format_row(row))
                rows.append(row)
    return rows


# ---- the VLM parts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A yes/no statement about what `frames` frames of a synthetic world (one every `frame_seconds`) show."""

    world_seed: int
    frame_seconds: float
    frames: int
    statement: str
    truth: bool
    kind: str  # "shown", "hard_negative" (a shown colour or shape in a combination never shown) or "absent"

    def times(self) -> list[float]:
        return sample_times(self.frames, self.frame_seconds)


def sample_times(frames: int, frame_seconds: float) -> list[float]:
    return [i * frame_seconds for i in range(frames)]


def world_for(seed: int, frames: int, frame_seconds: float):
    from pipelines.synthetic.world import WorldConfig, generate_world

    minutes = max(3.0, math.ceil(frames * frame_seconds / 60.0))  # a world needs a few minutes for its events
    return generate_world(seed, WorldConfig(minutes=minutes))


def shown_objects(world, times: list[float]) -> set[tuple[str, str]]:
    """(colour, shape) of every object drawn in at least one of the frames at `times`."""
    return {(a.colour, a.shape) for t in times for a in world.visible_at(t)}


def make_questions(count: int, frames: int, frame_seconds: float, seed: int = 0) -> list[Question]:
    """`count` statements, half true, each about its own world; false ones are hard negatives when possible."""
    from pipelines.synthetic.world import COLOURS, SHAPES

    rng = random.Random(seed)
    questions = []
    world_seed = seed * 1000
    for index in range(count):
        shown: set[tuple[str, str]] = set()
        while not shown:  # a few sparse frames can all miss every object: take the next world
            world_seed += 1
            shown = shown_objects(world_for(world_seed, frames, frame_seconds), sample_times(frames, frame_seconds))
        if index % 2 == 0:
            colour, shape = rng.choice(sorted(shown))
            kind, truth = "shown", True
        else:
            near = sorted({(c, s) for c in COLOURS for s in SHAPES if (c, s) not in shown
                           and any(c == sc or s == ss for sc, ss in shown)})
            far = sorted({(c, s) for c in COLOURS for s in SHAPES} - shown)
            kind = "hard_negative" if near else "absent"
            colour, shape = rng.choice(near or far)
            truth = False
        questions.append(Question(world_seed, frame_seconds, frames, f"a {colour} {shape} is visible", truth, kind))
    return questions


def question_frames(question: Question) -> list:
    from agentime.video.frames import Frame

    world = world_for(question.world_seed, question.frames, question.frame_seconds)
    return [Frame(t, world.render(t)) for t in question.times()]


def load_pair(spec: str, settings: SparseAttentionConfig):
    """The model `spec` twice through the hf backend: SDPA everywhere, and sparse attention in its text model.

    The prompt-length limit (the model's max_position_embeddings) is lifted: the point is prompts far longer
    than the embedded models were trained on.
    """
    from agentime.vlm.registry import load_vlm

    common = dict(device="cpu", dtype="float32")
    dense_vlm = load_vlm(spec, attn_implementation="sdpa", **common)
    sparse_vlm = load_vlm(spec, attn_implementation={"text": ATTENTION_NAME, "vision": "sdpa"},
                          sparse_attention=settings_dict(settings), **common)
    for vlm in (dense_vlm, sparse_vlm):
        vlm.max_context = None
    return dense_vlm, sparse_vlm


def settings_dict(settings: SparseAttentionConfig) -> dict:
    names = ("block_size", "top_k", "sink_blocks", "local_blocks", "min_seq_len", "summarize_skipped")
    return {name: getattr(settings, name) for name in names}


@contextmanager
def prefill_timer(vlm):
    """Collects (seconds, prompt tokens) of each forward pass of `vlm`'s model: the prefill behind a score."""
    passes: list[tuple[float, int]] = []
    started: list[tuple[float, int]] = []

    def before(_module, _args, kwargs):
        started.append((time.perf_counter(), int(kwargs["input_ids"].shape[1])))

    def after(*_):
        start, length = started.pop()
        passes.append((time.perf_counter() - start, length))

    pre = vlm.model.register_forward_pre_hook(before, with_kwargs=True)
    post = vlm.model.register_forward_hook(after)
    try:
        yield passes
    finally:
        pre.remove()
        post.remove()


def captured_attention(dense_vlm, question: Question, settings: SparseAttentionConfig, log) -> dict:
    """(c) Capture q/k/v of every text layer in a dense prefill of the backend's own yes/no prompt, then compare
    sparse with dense on them: frame-aligned blocks (the prompt's frame spans) and fixed blocks, both with the
    prompt's text as global tokens (as the backend's input hook sets them)."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from agentime.attention import prompt_text_positions

    captured, prompt = [], {}

    def record_prompt(input_ids, spans):
        prompt["seq_len"], prompt["spans"] = int(input_ids.shape[1]), spans[0]

    def capture(module, query, key, value, attention_mask, **kwargs):
        if query.shape[2] == prompt.get("seq_len"):
            captured.append((query.detach().clone(), key.detach().clone(), value.detach().clone()))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("agentime_capture", capture)
    dense_vlm.input_hooks.append(record_prompt)
    dense_vlm.model.set_attn_implementation({"text_config": "agentime_capture", "vision_config": "sdpa"})
    try:
        dense_vlm.yes_probability([question_frames(question)], question.statement)
    finally:
        dense_vlm.model.set_attn_implementation("sdpa")
        dense_vlm.input_hooks.remove(record_prompt)
    spans = prompt["spans"]
    globals_ = prompt_text_positions(spans, prompt["seq_len"])
    result = {"seq_len": prompt["seq_len"], "frames": len(spans), "layers": []}
    for layer, (q, k, v) in enumerate(captured):
        ref = dense(q, k, v, True)
        fixed = sparse_attention(q, k, v, settings, causal=True, global_positions=[globals_])
        framed = sparse_attention(q, k, v, settings, causal=True, frame_spans=[spans], global_positions=[globals_])
        summarized = sparse_attention(q, k, v, replace(settings, summarize_skipped=True), causal=True,
                                      frame_spans=[spans], global_positions=[globals_])
        entry = {
            "layer": layer,
            "cosine_frame_blocks": round(cosine(framed, ref), 5),
            "min_row_cosine_frame_blocks": round(float(F.cosine_similarity(framed, ref, dim=-1).min()), 4),
            "max_abs_frame_blocks": round(float((framed - ref).abs().max()), 4),
            "cosine_frame_blocks_with_summaries": round(cosine(summarized, ref), 5),
            "cosine_fixed_blocks": round(cosine(fixed, ref), 5),
            "min_row_cosine_fixed_blocks": round(float(F.cosine_similarity(fixed, ref, dim=-1).min()), 4),
        }
        log(f"captured layer {layer}: {entry}")
        result["layers"].append(entry)
    result["cosine_min"] = min(e["cosine_frame_blocks"] for e in result["layers"])
    result["cosine_min_fixed_blocks"] = min(e["cosine_fixed_blocks"] for e in result["layers"])
    result["cosine_min_with_summaries"] = min(e["cosine_frame_blocks_with_summaries"] for e in result["layers"])
    return result


def end_to_end(dense_vlm, sparse_vlm, questions: list[Question], log) -> dict:
    """Each statement scored by both backends' `yes_probability` (answer yes when P(yes) > 0.5); the model
    forward of each is timed. Dense and sparse run back to back per question so load noise hits both."""
    short = question_frames(Question(0, 1.0, 2, "a red circle is visible", True, "warm-up"))
    for vlm in (dense_vlm, sparse_vlm):
        vlm.yes_probability([short], "a red circle is visible")
    rows = []
    for index, question in enumerate(questions):
        frames = question_frames(question)
        row = {"statement": question.statement, "kind": question.kind, "truth": question.truth}
        for label, vlm in (("dense", dense_vlm), ("sparse", sparse_vlm)):
            with prefill_timer(vlm) as passes:
                p_yes = float(vlm.yes_probability([frames], question.statement)[0])
            [(seconds, length)] = passes
            row["seq_len"] = length
            row[f"p_yes_{label}"] = round(p_yes, 5)
            row[f"{label}_prefill_seconds"] = round(seconds, 3)
        row["correct_dense"] = (row["p_yes_dense"] > 0.5) == question.truth
        row["correct_sparse"] = (row["p_yes_sparse"] > 0.5) == question.truth
        row["same_answer"] = (row["p_yes_dense"] > 0.5) == (row["p_yes_sparse"] > 0.5)
        log(f"end-to-end question {index}: {row}")
        rows.append(row)
    count = len(rows)
    dense_total = sum(r["dense_prefill_seconds"] for r in rows)
    sparse_total = sum(r["sparse_prefill_seconds"] for r in rows)
    return {
        "frames": questions[0].frames,
        "frame_seconds": questions[0].frame_seconds,
        "questions": count,
        "seq_len": max(r["seq_len"] for r in rows),
        "seq_len_min": min(r["seq_len"] for r in rows),
        "accuracy_dense": round(sum(r["correct_dense"] for r in rows) / count, 4),
        "accuracy_sparse": round(sum(r["correct_sparse"] for r in rows) / count, 4),
        "agreement_with_dense": round(sum(r["same_answer"] for r in rows) / count, 4),
        "auc_dense": auc([r["p_yes_dense"] for r in rows], [r["truth"] for r in rows]),
        "auc_sparse": auc([r["p_yes_sparse"] for r in rows], [r["truth"] for r in rows]),
        "mean_abs_p_yes_difference": round(sum(abs(r["p_yes_dense"] - r["p_yes_sparse"]) for r in rows) / count, 5),
        "dense_prefill_seconds": round(dense_total / count, 3),
        "sparse_prefill_seconds": round(sparse_total / count, 3),
        "prefill_speedup": round(dense_total / sparse_total, 2),
        "per_question": rows,
    }


def auc(scores: list[float], truths: list[bool]) -> float | None:
    """Share of (true, false) statement pairs that P(yes) ranks the right way round (ties count half): how well
    the model separates true from false statements whatever the 0.5 threshold says. None without both kinds."""
    true = [s for s, t in zip(scores, truths) if t]
    false = [s for s, t in zip(scores, truths) if not t]
    if not true or not false:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in true for b in false)
    return round(wins / (len(true) * len(false)), 4)


def model_parts(spec: str, frames: int, frame_seconds: float, questions: int, settings: SparseAttentionConfig,
                log) -> tuple[dict, dict]:
    dense_vlm, sparse_vlm = load_pair(spec, settings)
    asked = make_questions(questions, frames, frame_seconds)
    captured = captured_attention(dense_vlm, asked[0], settings, log)
    e2e = end_to_end(dense_vlm, sparse_vlm, asked, log)
    captured["model"] = e2e["model"] = spec
    e2e["settings"] = settings_dict(settings)
    return captured, e2e


# ---- output -------------------------------------------------------------------------------------------------

COLUMNS = (
    ("seq_len", 7), ("dtype", 8), ("causal", 6), ("sdpa_seconds", 12), ("sparse_seconds", 14), ("speedup", 7),
    ("sdpa_peak_mb", 12), ("sparse_peak_mb", 14), ("cosine_random", 13), ("needle_recall", 13),
)


def format_header() -> str:
    return " ".join(name.rjust(width) for name, width in COLUMNS)


def format_row(row: dict) -> str:
    return " ".join(str(row[name]).rjust(width) for name, width in COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="4096,16384,32768,65536")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="model spec of the model part: embedded:target (default), hf:/path or a folder")
    parser.add_argument("--frames", type=int, default=1024, help="frames per prompt in the model part")
    parser.add_argument("--frame-seconds", type=float, default=1.0, help="seconds between sampled frames")
    parser.add_argument("--questions", type=int, default=12, help="yes/no statements in the end-to-end part")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-model", action="store_true", help="only the kernel grid")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0

    lengths = [int(x) for x in args.lengths.split(",") if x]
    dtypes = [x for x in args.dtypes.split(",") if x]
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        parser.error(f"unknown dtypes {unknown}; choose from {sorted(DTYPES)}")
    if args.frames < 1 or args.questions < 1 or args.frame_seconds <= 0:
        parser.error("--frames and --questions must be at least 1 and --frame-seconds positive")

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    log(f"settings: {SETTINGS}")
    log(format_header())
    result = {"settings": settings_dict(SETTINGS)}
    result["shape"] = {"batch": BATCH, "query_heads": Q_HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM}
    if args.threads:
        torch.set_num_threads(args.threads)
    result["threads"] = torch.get_num_threads()
    result["rows"] = kernel_rows(lengths, dtypes, log, args.threads)
    if not args.skip_model:
        result["captured_vlm"], result["end_to_end"] = model_parts(
            args.model, args.frames, args.frame_seconds, args.questions, SETTINGS, log
        )
    else:
        result["end_to_end"] = {}
    if args.json:
        print(json.dumps(result))
    else:
        log(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
