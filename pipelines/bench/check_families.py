"""Check: each VLM family users run goes through the hf backend as its checkpoints expect.

For every family in `agentime.vlm.families` (or one local model folder given with --model) it builds the
tiny random model of that family's shipped configuration, loads it through the hf backend and checks:

- `prompt_layout`: each frame's timestamp text comes right before that frame's image placeholder in the
  rendered prompt, and right before its image tokens in the token stream (32 frames);
- `yes_probability`: the backend's score equals P(yes) / (P(yes) + P(no)) from the model's own logits;
- `batch_left_padded`: a batch of mixed lengths scores as each prompt alone;
- `frames_as_video`: for families whose video path runs in process (Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision,
  SmolVLM2), a mixed-length batch of videos scores as each alone, a still two-frame Qwen video scores as its
  frame given as an image, each LLaVA-OneVision frame-video follows its timestamp and each SmolVLM2 frame its
  "Frame from MM:SS:"; null for the others (InternVL3, Gemma 3).

Prints `{"families": {NAME: {...}}, "all_ok": bool}`; exits 1 when a check fails. On CPU it takes about a
minute for the six families; on a GPU it runs in bf16 (pass --device cuda to force).

    python -m pipelines.check_families --json [--family qwen2_5_vl] [--model /path/to/local/vlm]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from agentime.video.frames import Frame
from agentime.video.tafr import format_timestamp
from agentime.vlm.base import yes_no_parts

STATEMENT = "a red car is visible"


def _frames(count: int, seed: int = 0, start: float = 1.0, size: int = 48) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(start + 1.5 * i, rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(count)]


def _own_yes_probability(vlm, text: str, clip: list[Frame]) -> float:
    """P(yes) from one forward pass of the model on its processor's encoding of `text`."""
    import torch
    from PIL import Image

    inputs = vlm.processor(text=[text], images=[[Image.fromarray(f.image) for f in clip]], return_tensors="pt")
    inputs = inputs.to(vlm.device)
    for key, value in inputs.items():
        if hasattr(value, "is_floating_point") and value.is_floating_point():
            inputs[key] = value.to(vlm.model.dtype)
    with torch.inference_mode():
        logprobs = torch.log_softmax(vlm.model(**inputs).logits[0, -1].float(), dim=-1).cpu()
    yes = torch.logsumexp(logprobs[vlm._yes_ids], 0)
    no = torch.logsumexp(logprobs[vlm._no_ids], 0)
    return float(torch.sigmoid(yes - no))


def _layout_ok(vlm, clip: list[Frame]) -> bool:
    """Each timestamp right before its frame: in the rendered text, and before its image tokens in the ids."""
    parts = yes_no_parts(clip, STATEMENT)
    text, _ = vlm.render([("user", parts)])
    placeholder = vlm.chat_renderer.image_placeholder if vlm.chat_renderer else ""
    if not all(format_timestamp(f.t) + placeholder in text for f in clip):
        return False
    if vlm.image_token_id is None:
        return False
    stream = vlm.tokenizer.decode(vlm.encode([[("user", parts)]])["input_ids"][0].tolist())
    image_text = vlm.tokenizer.decode([vlm.image_token_id])
    marks = [stream.index(format_timestamp(f.t)) for f in clip] + [stream.index("Statement:")]
    return image_text not in stream[:marks[0]] and all(
        image_text in stream[here:after] for here, after in zip(marks, marks[1:]))


