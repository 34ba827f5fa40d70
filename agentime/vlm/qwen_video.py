"""Qwen2.5-VL's and Qwen3-VL's own video input in process (`frames_as="video"`), without their video processors.

Both take a clip as one video whose consecutive frames are paired into temporal patches (2 frames per
patch). Their video processors need torchvision; the image processor computes the same per-frame resize,
rescale and normalisation, so the video's patches are taken from the image processor's output here (each
image row holds its frame twice along the temporal axis; a video row holds two frames). Time reaches the
model as each family expects:
- Qwen2.5-VL: the temporal position ids of each patch advance by `tokens_per_second * second_per_grid_ts`
  (two frame intervals, the median spacing of the timestamps); a text listing the timestamps comes first;
- Qwen3-VL: each patch is written `<t seconds><|vision_start|>...<|vision_end|>`, t the mean time of its two
  frames (the frames' own times in the video).

It builds model inputs only; which prompts use it is the backend's choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agentime.video.frames import Frame
from agentime.vlm.base import as_rgb
from agentime.vlm.errors import InvalidPromptError
from agentime.vlm.video_parts import frame_runs, timestamps_text

def video_patches(image_processor, images: Sequence) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(rows of the video's temporal patches, (grid_t, grid_h, grid_w)) for PIL frames of one size."""
    out = image_processor(images=list(images), return_tensors="np")
    grids = np.asarray(out["image_grid_thw"])
    if len({tuple(g) for g in grids.tolist()}) != 1:
        raise InvalidPromptError("the frames of one video must have the same size")
    _, grid_h, grid_w = (int(n) for n in grids[0])
    temporal, patch = int(image_processor.temporal_patch_size), int(image_processor.patch_size)
    rows = np.asarray(out["pixel_values"]).reshape(len(images), grid_h * grid_w, 3, temporal, patch, patch)
    frames = rows[:, :, :, 0]  # the image path repeats each frame along the temporal axis
    if len(frames) % temporal:  # as the video processor does: repeat the last frame to fill the patch
        frames = np.concatenate([frames] + [frames[-1:]] * (temporal - len(frames) % temporal))
    groups = len(frames) // temporal
    grouped = frames.reshape(groups, temporal, grid_h * grid_w, 3, patch, patch).transpose(0, 2, 3, 1, 4, 5)
    return np.ascontiguousarray(grouped.reshape(groups * grid_h * grid_w, -1)), (groups, grid_h, grid_w)


def seconds_per_patch(frames: Sequence[Frame], temporal: int) -> float:
    """Seconds covered by one temporal patch: `temporal` times the median spacing of the frames (1 s if none)."""
    spacing = np.diff([f.t for f in frames])
    step = float(np.median(spacing)) if len(spacing) and np.median(spacing) > 0 else 1.0
    return temporal * step


def patch_times(frames: Sequence[Frame], temporal: int) -> list[float]:
    """Mean time of the frames of each temporal patch (the last frame repeated to fill the last patch)."""
    times = [f.t for f in frames]
    times += [times[-1]] * (-len(times) % temporal)
    return [float(np.mean(times[i:i + temporal])) for i in range(0, len(times), temporal)]


def _video_placeholder(vlm, frames: Sequence[Frame], grid: tuple[int, int, int], merge: int) -> str:
    """The tokens that stand for one video in the prompt, in the family's own layout."""
    start, pad, end = _vision_tokens(vlm)
    t, h, w = grid
    if vlm.model.config.model_type == "qwen3_vl":
        temporal = int(vlm.processor.image_processor.temporal_patch_size)
        return "".join(f"<{time:.1f} seconds>{start}{pad * (h * w // merge**2)}{end}"
                       for time in patch_times(frames, temporal))
    return f"{start}{pad * (t * h * w // merge**2)}{end}"


def _vision_tokens(vlm) -> tuple[str, str, str]:
    """The vision start, video pad and vision end tokens, from the ids in the model's config."""
    config = vlm.model.config
    ids = (config.vision_start_token_id, config.video_token_id, config.vision_end_token_id)
    return tuple(vlm.tokenizer.convert_ids_to_tokens(int(i)) for i in ids)


def encode_video_chats(vlm, chats: Sequence[Sequence[tuple[str, Sequence]]]):
    """A batch of chats as Qwen2.5-VL / Qwen3-VL inputs with each run of frames as one video (left-padded)."""
    import torch
    from PIL import Image

    processor, tokenizer = vlm.processor, vlm.tokenizer
    image_processor = processor.image_processor
    merge = int(image_processor.merge_size)
    qwen3 = vlm.model.config.model_type == "qwen3_vl"
    texts, pixels, grids, seconds, placeholders = [], [], [], [], []
    for chat in chats:
        messages = []
        for role, parts in chat:
            content = []
            for item in frame_runs(list(parts)):
                if isinstance(item, list):
                    images = [Image.fromarray(vlm.prescale(as_rgb(f.image), f)) for f in item]
                    rows, grid = video_patches(image_processor, images)
                    pixels.append(rows)
                    grids.append(grid)
                    seconds.append(seconds_per_patch(item, int(image_processor.temporal_patch_size)))
                    placeholders.append(_video_placeholder(vlm, item, grid, merge))
                    if not qwen3:
                        content.append({"type": "text", "text": timestamps_text(item)})
                    content.append({"type": "video"})
                else:
                    content.append({"type": "text", "text": item})
            messages.append({"role": role, "content": content})
        texts.append(vlm.chat_renderer.render_messages(messages))
    # The template writes one start/pad/end triple per video item; each becomes the video's own tokens.
    triple = "".join(_vision_tokens(vlm))
    expanded = []
    placeholder_iter = iter(placeholders)
    for text in texts:
        pieces = text.split(triple)
        expanded.append(pieces[0] + "".join(next(placeholder_iter) + piece for piece in pieces[1:]))
    inputs = tokenizer(expanded, return_tensors="pt", padding=True)
    video_id = int(vlm.model.config.video_token_id)
    inputs["mm_token_type_ids"] = (inputs["input_ids"] == video_id).long() * 2
    if pixels:
        inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(pixels))
        inputs["video_grid_thw"] = torch.tensor(grids, dtype=torch.long)
        if not qwen3:  # Qwen3-VL reads time from the text before each patch instead
            inputs["second_per_grid_ts"] = torch.tensor(seconds, dtype=torch.float32)
    return inputs
