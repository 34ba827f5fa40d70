"""Open a video file, validate it and describe it: `open_video(path) -> VideoSource`.

The description (`VideoInfo`) holds what a sampler needs to choose how to decode: duration, frame rate,
frame count, size, codec, whether seeking works, the keyframe spacing and the spacing of H.264 reference
pictures, and whether the frame rate varies. Bad files raise the `VideoError` family here, before any
sampling. Decoding many frames is `sampling.py`'s job, not this module's.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agentime.errors import (
    CorruptVideoError,
    NoDecodableFramesError,
    NotAVideoError,
    VideoError,
    VideoNotFoundError,
)
from agentime.video.nal import avcc_length_size, is_reference_packet

PROBE_PACKETS = 600  # packets read at open to estimate keyframe and reference spacing


@dataclass(frozen=True)
class VideoInfo:
    """What agentime knows about a video file. Times are seconds; `duration` is the readable duration."""

    path: str
    duration: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str
    seekable: bool
    keyframe_interval: float | None
    reference_interval: float | None
    variable_frame_rate: bool
    truncated: bool = False
    declared_duration: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class VideoSource:
    """A validated video file and its `info`; `open()` gives a fresh PyAV container for one decoding pass."""

    def __init__(self, info: VideoInfo):
        self.info = info

    @property
    def path(self) -> str:
        return self.info.path

    def open(self):
        import av

        try:
            return av.open(self.info.path)
        except (av.error.FFmpegError, OSError) as exc:  # the file changed or vanished since it was probed
            raise VideoError(f"cannot reopen {self.info.path}: {exc}") from exc

    def __repr__(self) -> str:
        i = self.info
        return f"VideoSource({i.path!r}, {i.duration:.1f}s, {i.fps:.2f} fps, {i.width}x{i.height}, {i.codec})"


def check_video_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise VideoNotFoundError(f"no such video file: {p}")
    if p.is_dir():
        raise NotAVideoError(f"{p} is a directory; give the path of a video file inside it")
    if p.stat().st_size == 0:
        raise NotAVideoError(f"{p} is empty (0 bytes); is it still being copied or recorded?")
    return p


def _first_frame(container, stream) -> object:
    """Decode the first frame, tolerating a few broken packets; NoDecodableFramesError if none decodes."""
    import av

    errors = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                return frame
        except av.error.FFmpegError:
            errors += 1
            if errors > 50:
                break
    raise NoDecodableFramesError(
        f"{container.name}: the video stream has no decodable frames ({errors} packets failed to decode)"
    )


def _probe_packets(container, stream) -> tuple[list[float], list[float], list[float]]:
    """Timestamps of the first packets: all, keyframes only, H.264 reference pictures only."""
    length_size = avcc_length_size(stream.codec_context.extradata)
    is_h264 = stream.codec_context.name == "h264"
    times, keys, refs = [], [], []
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        t = float(packet.pts * packet.time_base)
        times.append(t)
        if packet.is_keyframe:
            keys.append(t)
        if not is_h264 or is_reference_packet(bytes(packet), length_size):
            refs.append(t)
        if len(times) >= PROBE_PACKETS:
            break
    return sorted(times), sorted(keys), sorted(refs)


def _is_variable_rate(deltas: np.ndarray) -> bool:
    """True when more than 5% of frame intervals differ from the typical one by over 25%."""
    if deltas.size < 4:
        return False
    typical = float(np.median(deltas))
    return bool(np.mean(np.abs(deltas - typical) > 0.25 * typical + 1e-6) > 0.05)


def _max_gap(times: list[float]) -> float | None:
    return float(np.max(np.diff(times))) if len(times) >= 2 else None


def _readable_until(container, stream, declared: float) -> float:
    """Largest time up to which packets can be read, by bisection over seeks (cheap: no decoding)."""

    def has_packet_at(t: float) -> bool:
        try:
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    return float(packet.pts * packet.time_base) >= t - 30.0
                return False
        except Exception:  # noqa: BLE001 - any demux failure means "not readable here"
            return False
        return False

    if has_packet_at(max(0.0, declared - 1.0)):
        return declared
    lo, hi = 0.0, declared
    while hi - lo > 1.0:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if has_packet_at(mid) else (lo, mid)
    return _last_decodable_time(container, stream, lo)


def _last_decodable_time(container, stream, near: float) -> float:
    import av

    last = 0.0
    container.seek(int(max(0.0, near - 30.0) / stream.time_base), stream=stream, backward=True)
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    if frame.pts is not None:
                        last = max(last, float(frame.pts * frame.time_base))
            except av.error.FFmpegError:
                break
    except av.error.FFmpegError:
        pass
    return last


def open_video(path: str | os.PathLike, *, allow_truncated: bool = False) -> VideoSource:
    """Validate and describe a video file.

    A truncated or damaged file raises CorruptVideoError (with `readable_duration`) unless
    `allow_truncated=True`, which opens its readable part and warns (live recordings that are still being
    written look truncated).
    """
    import av

    p = check_video_path(path)
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as exc:
        if _looks_like_mp4(p):
            raise CorruptVideoError(
                f"{p} is an MP4 whose index (moov box) cannot be read ({exc.strerror or exc}): the recording "
                "was probably cut off before it was finalised. Nothing in it can be located; record as "
                "fragmented MP4 (movflags frag_keyframe+empty_moov) or re-encode the source",
                readable_duration=0.0) from exc
        raise NotAVideoError(f"{p} is not a readable video file ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.video:
            raise NoDecodableFramesError(f"{p} has no video stream (audio or data only)")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        first = _first_frame(container, stream)
        start_time = float(first.pts * first.time_base) if first.pts is not None else 0.0

        container.seek(0, stream=stream, backward=True)
        times, keys, refs = _probe_packets(container, stream)
        deltas = np.diff(times) if len(times) >= 2 else np.array([])
        average_rate = float(stream.average_rate) if stream.average_rate else 0.0
        fps = average_rate or (1.0 / float(np.median(deltas)) if deltas.size else 0.0)
        variable = _is_variable_rate(deltas)

        if stream.duration:
            declared = float(stream.duration * stream.time_base)
        elif container.duration:
            declared = container.duration / 1_000_000
        else:
            declared = _scan_duration(container, stream, fps)
        declared = max(0.0, declared - max(0.0, start_time))

        seekable = True
        try:
            readable = _readable_until(container, stream, declared)
        except av.error.FFmpegError:
            seekable, readable = False, declared
        truncated = readable < declared - max(2.0, 2.0 / max(fps, 1e-3))
        if truncated:
            message = (f"{p} is truncated or damaged: it declares {declared:.1f} s but only the first "
                       f"{readable:.1f} s can be decoded")
            if not allow_truncated:
                raise CorruptVideoError(message + "; open it with allow_truncated=True (CLI: --allow-truncated) "
                                        "to use the readable part", readable_duration=readable)
            warnings.warn(message, stacklevel=2)
        duration = readable if truncated else declared
        if duration <= 0 and fps > 0:
            duration = 1.0 / fps

        frame_count = int(stream.frames) if stream.frames and not truncated else int(round(duration * fps))
        keyframe_interval = _max_gap(keys) if len(keys) >= 2 else (None if len(keys) < 1 else duration)
        info = VideoInfo(
            path=str(p.resolve()), duration=round(duration, 6), fps=round(fps, 6), frame_count=frame_count,
            width=first.width, height=first.height, codec=codec, seekable=seekable,
            keyframe_interval=keyframe_interval, reference_interval=_max_gap(refs),
            variable_frame_rate=variable, truncated=truncated,
            declared_duration=round(declared, 6) if truncated else None,
        )
    return VideoSource(info)


def _scan_duration(container, stream, fps: float) -> float:
    """Duration of a stream whose header does not say (fragmented or live MP4): demux to the last packet."""
    last = 0.0
    container.seek(0, stream=stream, backward=True)
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                last = max(last, float(packet.pts * packet.time_base))
    except Exception:  # noqa: BLE001 - a partially written tail ends the scan
        pass
    return last + (1.0 / fps if fps else 0.0)


def _looks_like_mp4(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"mdat", b"moov", b"free", b"wide")
