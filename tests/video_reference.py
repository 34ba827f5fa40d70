"""A reference decode by Debian's ffmpeg, and the video fixtures no small public clip covers.

`reference(path, stream_index)` asks `ffprobe` for the presentation time of every frame and `ffmpeg` for every
frame as a player shows it (its automatic rotation, then square pixels), small. `write_fixtures(folder)` writes
the generated clips: rotation tags, non-square pixels, start offsets, MPEG-TS, PTS wrap-around, two video
tracks, a variable frame rate, and a TS that starts with frames that cannot be decoded. Test support only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REFERENCE_SIDE = 96  # longer side of the reference frames, in pixels
SQUARE_PIXELS = "scale=w='if(gt(sar,0),iw*sar,iw)':h=ih,setsar=1"
SOURCE = "testsrc2=size={size}:rate={rate}:duration={seconds}"


def ffmpeg_tools() -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    assert ffmpeg and ffprobe, "the video tests need Debian's ffmpeg: apt-get install ffmpeg (make test does)"
    return ffmpeg, ffprobe


def _run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=120).stdout


@dataclass
class Reference:
    """What ffmpeg shows: frame times from the first frame (seconds), the displayed size, small frames."""

    times: np.ndarray
    durations: np.ndarray
    width: int
    height: int
    frames: np.ndarray  # (count, h, w, 3) uint8, longer side REFERENCE_SIDE

    @property
    def interval(self) -> float:
        return float(np.median(np.diff(self.times))) if self.times.size > 1 else float(self.durations[-1])

    @property
    def duration(self) -> float:
        last = self.durations[-1] if np.isfinite(self.durations[-1]) and self.durations[-1] > 0 else self.interval
        return float(self.times[-1] + last)

    def index_shown_at(self, t: float) -> int:
        """The frame on screen at `t`: the last one whose time is <= t."""
        return int(np.searchsorted(self.times, t + 1e-6, side="right") - 1)


def reference(path: Path, stream_index: int) -> Reference:
    ffmpeg, ffprobe = ffmpeg_tools()
    probe = json.loads(_run(ffprobe, "-v", "error", "-select_streams", str(stream_index), "-show_entries",
                            "frame=best_effort_timestamp_time,pkt_duration_time,duration_time", "-of", "json",
                            str(path)))
    rows = [f for f in probe["frames"] if f.get("best_effort_timestamp_time") not in (None, "N/A")]
    times = np.array([float(f["best_effort_timestamp_time"]) for f in rows])
    durations = np.array([float(f.get("duration_time") or f.get("pkt_duration_time") or "nan") for f in rows])
    source = ["-v", "error", "-i", str(path), "-map", f"0:{stream_index}"]
    png = _run(ffmpeg, *source, "-frames:v", "1", "-vf", SQUARE_PIXELS, "-f", "image2pipe", "-c:v", "png", "-")
    import cv2

    shown = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    height, width = shown.shape[:2]
    scale = REFERENCE_SIDE / max(width, height)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    raw = _run(ffmpeg, *source, "-vf", f"{SQUARE_PIXELS},scale={small[0]}:{small[1]}:flags=area",
               "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-")
    frames = np.frombuffer(raw, np.uint8).reshape(-1, small[1], small[0], 3)
    assert len(frames) == len(times), f"ffmpeg gave {len(frames)} frames, ffprobe {len(times)} times"
    return Reference(times - times[0], durations, width, height, frames)


def _encode(ffmpeg: str, out: Path, *args: str, size: str = "176x144", rate: int = 10, seconds: float = 4) -> Path:
    _run(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", SOURCE.format(size=size, rate=rate, seconds=seconds),
         *args, str(out))
    return out


def _with_rotation(source: Path, out: Path, degrees: int) -> Path:
    """`source` remuxed with a display matrix that turns it `degrees` counter-clockwise (ffmpeg's sense),
    as phones write it (Debian's ffmpeg 5.1 cannot write one)."""
    import av

    with av.open(str(source)) as src, av.open(str(out), "w") as sink:
        stream = src.streams.video[0]
        target = sink.add_stream_from_template(stream)
        target.set_display_rotation(degrees)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = target
                sink.mux(packet)
    return out


VFR_TIMES = [i * 0.1 for i in range(20)] + [2 + i * 0.04 for i in range(25)] + [3 + i * 0.25 for i in range(12)]


def write_timed_frames(out: Path, images, times, *, options: dict | None = None) -> Path:
    """An H.264 MP4 whose frames are `images` shown at `times` (seconds, millisecond timestamps)."""
    from fractions import Fraction

    import av

    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25, options=options or {})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for image, t in zip(images, times, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def _variable_rate(out: Path) -> Path:
    """A screen-recording-like clip: 10 fps for 2 s, 25 fps for 1 s, then 4 fps for 3 s (millisecond
    timestamps). Each frame shows its index as a bar whose length grows, and a corner marker."""
    images = []
    for i in range(len(VFR_TIMES)):
        image = np.full((96, 160, 3), 40, np.uint8)
        image[40:56, : 2 + 2 * i] = (250, 200, 40)
        image[:16, :16] = (30, 220, 30)  # top-left marker: upright and unmirrored
        images.append(image)
    return write_timed_frames(out, images, VFR_TIMES, options={"g": "12"})


def _cut_before_keyframe(source: Path, out: Path) -> Path:
    """An MPEG-TS that starts in the middle of a group of pictures, as a recording joined late does: the
    first 188-byte packets are dropped so that the first frames cannot be decoded."""
    data = source.read_bytes()
    cut = (len(data) // 188 // 5) * 188
    out.write_bytes(data[cut:])
    return out


def write_fixtures(folder: Path) -> dict[str, Path]:
    """Generate every fixture into `folder`; returns name -> path."""
    ffmpeg, _ = ffmpeg_tools()
    h264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10"]
    anamorphic = _encode(ffmpeg, folder / "anamorphic_pal.mp4", *h264, "-vf", "setsar=16/11")
    fixtures = {
        "anamorphic_pal.mp4": anamorphic,
        "start_offset.mp4": _encode(ffmpeg, folder / "start_offset.mp4", *h264, "-output_ts_offset", "5"),
        "hls_segment.ts": _encode(ffmpeg, folder / "hls_segment.ts", *h264, "-output_ts_offset", "10.03",
                                  "-f", "mpegts"),
        # 2^33 ticks of 90 kHz = 95443.7 s: the timestamps wrap around to 0 about 0.8 s into the clip
        "pts_wrap.ts": _encode(ffmpeg, folder / "pts_wrap.ts", *h264, "-output_ts_offset", "95441.5",
                               "-f", "mpegts"),
        "vfr.mp4": _variable_rate(folder / "vfr.mp4"),
        "late_keyframe.ts": _cut_before_keyframe(
            _encode(ffmpeg, folder / "whole.ts", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30",
                    "-f", "mpegts", seconds=6), folder / "late_keyframe.ts"),
    }
    _run(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", SOURCE.format(size="176x144", rate=10, seconds=4),
         "-f", "lavfi", "-i", "color=c=red:size=96x64:rate=5:duration=4", "-map", "0", "-map", "1", *h264,
         "-disposition:v:0", "0", "-disposition:v:1", "default", str(folder / "two_tracks.mkv"))
    fixtures["two_tracks.mkv"] = folder / "two_tracks.mkv"
    for degrees in (90, 180, 270):
        name = f"rotated_{degrees}.mp4"
        fixtures[name] = _with_rotation(anamorphic, folder / name, degrees)
    return fixtures
