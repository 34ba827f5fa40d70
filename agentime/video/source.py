"""Open a video file, validate it and describe it: `open_video(path) -> VideoSource`.

The description (`VideoInfo`) holds what a sampler needs to choose how to decode and to put every frame on
one clock: which video track, where presentation time starts (the first displayed frame is t = 0), the
duration measured from the stream's real timing, the frame rate from frame timing (headers lie), the size
and orientation as a person sees the picture, the codec, whether seeking works, the keyframe spacing and
the spacing of H.264 reference pictures, and whether the frame rate varies. Bad files raise the
`VideoError` family here, before any sampling. Decoding many frames is `sampling.py`'s job, not this
module's.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from agentime.errors import (
    CorruptVideoError,
    NoDecodableFramesError,
    NotAVideoError,
    TruncatedVideoWarning,
    VideoError,
    VideoNotFoundError,
)
from agentime.video.display import display_size, format_ratio, orientation_from_matrix, parse_ratio
from agentime.video.nal import avcc_length_size, is_reference_packet

PROBE_PACKETS = 600  # packets read at open to estimate frame timing, keyframe and reference spacing
TAIL_SECONDS = 10.0  # how far before the declared end the last frames are looked for
MAX_FAILED_PACKETS = 50  # undecodable packets tolerated before a stream counts as having no frames


@dataclass(frozen=True)
class VideoInfo:
    """What agentime knows about a video file.

    Times are seconds on the video's own clock: 0 is the first displayed frame, `duration` the span of
    presentation times that can be read (last frame's end minus first frame's start). `start_offset` is where
    that first frame lies in the file's timestamps (MPEG-TS segments and MP4s with edit lists do not start at
    0). `width` and `height` are the displayed size (pixel aspect and rotation applied); `coded_width` and
    `coded_height` the stored one. `stream_index` is the container stream read, chosen among `video_tracks`.
    """

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
    start_offset: float = 0.0
    start_pts: int = 0  # the first displayed frame's timestamp in the stream's time base (exact)
    rotation: int = 0  # clockwise degrees applied to stored pictures
    mirrored: bool = False  # mirrored left-right after rotating
    sample_aspect_ratio: str = "1:1"
    coded_width: int = 0
    coded_height: int = 0
    container: str = ""
    stream_index: int = 0
    video_tracks: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def pixel_aspect(self) -> Fraction:
        return parse_ratio(self.sample_aspect_ratio)


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

    def stream(self, container):
        """The video stream this source reads, in a container from `open()`."""
        return container.streams[self.info.stream_index]

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


def choose_video_stream(container):
    """The default video track (by disposition), else the first; cover pictures are not video tracks.

    Returns (stream, number of video tracks)."""
    import av

    tracks = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not tracks:
        return None, 0
    default = [s for s in tracks if s.disposition & av.stream.Disposition.default]
    return (default or tracks)[0], len(tracks)


def frame_pts(frame) -> int | None:
    """A decoded frame's presentation timestamp, or its decoding one when a container gives no other."""
    return frame.pts if frame.pts is not None else frame.dts


def _first_frame(container, stream) -> object:
    """Decode the first displayed frame, tolerating a few broken packets; NoDecodableFramesError if none."""
    import av

    errors = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                if frame_pts(frame) is not None:
                    return frame
        except av.error.FFmpegError:
            errors += 1
            if errors > MAX_FAILED_PACKETS:
                break
    try:
        for frame in stream.codec_context.decode(None):  # a stream of one frame comes out at the flush
            if frame_pts(frame) is not None:
                return frame
    except av.error.FFmpegError:
        pass
    raise NoDecodableFramesError(
        f"{container.name}: the video stream has no decodable frames ({errors} packets failed to decode)"
    )


