"""Evaluate the shipped embedded models on fresh held-out synthetic data; print a JSON summary.

    python -m pipelines.eval_embedded --seed 777
    python -m pipelines.eval_embedded --seed 777 --samples 50 --minutes 10   # quicker
    python -m pipelines.eval_embedded --seed 777 --write-cards              # also refresh the model cards

Models load through the public registry (`embedded:target` etc., i.e. the hf backend) or from `--models DIR`.
Scoring: yes/no (`binding`: only statements that cross the colour of one visible object with the shape of
another, all false) and sufficiency by the backend's yes-probability (> 0.5 is "yes"); descriptions, reading
and open multi-frame answers by exact match of the greedy answer with the ground truth, checked by teacher
forcing (descriptions list objects in vocabulary order, so exact match is well defined; "when" answers are
the timestamp of the first frame showing the object); multiple choice by the most likely letter.
The embedder retrieves, for every colour x shape shown in a `--minutes`-long video sampled at 1 fps, the
frames nearest to the query text; recall@k counts queries with a frame showing the object in the top k.
Frames per second are measured on 64 single-frame yes/no prompts, 32 per forward pass (the backend's
`max_batch`), image preprocessing included, best of three runs, with `--threads` torch threads; MFLOPs per
frame count the model's operations on the same prompts (preprocessing not included), a cost that a busy CPU
does not change.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from agentime.video.frames import Frame
from agentime.vlm.base import normalise_parts
from pipelines.train import embedded_data as data
from pipelines.train.embedded_batches import vlm_batch, vlm_loss_and_hits

MULTI_KINDS = data.CLIP_KINDS


def load_models(models: str | None, names=("target", "draft", "embedder"), max_batch: int = 32) -> dict:
    """The models through the registry (the hf backend); VLMs score up to `max_batch` prompts per forward."""
    from agentime.vlm.registry import load_embedder, load_vlm

    out = {}
    for name in names:
        spec = f"hf:{Path(models) / name}" if models else f"embedded:{name}"
        if name == "embedder":
            out[name] = load_embedder(spec, max_batch=64)
        else:
            out[name] = load_vlm(spec, max_batch=max_batch, **({"name": name} if models else {}))
    return out


def _fraction(hits: list[bool]) -> float:
    return round(float(np.mean(hits)), 4) if hits else float("nan")


def yes_probabilities(vlm, examples: list[data.Example]) -> np.ndarray:
    """The backend's P(yes) for each example's prompt, many prompts per forward pass."""
    return vlm.yes_probability_chats([[("user", normalise_parts(ex.parts))] for ex in examples])


def yes_no_hits(vlm, examples: list[data.Example]) -> list[bool]:
    return [bool((p > 0.5) == (ex.answer == "yes")) for p, ex in zip(yes_probabilities(vlm, examples), examples)]


def exact_hits(vlm, examples: list[data.Example], batch: int = 16) -> list[bool]:
    """Whether greedy decoding would give exactly each answer, by teacher forcing.

    A greedy decode equals the answer exactly when every answer token (the end-of-turn token included) is the
    most likely one given the prompt and the answer tokens before it; one forward pass checks all of them.
    """
    import torch

    hits = []
    for i in range(0, len(examples), batch):
        inputs = vlm_batch(vlm.processor, examples[i:i + batch])
        inputs = {k: v.to(vlm.device) for k, v in inputs.items()}
        with torch.inference_mode():
            _, rows = vlm_loss_and_hits(vlm.model, inputs)
        hits += rows.tolist()
    return hits


def yes_no_accuracy(vlm, seed: int, n: int) -> float:
    rng = random.Random(f"{seed}-yes_no")
    examples = [data.yes_no_example(rng, data.random_frame(rng), objects_only=True) for _ in range(n)]
    return _fraction(yes_no_hits(vlm, examples))


def binding_accuracy(vlm, seed: int, n: int) -> float:
    """Yes/no on binding negatives only: the colour of one visible object with the shape of another ("There is
    a green diamond." over a blue diamond and a green square), all answered no."""
    rng = random.Random(f"{seed}-binding")
    examples = []
    while len(examples) < n:
        example = data.yes_no_example(rng, data.random_frame(rng), kinds={"binding": 1})
        if example.extra.get("kind") == "binding":
            examples.append(example)
    return _fraction(yes_no_hits(vlm, examples))


def describe_accuracy(vlm, seed: int, n: int) -> float:
    rng = random.Random(f"{seed}-describe")
    return _fraction(exact_hits(vlm, [data.describe_example(data.random_frame(rng)) for _ in range(n)]))


def read_accuracy(vlm, seed: int, n: int) -> float:
    rng = random.Random(f"{seed}-read")
    examples = []
    for _ in range(n):
        truth = data.random_frame(rng)
        while truth.caption is None and rng.random() < 0.8:  # mostly frames that show text
            truth = data.random_frame(rng)
        examples.append(data.read_example(truth))
    return _fraction(exact_hits(vlm, examples))


def sufficiency_accuracy(vlm, seed: int, n: int) -> float:
    rng = random.Random(f"{seed}-sufficiency")
    hits = []
    for frames in (2, 4, 6, 8):
        examples = [data.sufficiency_example(rng, data.random_clip(rng, frames)) for _ in range(max(1, n // 4))]
        hits += yes_no_hits(vlm, examples)
    return _fraction(hits)


def letter_hits(vlm, examples: list[data.Example]) -> list[bool]:
    """Multiple choice: the option letter the model finds most likely as its next token."""
    letters = [vlm.tokenizer(letter, add_special_tokens=False)["input_ids"][0] for letter in "ABCD"]
    logprobs = vlm.next_token_logprobs([[("user", normalise_parts(ex.parts))] for ex in examples])
    return ["ABCD"[int(row[letters].argmax())] == ex.answer for row, ex in zip(logprobs, examples)]


def multi_frame_accuracy(vlm, seed: int, n: int) -> dict[str, float]:
    """Per question type over clips of 4, 8, 12 and 16 frames, plus `overall` (mean over all questions)."""
    out, every = {}, []
    for kind in MULTI_KINDS:
        rng = random.Random(f"{seed}-multi-{kind}")
        hits = []
        for frames in (4, 8, 12, 16):
            examples = [data.clip_example(rng, frames, kinds=(kind,)) for _ in range(max(1, n // 4))]
            hits += letter_hits(vlm, examples) if kind == "choice" else exact_hits(vlm, examples, batch=8)
        out[kind] = _fraction(hits)
        every += hits
    out["overall"] = _fraction(every)
    return out


def _speed_frames(seed: int, count: int) -> list:
    """The frames both cost measures score (fresh ones of the evaluation seed)."""
    rng = random.Random(f"{seed}-fps")
    return [data.random_frame(rng).frame for _ in range(count)]


def frames_per_second(vlm, seed: int, frames: int = 64) -> float:
    batch = _speed_frames(seed, frames)
    vlm.yes_probability(batch[:4], "a red circle is visible")  # warm-up
    best = float("inf")
    for _ in range(3):  # best of three: the CPU is shared, the fastest run is the least disturbed
        fresh = [Frame(f.t, f.image) for f in batch]  # new frames: no shrunk copy remembered from a run
        start = time.perf_counter()
        vlm.yes_probability(fresh, "a red circle is visible")
        best = min(best, time.perf_counter() - start)
    return round(frames / best, 2)


def mflops_per_frame(vlm, seed: int, frames: int = 8) -> float:
    """Model MFLOPs to score one frame with a yes/no statement (torch's FLOP counter: matrix products and
    attention; image preprocessing is not counted): the cost per frame, which a busy CPU does not change."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = _speed_frames(seed, frames)
    with FlopCounterMode(display=False) as counter:
        vlm.yes_probability(batch, "a red circle is visible")
    return round(counter.get_total_flops() / frames / 1e6, 2)


def embedder_recall(embedder, seed: int, minutes: float) -> dict:
    from pipelines.synthetic.world import WorldConfig, generate_world

    world = generate_world(seed, WorldConfig(minutes=minutes, fps=1.0))
    times = np.arange(int(world.duration), dtype=np.float64)
    start = time.perf_counter()
    chunks, shown = [], []
    for i in range(0, len(times), 256):
        truths = [data.world_frame(world, float(t)) for t in times[i:i + 256]]
        shown += [t.names for t in truths]
        chunks.append(embedder.embed_images([t.frame for t in truths]))
    seconds = time.perf_counter() - start
    images = np.concatenate(chunks)
    names = sorted({n for s in shown for n in s})
    texts = embedder.embed_texts(names)
    order = np.argsort(-(texts @ images.T), axis=1)
    at1 = [names[q] in shown[order[q, 0]] for q in range(len(names))]
    at5 = [any(names[q] in shown[j] for j in order[q, :5]) for q in range(len(names))]
    rare = {e["object"] for kind in ("needle", "grounding") for e in world.events[kind]}
    rare_at5 = [h for q, h in enumerate(at5) if names[q] in rare]
    return {"recall_at_1": _fraction(at1), "recall_at_5": _fraction(at5), "queries": len(names),
            "frames": len(times), "event_recall_at_5": _fraction(rare_at5),
            "fps": round(len(times) / seconds, 1)}


def evaluate(models: dict, seed: int, samples: int, minutes: float) -> dict:
    result: dict = {"seed": seed, "samples": samples}
    if "target" in models:
        target = models["target"]
        result["target"] = {
            "yes_no": yes_no_accuracy(target, seed, samples * 2), "binding": binding_accuracy(target, seed, samples),
            "describe": describe_accuracy(target, seed, samples),
            "read": read_accuracy(target, seed, samples),
            "multi_frame": multi_frame_accuracy(target, seed, max(8, samples // 2)),
            "sufficiency": sufficiency_accuracy(target, seed, samples), "fps": frames_per_second(target, seed),
            "mflops_per_frame": mflops_per_frame(target, seed),
        }
    if "draft" in models:
        draft = models["draft"]
        result["draft"] = {"yes_no": yes_no_accuracy(draft, seed, samples * 2),
                           "binding": binding_accuracy(draft, seed, samples),
                           "describe": describe_accuracy(draft, seed, samples),
                           "read": read_accuracy(draft, seed, samples),
                           "fps": frames_per_second(draft, seed), "mflops_per_frame": mflops_per_frame(draft, seed)}
    if "target" in result and "draft" in result:
        result["draft"]["speedup_vs_target"] = round(result["draft"]["fps"] / result["target"]["fps"], 2)
        result["draft"]["flops_ratio_vs_target"] = round(
            result["target"]["mflops_per_frame"] / result["draft"]["mflops_per_frame"], 2)
    if "embedder" in models:
        result["embedder"] = embedder_recall(models["embedder"], seed, minutes)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True, help="seed of the held-out data (not a training seed)")
    parser.add_argument("--samples", type=int, default=150, help="examples per single-frame task")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the embedder's retrieval video")
    parser.add_argument("--models", default=None, help="folder holding embedder/, draft/, target/ (default: shipped)")
    parser.add_argument("--only", nargs="*", default=["target", "draft", "embedder"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--write-cards", action="store_true", help="write README.md model cards with these numbers")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = evaluate(load_models(args.models, args.only), args.seed, args.samples, args.minutes)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write_cards:
        from pipelines.train.embedded_cards import write_cards

        write_cards(result, Path(args.models) if args.models else None)


if __name__ == "__main__":
    main()
