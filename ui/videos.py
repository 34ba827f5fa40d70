"""Which videos the UI may open: uploads within the size limit, paths under the allowed folders, live files.

A path is checked against the allowed folders on its resolved form (symlinks and `..` followed) before the
file is touched, so nothing outside them is read. Anything accepted is then opened with the video layer,
whose errors say what is wrong with the file. Stream URLs are recorded into a file first (see `callbacks`).
"""

from __future__ import annotations

import re
from pathlib import Path

from agentime.errors import ConfigError

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def check_upload(path: str | Path, max_upload_mb: float) -> Path:
    """An uploaded file that is a readable video within the size limit."""
    from agentime.video.source import open_video

    p = Path(path)
    size_mb = p.stat().st_size / 1e6
    if size_mb > max_upload_mb:
        raise ConfigError(f"the upload is {size_mb:.1f} MB; this server accepts videos up to {max_upload_mb:g} MB")
    open_video(p, allow_truncated=True)
    return p


def inside(path: Path, folders) -> bool:
    return any(path == f or path.is_relative_to(f) for f in folders)


def resolve_path(text: str, allowed_dirs, *, kind: str = "video") -> Path:
    """A path typed by the user, if it lies under an allowed folder; refused otherwise, before any read."""
    text = (text or "").strip()
    if not text:
        raise ConfigError(f"type the path of a {kind} on the server, or upload one")
    if _URL.match(text):
        raise ConfigError(f"{text.split('://')[0]}:// URLs are not supported; give a stream URL (rtsp, rtmp, "
                          "http(s), udp, srt), which is recorded and followed live, or a path")
    if not allowed_dirs:
        raise ConfigError("opening files by path is off on this server (start it with --allowed-dir FOLDER)")
    resolved = Path(text).expanduser().resolve()
    if not inside(resolved, allowed_dirs):
        raise ConfigError(f"{text} is outside the folders this server may read "
                          f"({', '.join(str(d) for d in allowed_dirs)}); refused")
    return resolved


def open_path(text: str, allowed_dirs) -> Path:
    from agentime.video.source import open_video

    path = resolve_path(text, allowed_dirs)
    open_video(path, allow_truncated=True)
    return path
