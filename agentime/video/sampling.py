"""Sample frames from a video at a rate, in a time window or at given timestamps, streaming.

A request becomes a sorted list of target times. Rate requests take, for each grid time `k / fps`, the
nearest frame that is cheap to decode; timestamp requests take the frame shown at each time (the last frame
whose presentation time is <= t). The decoding method follows the request, from costs measured on H.264:

- `keyframes`: only keyframe packets reach the decoder (coarse overviews whose interval spans a GOP);
- `reference`: non-reference H.264 pictures are dropped before decoding (dense rates that still skip frames);
- `sequential`: every packet is decoded (frame-exact requests);
- `seek`: a jump to the keyframe before each far-away target (sparse timestamps);
- `opencv`: OpenCV's sequential grab/retrieve (kept as an alternative and for benchmarks).

Only chosen frames are converted to RGB (the conversion costs more than decoding a small frame), and they
come out as a person sees them: pixel aspect and display rotation applied (`display.py`). Times are on the
video's clock (0 = first displayed frame, see `source.py`). A seek that lands after its target (MPEG-TS
files whose only keyframe precedes the seek point) or decodes nothing falls back to an earlier seek, then to
decoding from the start. Memory is bounded by one decoded frame plus the caller's consumption: nothing
accumulates. This module decodes; it does not cache (see `ingest.py`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from agentime.errors import ConfigError, NoDecodableFramesError, TimestampOutOfRangeError
from agentime.video.display import orient, output_size, parse_ratio
from agentime.video.frames import Frame
from agentime.video.nal import avcc_length_size, is_reference_packet
from agentime.video.source import VideoInfo, VideoSource, frame_pts, open_video

METHODS = ("auto", "keyframes", "reference", "sequential", "seek", "opencv")
_EPS = 1e-6
SEEK_GOPS = 3.0  # jump ahead when the next target is more than this many keyframe intervals away
SEEK_BACK_SECONDS = 5.0  # a seek that lands after its target is retried this much (or two GOPs) earlier
FROM_START_LIMIT = 120.0  # beyond this, a target whose seek keeps landing late is not decoded from the start


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


def to_rgb(frame, max_side: int | None, info: VideoInfo | None = None) -> np.ndarray:
    """Convert a decoded PyAV frame to an RGB uint8 array as it is displayed: square pixels (the sample
    aspect ratio applied), turned and mirrored as the display matrix says (from `info`), the longer side
    at most `max_side` if given."""
    import cv2

    width, height = frame.width, frame.height
    size = _output_size(width, height, info.sample_aspect_ratio if info is not None else "1:1", max_side)
    if frame.format.name == "yuv420p" and width % 2 == 0 and height % 2 == 0:
        rgb = _resize(cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420), size)
    else:
        rgb = frame.to_ndarray(format="rgb24", width=max(2, size[0]), height=max(2, size[1]))
        rgb = _resize(rgb, size)
    if info is not None and (info.rotation or info.mirrored):
        rgb = orient(rgb, info.rotation, info.mirrored)
    return rgb


@functools.lru_cache(maxsize=64)
def _output_size(width: int, height: int, sample_aspect_ratio: str, max_side: int | None) -> tuple[int, int]:
    """`display.output_size`, computed once per picture size (it is asked for every frame)."""
    return output_size(width, height, parse_ratio(sample_aspect_ratio), max_side)


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
            if frame_pts(frame) is not None:
                yield frame


class _Decoder:
    """One decoding pass over a source's video stream that can seek, or start over from the beginning."""

    def __init__(self, source: VideoSource, method: str):
        self.source, self.method = source, method
        self.container = None
        self.fresh = False  # positioned at the start of the file, nothing read yet
        self.reopen()

    def reopen(self) -> None:
        self.close()
        self.container = self.source.open()
        self.stream = self.source.stream(self.container)
        self.stream.thread_type = "SLICE"
        self._ticks = (self.stream.time_base.numerator, self.stream.time_base.denominator)
        self.fresh = True

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def time(self, frame) -> float:
        """Seconds from the first displayed frame: exact integer arithmetic on the timestamps, then one
        correctly rounded division (the same float for the same picture, whoever decodes it)."""
        numerator, denominator = self._ticks
        return (frame_pts(frame) - self.source.info.start_pts) * numerator / denominator

    def frames_from(self, seek_to: float | None) -> Iterator:
        """Decoded frames from the keyframe at or before `seek_to` seconds, or from the start when None."""
        if seek_to is None:
            if not self.fresh:
                self.reopen()
        else:
            absolute = seek_to + self.source.info.start_offset
            self.container.seek(int(absolute / self.stream.time_base), stream=self.stream, backward=True)
        self.fresh = False
        return _decoded(self.container, self.stream, self.method)