def _video_ok(vlm, tolerance: float) -> bool | None:
    """The in-process video path: batching, and per family how time reaches the model."""
    from agentime.vlm.hf import HFConfig, HFVLM
    from agentime.vlm.video_input import VIDEO_ENCODERS
    from agentime.vlm.video_parts import timestamps_text

    model_type = getattr(vlm.model.config, "model_type", None)
    if model_type not in VIDEO_ENCODERS:
        return None
    video = HFVLM(HFConfig(vlm.config.path, device=vlm.config.device, frames_as="video", max_batch=4))
    items = [_frames(5, seed=6), _frames(2, seed=7), _frames(1, seed=8)[0]]
    together = video.yes_probability(items, STATEMENT)
    alone = np.array([video.yes_probability([item], STATEMENT)[0] for item in items])
    if not np.allclose(together, alone, atol=tolerance):
        return False
    if model_type == "smolvlm":  # its own video text: "Frame from MM:SS:" right before each untiled frame
        clip = _frames(3, seed=9)
        stream = video.tokenizer.decode(video.encode([[("user", yes_no_parts(clip, STATEMENT))]])["input_ids"][0])
        marks = [f"Frame from {int(f.t // 60):02d}:{int(f.t % 60):02d}:<fake_token_around_image><global-img>"
                 for f in clip]
        return all(mark in stream for mark in marks) and "<row_" not in stream
    if model_type == "llava_onevision":  # one single-frame video per frame, right after its timestamp
        clip = _frames(3, seed=9)
        stream = video.tokenizer.decode(video.encode([[("user", yes_no_parts(clip, STATEMENT))]])["input_ids"][0])
        return all(format_timestamp(f.t) + "<video>" in stream for f in clip)
    # Qwen: a still two-frame video is one temporal patch and scores as its frame given as an image, after
    # what the video path writes before it (Qwen3-VL its patch's time, Qwen2.5-VL the timestamp list).
    frame = _frames(1, seed=5)[0]
    still = [Frame(1.0, frame.image), Frame(2.0, frame.image)]
    before = "<1.5 seconds>" if model_type == "qwen3_vl" else timestamps_text(still)
    as_image = vlm.yes_probability_chats(
        [[("user", [before, frame, f"Statement: {STATEMENT}\nAnswer yes or no."])]])[0]
    return abs(float(video.yes_probability([still], STATEMENT)[0]) - float(as_image)) <= tolerance


def check_model(vlm, tolerance: float) -> dict:
    """All checks on one loaded HFVLM."""
    clip32 = _frames(32, seed=3, start=3600.0)
    one = _frames(1, seed=4)
    text, _ = vlm.render([("user", yes_no_parts(one, STATEMENT))])
    got = float(vlm.yes_probability([one], STATEMENT)[0])
    items = [one[0]] + [_frames(n, seed=10 + n) for n in (3, 2)]
    together = vlm.yes_probability(items, STATEMENT)
    alone = np.array([vlm.yes_probability([item], STATEMENT)[0] for item in items])
    return {
        "prompt_layout": _layout_ok(vlm, clip32),
        "yes_probability": abs(got - _own_yes_probability(vlm, text, one)) <= tolerance,
        "batch_left_padded": bool(np.allclose(together, alone, atol=tolerance)),
        "frames_as_video": _video_ok(vlm, tolerance),
        "video_path": vlm.family.frames_as_video if vlm.family else None,
        "template_keeps_order": bool(vlm.chat_renderer.keeps_order) if vlm.chat_renderer else None,
    }


def main(argv: list[str] | None = None) -> int:
    from agentime.vlm.hf import HFConfig, HFVLM
    from pipelines.tiny.families import FAMILY_BUILDERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default output too)")
    parser.add_argument("--family", action="append", choices=sorted(FAMILY_BUILDERS), help="only these families")
    parser.add_argument("--model", help="check this local model folder instead of the tiny family models")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    results = {}
    workdir = Path(tempfile.mkdtemp(prefix="agentime-check-families-"))
    try:
        targets = [(Path(args.model).name, lambda: Path(args.model))] if args.model else [
            (name, lambda name=name: FAMILY_BUILDERS[name](workdir / name)) for name in args.family or FAMILY_BUILDERS]
        for name, folder in targets:
            started = time.perf_counter()
            vlm = HFVLM(HFConfig(str(folder()), device=args.device, max_batch=4))
            tolerance = 5e-5 if vlm.model.dtype.is_floating_point and vlm.model.dtype.itemsize == 4 else 2e-2
            result = check_model(vlm, tolerance)
            result["family"] = vlm.family.name if vlm.family else None
            result["device"] = str(vlm.device)
            result["seconds"] = round(time.perf_counter() - started, 2)
            results[name] = result
            del vlm
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    checks = ("prompt_layout", "yes_probability", "batch_left_padded")
    all_ok = all(result[key] for result in results.values() for key in checks) and all(
        result["frames_as_video"] is not False for result in results.values())
    print(json.dumps({"families": results, "all_ok": all_ok}))
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
