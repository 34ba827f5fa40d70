"""LLaVA-OneVision's own video input in process (`frames_as="video"`), without its video processor.

As images, LLaVA-OneVision tiles every frame (anyres: the whole frame plus grid crops, 729 tokens each at
384 px); its video path instead pools each frame's features 2x2 (196 tokens at 384 px) and ends the video
with one newline feature. Here each timestamped frame is one single-frame video, so the timestamp text
stays right before its frame: `[ts]<video>[ts]<video>...`. A video frame is the frame resized to the model's
input size and normalised, which is the first (whole-frame) tile the image processor makes, so it is taken
from there (the video processor that would make it needs torchvision). The template writes every video of
a turn before its text, so the placeholders are written into the text where the frames are.

It builds model inputs only; which prompts use it is the backend's choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from agentime.video.frames import Frame
from agentime.vlm.base import as_rgb


def video_frame_pixels(image_processor, images: Sequence) -> np.ndarray:
    """(frames, channels, height, width): each frame resized whole and normalised (the image path's first tile)."""
    out = image_processor(images=list(images), return_tensors="np")
    return np.ascontiguousarray(np.asarray(out["pixel_values"])[:, 0])


def tokens_per_frame(config) -> int:
    """Pooled feature tokens of one frame: the patch grid halved (rounded up) on each side."""
    side = math.ceil(config.vision_config.image_size // config.vision_config.patch_size / 2)
    return side * side


def encode_video_chats(vlm, chats: Sequence[Sequence[tuple[str, Sequence]]]):
    """A batch of chats as LLaVA-OneVision inputs with each frame as a one-frame video (left-padded)."""
    import torch
    from PIL import Image

    video_token = vlm.tokenizer.convert_ids_to_tokens(int(vlm.model.config.video_token_id))
    per_video = video_token * (tokens_per_frame(vlm.model.config) + 1)  # + the newline feature
    texts, pixels = [], []
    for chat in chats:
        messages = []
        for role, parts in chat:
            frames = [p for p in parts if isinstance(p, Frame)]
            if frames:
                images = [Image.fromarray(vlm.prescale(as_rgb(f.image), f)) for f in frames]
                pixels.append(video_frame_pixels(vlm.processor.image_processor, images))
            text = "".join(video_token if isinstance(p, Frame) else p for p in parts)
            messages.append({"role": role, "content": [{"type": "text", "text": text}]})
        texts.append(vlm.chat_renderer.render_messages(messages).replace(video_token, per_video))
    inputs = vlm.tokenizer(texts, return_tensors="pt", padding=True)
    if pixels:
        inputs["pixel_values_videos"] = torch.from_numpy(np.concatenate(pixels))[:, None]  # (videos, 1 frame, ...)
    return inputs
