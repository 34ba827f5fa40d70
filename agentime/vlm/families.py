"""What agentime knows about the VLM families users run: how each one's checkpoints ship and take frames.

One `Family` per common checkpoint family (Qwen2.5-VL, Qwen3-VL, InternVL3, LLaVA-OneVision, SmolVLM2,
Gemma 3), keyed by the `model_type` of its config.json. The facts are read from the families' published
model folders (config.json, preprocessor_config.json, tokenizer_config.json, chat templates): the special
tokens, the placeholder the chat template writes for an image, whether that template keeps text and images
in the order they are given, and the family's own video path. The hf backend uses them only as
defaults and for messages; everything it can read from the loaded processor it reads from there.

It loads no model and imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A checkpoint family as it ships: `model_type`, template facts, and how agentime feeds it frames."""

    name: str
    model_type: str
    example: str  # a checkpoint users run
    template_image: str  # what the chat template writes for one image item
    interleaved_template: bool  # False: the template puts every image before the text of a turn
    default_system: str | None  # a system turn the template adds when none is given
    frames_as_video: str | None  # the family's own video path, None when it has none
    # Image processor settings for video frames, as the family's own video path uses them.
    frame_settings: tuple[tuple[str, object], ...] = ()


FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family("Qwen2.5-VL", "qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct",
               "<|vision_start|><|image_pad|><|vision_end|>", True, "You are a helpful assistant.",
               "one video with time-aligned M-RoPE positions (second_per_grid_ts)"),
        Family("Qwen3-VL", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct",
               "<|vision_start|><|image_pad|><|vision_end|>", True, None,
               "one video with a <t seconds> text timestamp before each temporal patch"),
        Family("InternVL3", "internvl", "OpenGVLab/InternVL3-2B-hf", "<IMG_CONTEXT>\n", True, None,
               "frames as 'FrameN: <img>...</img>' lines"),
        Family("LLaVA-OneVision", "llava_onevision", "llava-hf/llava-onevision-qwen2-7b-ov-hf", "<image>", False,
               None, "a <video> placeholder pooled to 196 tokens per frame"),
        Family("SmolVLM2", "smolvlm", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "<image>", True, None,
               "'Frame from MM:SS:' text before each frame",
               # SmolVLM's video path does not split frames into tiles; as images, a frame would cost up to
               # 17x the tokens (4x4 tiles and the global image).
               frame_settings=(("do_image_splitting", False),)),
        Family("Gemma 3", "gemma3", "google/gemma-3-4b-it", "<start_of_image>", True, None, None),
    )
}


def family_of(model_type: str | None) -> Family | None:
    """The family of a config.json `model_type`, or None for architectures without a family entry."""
    return FAMILIES.get(model_type or "")
