"""Finding an annotation's video inside the videos folder, in the layouts benchmarks download to.

An annotation names a video by a relative path (`LongVideoBench`'s `video_path`), a file name, or an id
(a YouTube id, an EgoSchema `q_uid`). Downloads put it at `<id>.mp4`, in sub-folders (Video-MME's `data/`),
under yt-dlp names (`Title [<id>].mp4`), or, for LVBench's video2dataset script, at `00000/00000000.mp4` with a
JSON sidecar whose `url` holds the YouTube id. `VideoFolder` indexes the folder once and resolves a name to
one file; it never looks outside the folder: a name that points outside (an absolute path elsewhere, `..`)
is refused with `OutsideVideosError`, and only regular files inside the folder are returned.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from agentime.eval.items import AnnotationError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".ps", ".flv", ".3gp")
SIDECAR_BYTES = 64 * 1024  # video2dataset sidecars are a few hundred bytes; larger JSON is not one
_YOUTUBE_ID = re.compile(r"(?:[?&]v=|youtu\.be/|/shorts/|/embed/)([A-Za-z0-9_-]{11})")
_BRACKETED_ID = re.compile(r"\[([A-Za-z0-9_-]{6,})\]$")


class OutsideVideosError(AnnotationError):
    """An annotation names a video outside the videos folder."""


def _inside(folder: Path, path: Path) -> bool:
    """Lexically inside (symbolic links within the folder stay usable; `..` and absolute paths do not)."""
    return os.path.normpath(path).startswith(os.path.normpath(folder) + os.sep)


def _sidecar_id(video: Path) -> str | None:
    """The YouTube id in a video2dataset sidecar (`00000000.json` beside `00000000.mp4`), if any."""
    sidecar = video.with_suffix(".json")
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > SIDECAR_BYTES:
            return None
        data = json.loads(sidecar.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    match = _YOUTUBE_ID.search(url) if isinstance(url, str) else None
    return match.group(1) if match else None


class VideoFolder:
    """The videos folder of a run, indexed once by every name a video may be known by."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._by_name: dict[str, list[Path]] = {}
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                if path.suffix.lower() not in VIDEO_SUFFIXES or name.startswith("."):
                    continue
                keys = {path.stem}
                bracketed = _BRACKETED_ID.search(path.stem)
                if bracketed:
                    keys.add(bracketed.group(1))
                youtube = _sidecar_id(path)
                if youtube:
                    keys.add(youtube)
                for key in keys:
                    self._by_name.setdefault(key, []).append(path)

    def check(self, name: str) -> None:
        """Refuse a name that points outside the folder."""
        if not _inside(self.folder, self.folder / name):
            raise OutsideVideosError(
                f"the annotations name video {name!r}, which lies outside the videos folder {self.folder}; "
                "give video paths relative to --videos (or move the videos into it)")

    def resolve(self, name: str) -> tuple[Path | None, str]:
        """(the video file, "") or (None, why not): as given, else by its name without suffix, id or sidecar."""
        self.check(name)
        given = self.folder / name
        if given.is_file() and given.suffix.lower() in VIDEO_SUFFIXES:
            return given, ""
        key = Path(name).with_suffix("").name if Path(name).suffix.lower() in VIDEO_SUFFIXES else Path(name).name
        found = self._by_name.get(key, [])
        if len(found) == 1:
            return found[0], ""
        if len(found) > 1:
            shown = ", ".join(str(p.relative_to(self.folder)) for p in found[:3])
            return None, (f"video {name} is ambiguous in {self.folder}: {len(found)} files match ({shown}); "
                          "give its path relative to --videos")
        return None, f"video {name} not found in {self.folder}"
