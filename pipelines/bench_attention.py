"""Benchmark of the frame-aware sparse attention against dense SDPA, measured in the same run.

    python -m pipelines.bench_attention [--lengths 4096,16384,32768,65536] [--dtypes float32,bfloat16]
                                        [--model PATH] [--frames 256] [--skip-model] [--json]

Kernel grid (B=1, 8 query heads, 2 KV heads, head dim 64, causal and non-causal): time and peak memory of
`torch.nn.functional.scaled_dot_product_attention` (GQA via `enable_gqa`, as transformers calls it) and of the
sparse kernel, each measured in its own child process (peak = the child's maximum resident memory above its
resident memory once the inputs exist, with glibc's mmap threshold fixed so freed buffers leave at once);
output error against dense on (a) random inputs and (b) inputs with
planted needles (a few strong keys that one run of queries must find; recall = share of those queries whose
sparse output carries at least half the needle value the dense output carries, counted over the query/head
pairs whose dense output carries at least a quarter of it).

Model part: (c) queries, keys and values captured from a VLM's text layers on a long many-frame prompt, sparse
vs dense output with the prompt's frame boundaries; and end to end, the VLM's prefill over 256+ frames with
dense vs sparse attention in its text model: prefill time and whether the answer (the top option token at the
last position) agrees. Without `--model` the VLM is a tiny randomly initialised LLaVA (SigLIP + Qwen2) built from
config and labelled "tiny-random-llava": its answers mean nothing, so only agreement with dense is reported,
not accuracy. `--model PATH` loads a LLaVA-style folder (an `image_token_id` and a SigLIP/CLIP vision config).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from agentime.attention import SparseAttentionConfig, frame_boundaries
from agentime.attention.kernel import sparse_attention
from agentime.attention.register import register_sparse_attention

BATCH, Q_HEADS, KV_HEADS, HEAD_DIM = 1, 8, 2, 64
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
NEEDLE_VALUE = 8.0
SETTINGS = SparseAttentionConfig(block_size=128, top_k=8, sink_blocks=1, local_blocks=1, min_seq_len=4096)


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


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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
    before = _rss_mb()
    if spec["impl"] == "sdpa":
        call = lambda: dense(q, k, v, causal)  # noqa: E731
    else:
        call = lambda: sparse_attention(q, k, v, SETTINGS, causal=causal)  # noqa: E731
    times = []
    out = None
    for _ in range(spec["repeats"]):
        out = None  # the previous output must not count in this call's peak
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    result = {"seconds": min(times), "peak_mb": max(0.0, _max_rss_mb() - before)}
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


def build_tiny_llava(tokens_per_side: int = 8, patch: int = 8):
    """A randomly initialised LLaVA from config, shaped like the planned embedded target: SigLIP 3 x 192 at
    64 px with patch 8 (64 tokens per frame) and a Qwen2 text model 4 x 256 (4 query / 2 KV heads of 64)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=192,
        intermediate_size=768,
        num_hidden_layers=3,
        num_attention_heads=3,
        image_size=tokens_per_side * patch,
        patch_size=patch,
        vision_use_head=False,
    )
    text = Qwen2Config(
        vocab_size=512,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=65536,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=511,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config).eval()


def load_vlm(path: str | None):
    if path is None:
        return build_tiny_llava(), "tiny-random-llava"
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    return model, os.path.basename(os.path.normpath(path))


def image_token_id(model) -> int:
    config = model.config
    value = getattr(config, "image_token_id", None)
    return int(value if value is not None else config.image_token_index)


