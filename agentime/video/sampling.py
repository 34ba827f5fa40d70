"""Sample frames from a video at a rate, in a time window or at given timestamps, streaming.

A request becomes a sorted list of target times. Rate requests take, for each grid time `k / fps`, the
nearest frame that is cheap to decode; timestamp requests take the frame shown at each time (the last frame
whose presentation time is <= t). The decoding method follows the request, from costs measured on H.264:

- `keyframes`: only keyframe packets reach the decoder (coarse overviews whose interval spans a GOP);
- `reference`: non-reference H.264 pictures are dropped before decoding (dense rates that still skip frames);
- `sequential`: every packet is decoded (frame-exact requests);
- `seek`: a jump to the keyframe before each far-away target (sparse timestamps);
- `opencv`: OpenCV's sequential grab/retrieve (kept as an alternative and for benchmarks).

Only chosen frames are converted to RGB (the conversion costs more than decoding a small frame). Memory is
bounded by one decoded frame plus the caller's consumption: nothing accumulates. This module decodes; it
does not cache (see `ingest.py`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from agentime.errors import ConfigError, TimestampOutOfRangeError
from agentime.video.frames import Frame
from agentime.video.nal import avcc_length_size, is_reference_packet
from agentime.video.source import VideoSource, open_video

METHODS = ("auto", "keyframes", "reference", "sequential", "seek", "opencv")
_EPS = 1e-6
SEEK_GOPS = 3.0  # jump ahead when the next target is more than this many keyframe intervals away


@dataclass(frozen=True)
class SamplingPlan:
    """The targets of a request and how they will be decoded."""

    targets: np.ndarray
    nearest: bool  # True: nearest cheap frame per target (rates); False: the frame shown at each target
    method: str
    runs: list[tuple[int, int]]  # [start, end) index ranges of targets decoded without seeking in between


def _as_source(video: VideoSource | str | os.PathLike) -> VideoSource:
    return video if isinstance(video, VideoSource) else open_video(video)


def rate_targets(duration: float, fps: float, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Grid times `k / fps` in [start, end), aligned to the video start so resumed passes line up."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ConfigError(f"the sampling rate must be a positive number of frames per second, got {fps!r}")
    end = duration if end is None else min(end, duration)
    first = math.ceil(start * fps - 1e-9)
    last = math.ceil(end * fps - 1e-9)
    return np.arange(first, max(first, last), dtype=np.float64) / fps


def _check_window(info, start: float, end: float | None) -> None:
    if start < 0 or start > info.duration:
        raise TimestampOutOfRangeError(f"start {start:.3f} s lies outside the video (0 to {info.duration:.3f} s)")
    if end is not None and (end <= start):
        raise TimestampOutOfRangeError(f"end {end:.3f} s must be after start {start:.3f} s")


def plan_sampling(
    source: VideoSource,
    *,
    fps: float | None = None,
    start: float = 0.0,
    end: float | None = None,
    timestamps: Sequence[float] | None = None,
    method: str = "auto",
) -> SamplingPlan:
    """Turn a request into targets and a decoding method (see the module docstring for the choice)."""
    info = source.info
    if method not in METHODS:
        raise ConfigError(f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}")
    if (fps is None) == (timestamps is None):
        raise ConfigError("give either fps (a rate, optionally with start/end) or timestamps, not both")
    if timestamps is not None:
        targets = np.sort(np.asarray(list(timestamps), dtype=np.float64))
        bad = targets[(targets < 0) | (targets > info.duration) | ~np.isfinite(targets)]
        if bad.size:
            raise TimestampOutOfRangeError(
                f"timestamp {bad[0]:.3f} s lies outside the video (0 to {info.duration:.3f} s)")
        nearest = False
        tolerance = 0.0
    else:
        _check_window(info, start, end)
        targets = rate_targets(info.duration, fps, start, end)
        nearest = True
        tolerance = 0.5 / fps

    if method == "auto":
        method = _choose_method(info, tolerance, nearest)
    runs = _split_runs(targets, info.keyframe_interval, method)
    return SamplingPlan(targets, nearest, method, runs)


def _choose_method(info, tolerance: float, nearest: bool) -> str:
    if nearest and info.keyframe_interval and info.keyframe_interval <= 2 * tolerance:
        return "keyframes"
    frame_interval = 1.0 / info.fps if info.fps else 0.0
    skips_frames = info.reference_interval and info.reference_interval > 1.5 * frame_interval
    if nearest and skips_frames and info.reference_interval <= 2 * tolerance:
        return "reference"
    return "sequential"


def _split_runs(targets: np.ndarray, keyframe_interval: float | None, method: str) -> list[tuple[int, int]]:
    if targets.size == 0:
        return []
    if method == "seek":
        return [(i, i + 1) for i in range(targets.size)]
    if method == "opencv" or not keyframe_interval:
        return [(0, targets.size)]
    gaps = np.flatnonzero(np.diff(targets) > SEEK_GOPS * keyframe_interval) + 1
    bounds = [0, *gaps.tolist(), targets.size]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def sample_frames(
    video: VideoSource | str | os.PathLike,
    *,
    fps: float | None = None,
    start: float = 0.0,
    end: float | None = None,
    timestamps: Sequence[float] | None = None,
    max_side: int | None = None,
    method: str = "auto",
) -> Iterator[Frame]:
    """Yield frames for a rate (`fps`, optionally within [start, end)) or for given `timestamps`.

    Rates yield one frame per grid time (the nearest cheaply decodable one, never the same frame twice);
    timestamps yield, in sorted order, the frame shown at each time. `Frame.t` is always the frame's own
    presentation time. `max_side` downscales so the longer side is at most that many pixels.
    """
    source = _as_source(video)
    plan = plan_sampling(source, fps=fps, start=start, end=end, timestamps=timestamps, method=method)
    if max_side is not None and max_side < 8:
        raise ConfigError(f"max_side must be at least 8 pixels, got {max_side}")
    if plan.method == "opencv":
        yield from _sample_opencv(source, plan, max_side)
        return
    yield from _sample_pyav(source, plan, max_side)


def to_rgb(frame, max_side: int | None) -> np.ndarray:
    """Convert a decoded PyAV frame to an RGB uint8 array, downscaled to `max_side` if given."""
    import cv2

    width, height = frame.width, frame.height
    if frame.format.name == "yuv420p" and width % 2 == 0 and height % 2 == 0:
        return _downscale(cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420), max_side)
    scale = 1.0 if not max_side else min(1.0, max_side / max(width, height))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    return frame.to_ndarray(format="rgb24", width=size[0], height=size[1])


def _keep_packet(method: str, packet, length_size: int | None, is_h264: bool) -> bool:
    if method == "keyframes":
        return packet.is_keyframe
    if method == "reference" and is_h264:
        return is_reference_packet(bytes(packet), length_size)
    return True


def _decoded(container, stream, method: str) -> Iterator:
    """Decoded frames from the current position, skipping packets the method does not need."""
    import av

    length_size = avcc_length_size(stream.codec_context.extradata)
    is_h264 = stream.codec_context.name == "h264"
    failures = 0
    for packet in container.demux(stream):
        if packet.size and not _keep_packet(method, packet, length_size, is_h264):
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            failures += 1  # a damaged packet: skip it, the following keyframe recovers
            if failures > 1000:
                return
            continue
        for frame in frames:
            if frame.pts is not None:
                yield frame


def _sample_pyav(source: VideoSource, plan: SamplingPlan, max_side: int | None) -> Iterator[Frame]:
    targets = plan.targets
    last_emitted = -math.inf
    with source.open() as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        base = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        converted: list = [None, None]  # (decoded frame, its RGB array): the same frame may serve two targets

        def emit(frame, t):
            nonlocal last_emitted
            if plan.nearest and t <= last_emitted + _EPS:
                return None  # rates never repeat a frame
            last_emitted = t
            if converted[0] is not frame:
                converted[:] = [frame, to_rgb(frame, max_side)]
            return Frame(max(0.0, t), converted[1])

        for run_start, run_end in plan.runs:
            seek_to = max(0.0, targets[run_start] + base - (0.5 / source.info.fps if plan.nearest else 0.0))
            container.seek(int(seek_to / stream.time_base), stream=stream, backward=True)
            i = run_start
            previous, previous_t = None, -math.inf
            for frame in _decoded(container, stream, plan.method):
                t = float(frame.pts * frame.time_base) - base
                if t <= previous_t:  # out-of-order presentation times in a damaged file
                    continue
                while i < run_end and targets[i] <= t + _EPS:
                    target = targets[i]
                    if previous is None or target >= t - _EPS or (plan.nearest and t - target < target - previous_t):
                        out = emit(frame, t)
                    else:
                        out = emit(previous, previous_t)
                    if out is not None:
                        yield out
                    i += 1
                if i >= run_end:
                    break
                previous, previous_t = frame, t
            while i < run_end and previous is not None:  # targets past the last frame: the last frame shows
                out = emit(previous, previous_t)
                if out is not None:
                    yield out
                i += 1


def _sample_opencv(source: VideoSource, plan: SamplingPlan, max_side: int | None) -> Iterator[Frame]:
    """Sequential grab/retrieve through OpenCV, retrieving only the frames a target needs.

    Which frame a target needs is decided from the nominal frame rate, so this method is exact for constant
    frame rate videos only; `auto` never picks it.
    """
    import cv2

    capture = cv2.VideoCapture(source.path)
    if not capture.isOpened():
        raise ConfigError(f"OpenCV cannot open {source.path}; use method='auto'")
    targets = plan.targets
    frame_interval = 1.0 / source.info.fps
    reach = (0.5 if plan.nearest else 1.0) * frame_interval - _EPS
    i = 0
    try:
        while i < targets.size and capture.grab():
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if targets[i] >= t + reach:
                continue
            ok, bgr = capture.retrieve()
            if ok:
                yield Frame(max(0.0, t), _bgr_to_rgb(bgr, max_side))
            while i < targets.size and targets[i] < t + reach:
                i += 1
    finally:
        capture.release()


def _bgr_to_rgb(bgr: np.ndarray, max_side: int | None) -> np.ndarray:
    import cv2

    return _downscale(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side)


def _downscale(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """`rgb` with its longer side at most `max_side` pixels (area interpolation), contiguous."""
    import cv2

    height, width = rgb.shape[:2]
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)