def _frames_covering(decoder: _Decoder, target: float, seek_to: float, keyframe_interval: float | None):
    """(frames, first frame, its time) for a run whose first target is `target`; (None, None, inf) when
    nothing decodes. The first frame is at or before the target when the file allows: a seek that lands
    late or yields nothing is retried earlier, then from the start."""
    back = max(SEEK_BACK_SECONDS, 2 * (keyframe_interval or 0.0))
    if decoder.fresh and seek_to <= back:
        attempts: list[float | None] = [None]  # already at the start: reading on is the cheapest way there
    else:
        attempts = [seek_to, *([seek_to - back] if seek_to > back else [])]
        if target <= FROM_START_LIMIT:
            attempts.append(None)
    best_seek, best_t = None, math.inf
    for seek in attempts:
        frames = decoder.frames_from(seek)
        first = next(frames, None)
        if first is None:
            continue
        t = decoder.time(first)
        if t <= target + _EPS:
            return frames, first, t
        if t < best_t:
            best_seek, best_t = seek, t
    if best_t == math.inf and attempts[-1] is not None:
        best_seek, best_t = None, 0.0  # every seek came back empty: read from the start after all
    if best_t == math.inf:
        return None, None, math.inf
    frames = decoder.frames_from(best_seek)  # the frames of a damaged file, from where they start
    first = next(frames, None)
    return (frames, first, decoder.time(first)) if first is not None else (None, None, math.inf)


def _sample_pyav(source: VideoSource, plan: SamplingPlan, max_side: int | None) -> Iterator[Frame]:
    targets = plan.targets
    last_emitted = -math.inf
    info = source.info
    decoder = _Decoder(source, plan.method)
    converted: list = [None, None]  # (decoded frame, its RGB array): the same frame may serve two targets

    def emit(frame, t):
        nonlocal last_emitted
        if plan.nearest and t <= last_emitted + _EPS:
            return None  # rates never repeat a frame
        last_emitted = t
        if converted[0] is not frame:
            converted[:] = [frame, to_rgb(frame, max_side, info)]
        return Frame(max(0.0, t), converted[1], frame_pts(frame) - info.start_pts)

    try:
        for run_start, run_end in plan.runs:
            target = float(targets[run_start])
            seek_to = max(0.0, target - (0.5 / info.fps if plan.nearest else 0.0))
            frames, first, first_t = _frames_covering(decoder, target, seek_to, info.keyframe_interval)
            if first is None:
                if not plan.nearest:
                    raise NoDecodableFramesError(
                        f"no frame of {info.path} could be decoded at {target:.3f} s (or before it); the file "
                        "is damaged there")
                continue
            i = run_start
            previous, previous_t = None, -math.inf
            for frame in _chain(first, frames):
                t = first_t if frame is first else decoder.time(frame)
                if t <= previous_t or t < -_EPS:  # out-of-order times in a damaged file; frames before t = 0
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
    finally:
        decoder.close()


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _sample_opencv(source: VideoSource, plan: SamplingPlan, max_side: int | None) -> Iterator[Frame]:
    """Sequential grab/retrieve through OpenCV, retrieving only the frames a target needs.

    Which frame a target needs is decided from the nominal frame rate, so this method is exact for constant
    frame rate videos only; `auto` never picks it.
    """
    import cv2

    capture = cv2.VideoCapture(source.path)
    if not capture.isOpened():
        raise ConfigError(f"OpenCV cannot open {source.path}; use method='auto'")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # turned below, the same way as the other methods
    info = source.info
    targets = plan.targets
    frame_interval = 1.0 / info.fps
    reach = (0.5 if plan.nearest else 1.0) * frame_interval - _EPS
    size = output_size(info.coded_width or info.width, info.coded_height or info.height, info.pixel_aspect,
                       max_side)
    i = 0
    try:
        while i < targets.size and capture.grab():
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if targets[i] >= t + reach:
                continue
            ok, bgr = capture.retrieve()
            if ok:
                rgb = _resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
                yield Frame(max(0.0, t), orient(rgb, info.rotation, info.mirrored))
            while i < targets.size and targets[i] < t + reach:
                i += 1
    finally:
        capture.release()


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` resized to `size` (width, height): area interpolation to shrink, linear to stretch; contiguous."""
    import cv2

    height, width = rgb.shape[:2]
    if (width, height) != tuple(size):
        shrinking = size[0] * size[1] < width * height
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)