def tokens_per_frame(model) -> int:
    vision = model.config.vision_config
    return (vision.image_size // vision.patch_size) ** 2


def many_frame_prompt(model, frames: int, question_seed: int):
    """input_ids of a timestamp-bound prompt (system text, then per frame 6 timestamp tokens and its image
    tokens, then a question), random frame pixels, the frame spans and the global (text) positions."""
    gen = torch.Generator().manual_seed(1000)
    image_id = image_token_id(model)
    vocab = min(model.config.text_config.vocab_size, image_id)
    per_frame = tokens_per_frame(model)
    ids = list(torch.randint(5, vocab, (48,), generator=gen).tolist())
    spans = []
    for _ in range(frames):
        ids += torch.randint(5, vocab, (6,), generator=gen).tolist()
        spans.append((len(ids), len(ids) + per_frame))
        ids += [image_id] * per_frame
    question_start = len(ids)
    ids += torch.randint(5, vocab, (24,), generator=torch.Generator().manual_seed(question_seed)).tolist()
    size = model.config.vision_config.image_size
    pixels = torch.rand(frames, 3, size, size, generator=gen) * 2 - 1
    globals_ = list(range(48)) + list(range(question_start, len(ids)))
    return torch.tensor([ids]), pixels, spans, globals_


def set_text_attention(model, name: str) -> None:
    model.set_attn_implementation({"text_config": name, "vision_config": "sdpa"})


def captured_attention(model, frames: int, log) -> dict:
    """(c) Capture q/k/v of every text layer in a dense prefill, then compare sparse with dense on them."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    captured = []

    def capture(module, query, key, value, attention_mask, **kwargs):
        if query.shape[2] > 1000:
            captured.append((query.detach().clone(), key.detach().clone(), value.detach().clone()))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("agentime_capture", capture)
    ids, pixels, spans, globals_ = many_frame_prompt(model, frames, question_seed=0)
    set_text_attention(model, "agentime_capture")
    with torch.no_grad():
        model(input_ids=ids, pixel_values=pixels, logits_to_keep=1)
    result = {"layers": []}
    for layer, (q, k, v) in enumerate(captured):
        ref = dense(q, k, v, True)
        fixed = sparse_attention(q, k, v, SETTINGS, causal=True)
        framed = sparse_attention(q, k, v, SETTINGS, causal=True, frame_spans=[spans], global_positions=[globals_])
        entry = {
            "layer": layer,
            "seq_len": q.shape[2],
            "cosine_fixed_blocks": round(cosine(fixed, ref), 4),
            "cosine_frame_blocks": round(cosine(framed, ref), 4),
            "max_abs_frame_blocks": round(float((framed - ref).abs().max()), 4),
            "min_row_cosine_frame_blocks": round(float(F.cosine_similarity(framed, ref, dim=-1).min()), 4),
        }
        log(f"captured layer {layer}: {entry}")
        result["layers"].append(entry)
    result["cosine_min"] = min(e["cosine_frame_blocks"] for e in result["layers"])
    return result


def end_to_end(model, frames: int, questions: int, log) -> dict:
    """Prefill over `frames` frames with dense and with sparse text attention; answers = top option token."""
    options = torch.arange(5, 15)  # ten option tokens ranked by the model, as in likelihood-ranked choices
    rows = []
    for question in range(questions):
        ids, pixels, spans, globals_ = many_frame_prompt(model, frames, question_seed=question + 1)
        timings, answers, logits = {}, {}, {}
        for name in ("sdpa", "agentime_sparse"):
            set_text_attention(model, name)
            with torch.no_grad(), frame_boundaries(spans, global_positions=globals_, seq_len=ids.shape[1]):
                start = time.perf_counter()
                out = model(input_ids=ids, pixel_values=pixels, logits_to_keep=1).logits[0, -1]
                timings[name] = time.perf_counter() - start
            answers[name] = int(options[out[options].argmax()])
            logits[name] = out
        row = {
            "seq_len": ids.shape[1],
            "dense_prefill_seconds": round(timings["sdpa"], 3),
            "sparse_prefill_seconds": round(timings["agentime_sparse"], 3),
            "same_answer": answers["sdpa"] == answers["agentime_sparse"],
            "logits_cosine": round(cosine(logits["sdpa"], logits["agentime_sparse"]), 5),
        }
        log(f"end-to-end question {question}: {row}")
        rows.append(row)
    dense_total = sum(r["dense_prefill_seconds"] for r in rows)
    sparse_total = sum(r["sparse_prefill_seconds"] for r in rows)
    return {
        "frames": frames,
        "questions": questions,
        "seq_len": rows[0]["seq_len"],
        "accuracy_dense": None,
        "accuracy_sparse": None,
        "agreement_with_dense": sum(r["same_answer"] for r in rows) / len(rows),
        "dense_prefill_seconds": round(dense_total / len(rows), 3),
        "sparse_prefill_seconds": round(sparse_total / len(rows), 3),
        "prefill_speedup": round(dense_total / sparse_total, 2),
        "per_question": rows,
    }


def model_parts(path: str | None, frames: int, questions: int, log) -> tuple[dict, dict]:
    register_sparse_attention(SETTINGS)
    model, label = load_vlm(path)
    captured = captured_attention(model, frames, log)
    e2e = end_to_end(model, frames, questions, log)
    captured["model"] = e2e["model"] = label
    if label == "tiny-random-llava":
        e2e["note"] = "random weights: answers are meaningless, so accuracy is not measured; agreement is"
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
    parser.add_argument("--model", default=None, help="a LLaVA-style model folder (default: tiny random LLaVA)")
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--questions", type=int, default=3)
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

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    log(f"settings: {SETTINGS}")
    log(format_header())
    names = ("block_size", "top_k", "sink_blocks", "local_blocks", "min_seq_len")
    result = {"settings": {name: getattr(SETTINGS, name) for name in names}}
    result["shape"] = {"batch": BATCH, "query_heads": Q_HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM}
    if args.threads:
        torch.set_num_threads(args.threads)
    result["threads"] = torch.get_num_threads()
    result["rows"] = kernel_rows(lengths, dtypes, log, args.threads)
    if not args.skip_model:
        result["captured_vlm"], result["end_to_end"] = model_parts(args.model, args.frames, args.questions, log)
    else:
        result["end_to_end"] = {}
    if args.json:
        print(json.dumps(result))
    else:
        log(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
