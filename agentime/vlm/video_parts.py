"""Timestamped frames as one video item of an OpenAI-compatible chat message (`frames_as="video"`).

Video-native families (Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, SmolVLM2) served by vLLM take a run of frames
as a single `video_url` part: a `data:video/jpeg;base64,` URL whose payload is the frames' JPEGs in base64,
joined by commas. The model then sees the frames through its own video path (temporal patches, pooled video
tokens) instead of as separate images. Timestamps cannot sit between the frames of a video, so the text
item before it lists each frame's timestamp in order. vLLM keeps at most `num_frames` frames of such a URL
(32 unless the server sets `--media-io-kwargs '{"video": {"num_frames": N}}'`) and drops the rest from the
end, so longer runs are thinned evenly here first.

It turns prompt parts into message content; it sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart, format_timestamp, parse_timestamp

VLLM_VIDEO_FRAMES = 32


def is_timestamp(text: str) -> bool:
    """Whether `text` is exactly a timestamp item of a TAFR prompt."""
    try:
        parse_timestamp(text)
    except ValueError:
        return False
    return True


def frame_runs(parts: Sequence[PromptPart]) -> list[PromptPart | list[Frame]]:
    """`parts` with each run of `[timestamp, frame]` pairs (and lone frames) gathered into one list of frames."""
    out: list[PromptPart | list[Frame]] = []
    index = 0
    while index < len(parts):
        run: list[Frame] = []
        while index < len(parts):
            part = parts[index]
            if isinstance(part, str) and is_timestamp(part) and index + 1 < len(parts) and isinstance(
                    parts[index + 1], Frame):
                run.append(parts[index + 1])
                index += 2
            elif isinstance(part, Frame):
                run.append(part)
                index += 1
            else:
                break
        if run:
            out.append(run)
        else:
            out.append(parts[index])
            index += 1
    return out


def evenly_spaced(count: int, most: int) -> list[int]:
    """Indices of at most `most` of `count` items, evenly spread, first and last kept."""
    if count <= most:
        return list(range(count))
    if most <= 1:
        return [0] if most == 1 else []
    return [round(k * (count - 1) / (most - 1)) for k in range(most)]


def thin_frames(parts: Sequence[PromptPart], keep: int) -> list[PromptPart]:
    """`parts` with only `keep` of its frames, evenly spread (first and last kept); a dropped frame's timestamp
    text goes with it. Used wherever a model or server takes fewer images than a prompt holds."""
    positions = [i for i, part in enumerate(parts) if isinstance(part, Frame)]
    if len(positions) <= keep:
        return list(parts)
    dropped = set(positions) - {positions[i] for i in evenly_spaced(len(positions), max(1, keep))}
    labels = {i - 1 for i in dropped if i > 0 and isinstance(parts[i - 1], str) and is_timestamp(parts[i - 1])}
    return [part for i, part in enumerate(parts) if i not in dropped and i not in labels]


def evenly(frames: Sequence[Frame], most: int) -> list[Frame]:
    """At most `most` frames, evenly spread, first and last kept."""
    return [frames[i] for i in evenly_spaced(len(frames), most)]


def timestamps_text(frames: Sequence[Frame]) -> str:
    """The text before a video: its frames' timestamps, in order."""
    return f"Video of {len(frames)} frames at {', '.join(format_timestamp(f.t) for f in frames)}:"


def video_content(parts: Sequence[PromptPart], encode_jpeg: Callable[[Frame], str],
                  max_frames: int = VLLM_VIDEO_FRAMES) -> list[dict]:
    """Message content with each run of frames as one `video_url` part after a text listing their timestamps.

    `encode_jpeg(frame)` returns the frame's JPEG as base64 (no data-URL prefix).
    """
    content: list[dict] = []
    for item in frame_runs(parts):
        if isinstance(item, list):
            frames = evenly(item, max_frames)
            content.append({"type": "text", "text": timestamps_text(frames)})
            payload = ",".join(encode_jpeg(f) for f in frames)
            content.append({"type": "video_url", "video_url": {"url": f"data:video/jpeg;base64,{payload}"}})
        else:
            content.append({"type": "text", "text": item})
    return content
