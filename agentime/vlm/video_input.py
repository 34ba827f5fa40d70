"""Which families take frames through their own video path in process, and the encoder of each.

`frames_as="video"` in the hf backend looks the model's `model_type` up here; the encoders build the model's
video inputs from timestamped frames without the families' video processors (which need torchvision).
"""

from __future__ import annotations

from agentime.vlm import onevision_video, qwen_video, smolvlm_video

VIDEO_ENCODERS = {
    "qwen2_5_vl": qwen_video.encode_video_chats,
    "qwen3_vl": qwen_video.encode_video_chats,
    "llava_onevision": onevision_video.encode_video_chats,
    "smolvlm": smolvlm_video.encode_video_chats,
}
