"""Where a video's text comes from: a subtitle file (given, or found beside the video) or a subtitle stream
inside the container.

`read_subtitle_file` parses `.srt`, `.vtt`, `.ass`, `.ssa` (pysubs2) after finding the file's encoding
(UTF-8 or UTF-16 with a byte-order mark, then common legacy encodings); `find_sidecar` looks for
`<video>.srt`, `<video>.en.vtt` and the like; `read_subtitle_stream` reads a text subtitle stream with PyAV
(MKV SRT/ASS, MP4 mov_text, WebVTT in WebM). Each returns raw cues on its own clock; `segments.build_timeline`
puts them on the frames' clock. Bad input raises `SubtitleError` with a message saying what to do. Nothing
here embeds, searches or transcribes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from agentime.errors import SubtitleError
from agentime.speech.segments import RawCue

SUBTITLE_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa")
# Tried in order after UTF-8: Western and Central European, Cyrillic, Chinese, Japanese Windows code pages.
LEGACY_ENCODINGS = ("cp1252", "cp1250", "cp1251", "gb18030", "shift_jis")
TEXT_CODECS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
UNTIMED_CUE_SECONDS = 3.0  # a stream packet without a duration is shown about this long
MAX_SUBTITLE_BYTES = 50 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TIMING_LINE = re.compile(r"-->")


@dataclass(frozen=True)
class SubtitleText:
    """Cues read from one source, with where they came from and what was skipped while reading."""

    cues: list[RawCue]
    source: str
    language: str | None
    skipped: list[str]


def decode_subtitle_bytes(data: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """The text of a subtitle file and the encoding that read it: `encoding` if given, else UTF-8 (a BOM
    also selects UTF-16), else the first legacy encoding that decodes it into text without control bytes."""
    if not data.strip():
        raise SubtitleError(f"{name} is empty; give a subtitle file with cues or leave it out")
    if encoding:
        candidates = (encoding,)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8-sig", *LEGACY_ENCODINGS)
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        if not _CONTROL.search(text):
            return text, candidate
    tried = ", ".join(candidates)
    raise SubtitleError(f"{name} is not text in {tried}; convert it to UTF-8"
                        + ("" if encoding else " or name its encoding (--subtitle-encoding)"))


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUBTITLE_SUFFIXES:
        raise SubtitleError(f"{path.name}: unsupported subtitle format {suffix or '(none)'}; use "
                            + ", ".join(SUBTITLE_SUFFIXES))
    return suffix[1:]


def _split_malformed(text: str) -> tuple[str, bool]:
    """pysubs2 keeps a cue whose timing line it cannot read as text of the cue before; cut it off there."""
    lines = text.split("\\N")
    for i, line in enumerate(lines):
        if _TIMING_LINE.search(line):
            keep = lines[:i]
            if keep and keep[-1].strip().isdigit():  # the malformed cue's own index line
                keep = keep[:-1]
            while keep and not keep[-1].strip():
                keep = keep[:-1]
            return "\\N".join(keep), True
    return text, False


def read_subtitle_file(path: str | os.PathLike, *, encoding: str | None = None) -> SubtitleText:
    """Raw cues of a `.srt`, `.vtt`, `.ass` or `.ssa` file, or of a LongVideoBench subtitle `.json` (times in
    seconds as written)."""
    import pysubs2

    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else _format_of(path)
    if not path.is_file():
        raise SubtitleError(f"subtitle file {path} does not exist; check the path")
    if path.stat().st_size > MAX_SUBTITLE_BYTES:
        raise SubtitleError(f"{path.name} is over {MAX_SUBTITLE_BYTES // 2**20} MB; that is not a subtitle file")
    text, used = decode_subtitle_bytes(path.read_bytes(), path.name, encoding)
    if fmt == "json":
        return SubtitleText(_json_cues(text, path.name), f"file:{path}", _language_of(path), [])
    try:
        parsed = pysubs2.SSAFile.from_string(text, format_=fmt)
    except (pysubs2.Pysubs2Error, ValueError, KeyError, IndexError) as exc:
        raise SubtitleError(f"{path.name} is not a readable {fmt.upper()} file ({exc}); check its format") from exc
    cues, malformed = [], 0
    for event in parsed:
        if event.is_comment:
            continue
        body, cut = _split_malformed(event.text)
        malformed += cut
        cues.append(RawCue(event.start / 1000.0, event.end / 1000.0, body))
    if not cues:
        raise SubtitleError(f"{path.name} holds no {fmt.upper()} cues; check that it is a subtitle file")
    skipped = [f"{malformed} cue(s) with unreadable timing lines"] if malformed else []
    if used not in ("utf-8-sig", "utf-16"):
        skipped.append(f"read as {used} (not UTF-8)")
    return SubtitleText(cues, f"file:{path}", _language_of(path), skipped)


def _clock_seconds(value, name: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    hours, minutes, seconds = str(value).replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _json_cues(text: str, name: str) -> list[RawCue]:
    """LongVideoBench's subtitle JSON: a list of `{"start": "HH:MM:SS.mmm", "end": ..., "line": ...}` or of
    `{"timestamp": [start, end], "text": ...}` (an end of null runs to the end of the video)."""
    import json

    try:
        records = json.loads(text)
        if not isinstance(records, list):
            raise ValueError("not a list of cues")
        cues = []
        for record in records:
            if "timestamp" in record:
                start, end = record["timestamp"]
                cues.append(RawCue(float(start), float(end) if end is not None else 1e8, str(record["text"])))
            else:
                cues.append(RawCue(_clock_seconds(record["start"], name), _clock_seconds(record["end"], name),
                                   str(record["line"])))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SubtitleError(f"{name} is not a subtitle JSON file (a list of start/end/line or timestamp/text "
                            f"records): {exc}") from exc
    if not cues:
        raise SubtitleError(f"{name} holds no cues; check that it is a subtitle file")
    return cues


def _language_of(path: Path) -> str | None:
    """`film.en.srt` -> `en`; None when the name carries no language part."""
    parts = path.name.split(".")
    return parts[-2].lower() if len(parts) >= 3 and 2 <= len(parts[-2]) <= 8 else None


def language_matches(wanted: str | None, found: str | None) -> bool:
    """Whether a language tag matches the one asked for (`en` matches `eng`, `en-US`, `english`)."""
    if not wanted:
        return True
    if not found:
        return False
    wanted, found = wanted.lower(), found.lower()
    return found == wanted or found.startswith(wanted[:2]) and wanted.startswith(found[:2])


def find_sidecar(video: str | os.PathLike, language: str | None = None) -> Path | None:
    """A subtitle file beside the video named after it (`clip.srt`, `clip.en.vtt`): with `language`, the one
    tagged with it; without, the untagged one first, else the first in name order."""
    video = Path(video)
    try:
        siblings = sorted(p for p in video.parent.iterdir()
                          if p.suffix.lower() in SUBTITLE_SUFFIXES and p.is_file()
                          and (p.stem == video.stem or p.stem.startswith(video.stem + ".")))
    except OSError:
        return None
    if language:
        tagged = [p for p in siblings if language_matches(language, _language_of(p) if p.stem != video.stem else None)]
        return tagged[0] if tagged else None
    untagged = [p for p in siblings if p.stem == video.stem]
    return (untagged or siblings or [None])[0]


def _stream_language(stream) -> str | None:
    language = (stream.metadata or {}).get("language")
    return None if not language or language == "und" else language


def read_subtitle_stream(video: str | os.PathLike, language: str | None = None) -> SubtitleText | None:
    """Raw cues of the container's text subtitle stream (the first in `language` when given), times in seconds
    of the container's clock; None when the container has no text subtitle stream."""
    import av

    try:
        container = av.open(os.fspath(video))
    except (av.error.FFmpegError, OSError) as exc:
        raise SubtitleError(f"cannot open {Path(video).name} to read its subtitles ({exc})") from exc
    with container:
        streams = list(container.streams.subtitles)
        text_streams = [s for s in streams if s.codec_context.name in TEXT_CODECS]
        wanted = [s for s in text_streams if language_matches(language, _stream_language(s))]
        if not wanted:
            if streams and not text_streams:
                raise SubtitleError(f"{Path(video).name} has only picture-based subtitles "
                                    f"({', '.join(s.codec_context.name for s in streams)}); give a text subtitle file")
            return None
        stream = wanted[0]
        cues = _demux_cues(container, stream, Path(video).name)
        # described while the container is open: a closed stream's fields are no longer valid
        others = [_describe(s) for s in streams if s is not stream]
        source, language = f"stream:{stream.index} ({_describe(stream)})", _stream_language(stream)
    skipped = [f"other subtitle streams: {', '.join(others)}"] if others else []
    return SubtitleText(cues, source, language, skipped)


def _describe(stream) -> str:
    return f"{_stream_language(stream) or 'und'}, {stream.codec_context.name}"


def _demux_cues(container, stream, name: str) -> list[RawCue]:
    import av

    base = stream.time_base
    cues: list[RawCue] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            start = float(packet.pts * base)
            end = start + (float(packet.duration * base) if packet.duration else UNTIMED_CUE_SECONDS)
            for subtitle in packet.decode():
                for text in _subtitle_texts(subtitle):
                    cues.append(RawCue(start, end, text))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise SubtitleError(f"the subtitle stream {stream.index} of {name} cannot be decoded ({exc}); "
                            "give a subtitle file instead") from exc
    return cues


def _subtitle_texts(subtitle) -> list[str]:
    """Text of one decoded subtitle (PyAV yields a set of rects or a single ASS subtitle, by version)."""
    items = subtitle if hasattr(subtitle, "__iter__") else [subtitle]
    texts = []
    for item in items:
        dialogue = getattr(item, "dialogue", None)
        raw = dialogue if dialogue is not None else getattr(item, "text", b"")
        texts.append(raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw))
    return texts