def _packet_time(packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None else float(ts * packet.time_base)


def _probe_packets(container, stream) -> tuple[list[float], list[float], list[float]]:
    """Timestamps of the first packets: all, keyframes only, H.264 reference pictures only (all of the
    stream's when it has fewer than PROBE_PACKETS)."""
    length_size = avcc_length_size(stream.codec_context.extradata)
    is_h264 = stream.codec_context.name == "h264"
    times, keys, refs = [], [], []
    for packet in container.demux(stream):
        t = _packet_time(packet)
        if t is None or not packet.size or packet.is_discard:
            continue
        times.append(t)
        if packet.is_keyframe:
            keys.append(t)
        if not is_h264 or is_reference_packet(bytes(packet), length_size):
            refs.append(t)
        if len(times) >= PROBE_PACKETS:
            break
    return sorted(times), sorted(keys), sorted(refs)


def _frame_rate(times: list[float], stream) -> float:
    """Frames per second from frame timing (the average over the probed frames); headers only as a last
    resort, because they lie (an MKV may say 1000 fps for a 30-fps clip)."""
    if len(times) >= 2 and times[-1] > times[0]:
        return (len(times) - 1) / (times[-1] - times[0])
    for rate in (stream.guessed_rate, stream.average_rate, stream.base_rate):
        if rate and 0 < float(rate) < 1000:
            return float(rate)
    return 25.0


def _is_variable_rate(deltas: np.ndarray) -> bool:
    """True when more than 5% of frame intervals differ from the typical one by over 25%."""
    if deltas.size < 4:
        return False
    typical = float(np.median(deltas))
    return bool(np.mean(np.abs(deltas - typical) > 0.25 * typical + 1e-6) > 0.05)


def _max_gap(times: list[float]) -> float | None:
    return float(np.max(np.diff(times))) if len(times) >= 2 else None


def _declared_end(container, stream) -> float | None:
    """Where the headers say the stream ends, in the file's clock (start plus length), or None."""
    if stream.duration:
        start = stream.start_time if stream.start_time is not None else 0
        return float((start + stream.duration) * stream.time_base)
    if container.duration:
        start = container.start_time if container.start_time is not None else 0
        return (start + container.duration) / 1_000_000
    return None


def _tail_end(container, stream, near: float | None, frame_interval: float) -> float | None:
    """End of the last frame from the packets after `near` (from the current position when None); None
    when nothing can be read there.

    The last frame lasts its packet's duration, but no longer than the interval before it: MP4 packet
    durations are decoding intervals, which B-frame reordering and variable rates make differ from display
    ones."""
    try:
        if near is not None:
            container.seek(int(near / stream.time_base), stream=stream, backward=True)
    except Exception:  # noqa: BLE001 - an unseekable tail reads as unreadable here
        return None
    last: list[tuple[float, float]] = []  # (time, packet duration) of the latest two frames
    try:
        for packet in container.demux(stream):
            t = _packet_time(packet)
            if t is None or not packet.size or packet.is_discard:
                continue
            length = float(packet.duration * packet.time_base) if packet.duration else 0.0
            last = sorted([*last, (t, length)])[-2:]
    except Exception:  # noqa: BLE001 - a partially written tail ends the scan
        pass
    if not last:
        return None
    t, length = last[-1]
    before = t - last[0][0] if len(last) == 2 and last[0][0] < t else frame_interval
    return t + (min(length, before) if length > 0 else before)


def _readable_until(container, stream, start: float, declared: float) -> float:
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

    if has_packet_at(max(start, declared - 1.0)):
        return declared
    lo, hi = start, declared
    while hi - lo > 1.0:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if has_packet_at(mid) else (lo, mid)
    return max(start, _last_decodable_time(container, stream, lo, start))


def _last_decodable_time(container, stream, near: float, start: float) -> float:
    import av

    last = start
    container.seek(int(max(start, near - 30.0) / stream.time_base), stream=stream, backward=True)
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


def _display_matrix(frame) -> bytes | None:
    try:
        for side in frame.side_data:
            if "DISPLAYMATRIX" in str(side.type):
                return bytes(side)
    except ValueError:  # side data of a type this PyAV does not know (e.g. multi-view HEVC): none we need
        pass
    return None


def _container_name(container, p: Path) -> str:
    """The container format's short name, preferring the one the file's extension names (mp4 over mov)."""
    names = container.format.name.split(",")
    extension = p.suffix.lower().lstrip(".")
    return extension if extension in names else names[0]


def _codec_name(stream) -> str:
    """The codec (h264, hevc, av1, vp9), not the decoder that reads it (libdav1d)."""
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or stream.codec_context.name


def open_video(path: str | os.PathLike, *, allow_truncated: bool = False) -> VideoSource:
    """Validate and describe a video file.

    A truncated or damaged file raises CorruptVideoError (with `readable_duration`) unless
    `allow_truncated=True`, which opens its readable part and warns with a `TruncatedVideoWarning` (live
    recordings that are still being written look truncated).
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
        stream, tracks = choose_video_stream(container)
        if stream is None:
            raise NoDecodableFramesError(f"{p} has no video stream (audio or data only)")
        first, index = _first_frame(container, stream), stream.index
    # A second pass from the file's first byte: a seek "to the start" lands after the start in files whose
    # timestamps begin below 0 (PTS wrap-around) or whose only keyframe precedes the seek point (MPEG-TS)
    with av.open(str(p)) as container:
        return VideoSource(_describe(p, container, container.streams[index], tracks, first,
                                     allow_truncated))


def _describe(p: Path, container, stream, tracks: int, first, allow_truncated: bool) -> VideoInfo:
    import av

    start_pts = frame_pts(first)
    start = float(start_pts * stream.time_base)
    rotation, mirrored = orientation_from_matrix(_display_matrix(first))
    sar = Fraction(stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio or 1)
    sar = sar if sar > 0 else Fraction(1)
    width, height = display_size(first.width, first.height, sar, rotation)

    times, keys, refs = _probe_packets(container, stream)
    times = [t for t in times if t >= start - 1e-6] or times  # frames before the first decodable one
    fps = _frame_rate(times, stream)
    deltas = np.diff(times) if len(times) >= 2 else np.array([])

    declared_end = _declared_end(container, stream)
    if declared_end is None and len(times) < PROBE_PACKETS:  # the probe read the whole stream already
        measured_end = times[-1] + (float(np.median(deltas)) if deltas.size else 1.0 / fps) if times else None
    else:
        tail_from = None if declared_end is None else max(start, declared_end - TAIL_SECONDS)
        measured_end = _tail_end(container, stream, tail_from, 1.0 / fps)
    if declared_end is None:
        declared_end = measured_end if measured_end is not None else start + 1.0 / fps
    tolerance = max(2.0, 2.0 / max(fps, 1e-3))
    seekable, truncated = True, False
    if measured_end is not None and measured_end >= declared_end - tolerance:
        end = measured_end
    else:
        try:
            end = _readable_until(container, stream, start, declared_end)
        except av.error.FFmpegError:
            seekable, end = False, declared_end
        truncated = end < declared_end - tolerance
    declared = max(0.0, declared_end - start)
    if truncated:
        readable = max(0.0, end - start)
        message = (f"{p} is truncated or damaged: it declares {declared:.1f} s but only the first "
                   f"{readable:.1f} s can be decoded")
        if not allow_truncated:
            raise CorruptVideoError(message + "; open it with allow_truncated=True (CLI: --allow-truncated) "
                                    "to use the readable part", readable_duration=readable)
        warnings.warn(message + "; using the readable part", TruncatedVideoWarning, stacklevel=3)
    duration = max(end - start, 1.0 / fps)

    frame_count = _frame_count(stream, times, duration, fps, truncated)
    keyframe_interval = _max_gap(keys) if len(keys) >= 2 else (None if len(keys) < 1 else duration)
    return VideoInfo(
        path=str(p.resolve()), duration=round(duration, 6), fps=round(fps, 6), frame_count=frame_count,
        width=width, height=height, codec=_codec_name(stream), seekable=seekable,
        keyframe_interval=keyframe_interval, reference_interval=_max_gap(refs),
        variable_frame_rate=_is_variable_rate(deltas), truncated=truncated,
        declared_duration=round(declared, 6) if truncated else None,
        start_offset=round(start, 6), start_pts=int(start_pts), rotation=rotation, mirrored=mirrored,
        sample_aspect_ratio=format_ratio(sar), coded_width=first.width, coded_height=first.height,
        container=_container_name(container, p), stream_index=stream.index, video_tracks=tracks,
    )


def _frame_count(stream, times: list[float], duration: float, fps: float, truncated: bool) -> int:
    """Frames in the readable part: counted when the probe read them all, else the header's count when it
    agrees with the timing, else estimated from the timing."""
    estimated = int(round(duration * fps))
    if truncated:
        return estimated
    if len(times) < PROBE_PACKETS:
        return len(times)
    if stream.frames and abs(stream.frames - estimated) <= max(2, 0.02 * estimated):
        return int(stream.frames)
    return estimated


def _looks_like_mp4(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"mdat", b"moov", b"free", b"wide")
