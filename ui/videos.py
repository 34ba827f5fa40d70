"""Which videos the UI may open, and how the browser gets to play them.

Uploads within the size limit, paths under the allowed folders (absolute, or relative to one of them), and a
listing of the allowed folders' videos. A path is checked on its resolved form (symlinks and `..` followed)
before the file is touched, so nothing outside the folders is read. A video is accepted only once a frame of
it decodes; when browsers cannot play its codec or container, a small H.264 preview is made for the player
(the analysis still reads the original). Stream URLs are recorded by `ui.recordings`, not here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agentime.errors import ConfigError, NoDecodableFramesError

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".mpg",
                  ".mpeg", ".3gp", ".ogv")
MAX_PATH_CHARS = 1024
MAX_LISTED = 500
# What browsers play in a <video> element: H.264/VP8/VP9/AV1 in MP4 or WebM.
BROWSER_CODECS = {"h264", "vp8", "vp9", "av1"}
BROWSER_CONTAINERS = {".mp4", ".m4v", ".webm", ".mov"}
PREVIEW_HEIGHT = 360
FULL_PREVIEW_SECONDS = 600  # longer videos get a keyframe-only preview


def check_upload(path: str | Path, max_upload_mb: float) -> Path:
    """An uploaded file that is a readable video within the size limit, one of whose frames decodes."""
    p = check_size(path, max_upload_mb)
    check_decodes(p)
    return p


def check_size(path: str | Path, max_upload_mb: float) -> Path:
    """An uploaded file within the size limit (not yet read)."""
    p = Path(path)
    size_mb = p.stat().st_size / 1e6
    if size_mb > max_upload_mb:
        raise ConfigError(f"the upload is {size_mb:.1f} MB; this server accepts videos up to {max_upload_mb:g} MB")
    return p


def check_decodes(path: Path):
    """The video's description, once a frame from its middle decodes the way the search samples it (a frame
    at the start alone is no proof: some files open and then fail everywhere else)."""
    from agentime.video.sampling import sample_frames
    from agentime.video.source import open_video

    source = open_video(path, allow_truncated=True)
    duration = source.info.duration
    start = max(0.0, duration / 2 - 1.0)
    frames = sample_frames(source, fps=1.0, start=start, end=min(duration, start + 2.0), max_side=64)
    if next(iter(frames), None) is None:
        raise NoDecodableFramesError(f"{path.name}: no frame of this video can be decoded")
    return source


def inside(path: Path, folders) -> bool:
    return any(path == f or path.is_relative_to(f) for f in folders)


def resolve_path(text: str, allowed_dirs, *, kind: str = "video") -> Path:
    """A path typed by the user, if it lies under an allowed folder; refused otherwise, before any read.

    A relative path is looked up in each allowed folder in turn (the first where it exists wins).
    """
    text = (text or "").strip()
    if not text:
        raise ConfigError(f"type the path of a {kind} on the server, or upload one")
    if "\x00" in text:
        raise ConfigError("the path contains a NUL character; type the path again")
    if len(text) > MAX_PATH_CHARS:
        raise ConfigError(f"the path is {len(text)} characters long; paths up to {MAX_PATH_CHARS} are accepted")
    if _URL.match(text):
        raise ConfigError(f"{text.split('://')[0]}:// addresses cannot be opened as a path; give a path under "
                          "the allowed folders")
    if not allowed_dirs:
        raise ConfigError("opening files by path is off on this server (start it with --allowed-dir FOLDER)")
    candidates = [Path(text).expanduser()] if Path(text).expanduser().is_absolute() else \
        [Path(d) / text for d in allowed_dirs]
    resolved = None
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
            if inside(resolved, allowed_dirs) and resolved.exists():
                return resolved
        except (OSError, RuntimeError) as exc:  # a symlink loop, or a name the file system refuses
            reason = getattr(exc, "strerror", None) or "the file system refuses it"
            raise ConfigError(f"{shown(text)} cannot be read ({reason}); check the path") from None
    if resolved is not None and inside(resolved, allowed_dirs):
        return resolved  # inside, but missing: the video layer says so with the path
    raise ConfigError(f"{shown(text)} is outside the folders this server may read "
                      f"({', '.join(str(d) for d in allowed_dirs)}); refused")


def shown(text: str, limit: int = 120) -> str:
    """A typed path as messages show it: long ones shortened in the middle."""
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[-limit // 2:]}"


def list_videos(allowed_dirs) -> list[tuple[str, str]]:
    """(label, absolute path) of the videos under the allowed folders, sorted, at most MAX_LISTED."""
    found: list[tuple[str, str]] = []
    for folder in allowed_dirs:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.lower().endswith(VIDEO_SUFFIXES) and not name.startswith("."):
                    path = Path(root) / name
                    label = str(path.relative_to(folder)) if len(allowed_dirs) == 1 else \
                        f"{folder.name}/{path.relative_to(folder)}"
                    found.append((label, str(path)))
                    if len(found) >= MAX_LISTED:
                        return found
    return found


def needs_preview(path: Path, codec: str) -> bool:
    return codec not in BROWSER_CODECS or path.suffix.lower() not in BROWSER_CONTAINERS


def make_preview(path: Path, out_dir: Path, max_frames_per_second: float = 10.0, *, keyframes_only: bool = False,
                 end: float | None = None) -> Path:
    """A small H.264 MP4 of `path` for the browser's player, with the times the analysis uses (seeking matches).

    `keyframes_only` decodes only keyframes (a slideshow, but fast): for long videos, where decoding every frame
    would keep the visitor waiting for minutes. `end` (the video's duration) holds the last picture until then,
    so the player can seek as far as the analysis reaches."""
    from fractions import Fraction

    import av

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.preview.mp4"
    partial = out.with_suffix(".partial.mp4")
    with av.open(str(path)) as source, av.open(str(partial), "w", format="mp4",
                                                 options={"movflags": "+faststart"}) as sink:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        base = float(stream.start_time * stream.time_base) if stream.start_time else 0.0  # as the sampler counts
        encoder, last = None, None
        for frame in source.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base) - base
            if t < 0:
                continue
            if last is not None and t - last < 1.0 / max_frames_per_second - 1e-3:
                continue
            last = t
            if encoder is None:
                height = min(PREVIEW_HEIGHT, frame.height) // 2 * 2
                width = max(2, round(frame.width * height / frame.height) // 2 * 2)
                encoder = sink.add_stream("libx264", rate=int(max_frames_per_second))
                encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
                encoder.time_base = Fraction(1, 1000)
                encoder.options = {"preset": "veryfast", "crf": "30"}
            image = frame.reformat(width=encoder.width, height=encoder.height, format="yuv420p")
            image.pts, image.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in encoder.encode(image):
                sink.mux(packet)
        if encoder is None:
            raise NoDecodableFramesError(f"{path.name}: no frame of this video can be decoded")
        if end is not None and end - last > 1.0 / max_frames_per_second:
            image.pts, image.time_base = int(round(end * 1000)) - 1, Fraction(1, 1000)
            for packet in encoder.encode(image):
                sink.mux(packet)
        for packet in encoder.encode():
            sink.mux(packet)
    os.replace(partial, out)
    return out
