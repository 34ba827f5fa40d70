"""SmolVLM2's own video prompt in process (`frames_as="video"`), without its video processor.

SmolVLM2 reads a video as its frames, each an untiled image, in a fixed text frame: "You are provided the
following series of {count in words} frames from a {H:MM:SS} video.", then "\\nFrame from MM:SS:" before
each frame, then a blank line. Its video processor (torchvision) only samples and resizes the frames; the
frames here are already sampled, so each run of timestamped frames is rewritten into that text with the
frames as images (untiled, as the family's frame settings already make them) and goes through the image path.
The duration is the last frame's time, as SmolVLM's processor takes it when it knows no other.

It rewrites prompt parts only; the backend encodes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from agentime.video.tafr import PromptPart
from agentime.vlm.video_parts import frame_runs


def video_prompt_parts(parts: Sequence[PromptPart]) -> list[PromptPart]:
    """`parts` with each run of timestamped frames written as SmolVLM2's video prompt."""
    from num2words import num2words

    out: list[PromptPart] = []
    for item in frame_runs(list(parts)):
        if not isinstance(item, list):
            out.append(item)
            continue
        duration = timedelta(seconds=int(item[-1].t))
        out.append(f"You are provided the following series of {num2words(len(item))} frames from a {duration} "
                   "[H:MM:SS] video.\n")
        for frame in item:
            out += [f"\nFrame from {int(frame.t // 60):02d}:{int(frame.t % 60):02d}:", frame]
        out.append("\n\n")
    return out


def encode_video_chats(vlm, chats: Sequence[Sequence[tuple[str, Sequence]]]):
    """A batch of chats with SmolVLM2's video prompt for each run of frames (left-padded)."""
    rewritten = [[(role, video_prompt_parts(parts)) for role, parts in chat] for chat in chats]
    return vlm.encode_images(rewritten)

