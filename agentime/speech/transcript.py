"""A video's transcript from the first text source that works: a subtitle file (given, else beside the
video), a subtitle stream inside the container, else speech recognition when asked for.

`load_transcript` tries the sources in that order; a source that fails is noted (its one-line reason) and
the next one is tried, so a bad subtitle file never costs the answer. Cues of a file are on the playback
clock (0 = the first frame shown), cues of a stream on the container's clock (the video's start offset is
subtracted); both end up on the frames' clock. Stream and ASR transcripts are stored in the video's cache
folder (`transcript_<source>.json`, atomic) so a second question does not read the container again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from agentime.errors import SpeechError
from agentime.speech.segments import SpeechSegment, Transcript, build_timeline
from agentime.speech.settings import SpeechConfig
from agentime.speech.sources import SubtitleText, find_sidecar, read_subtitle_file, read_subtitle_stream
from agentime.video.cache import atomic_write_json

TRANSCRIPT_FORMAT = 1


def _from_text(text: SubtitleText, *, duration: float, offset: float) -> Transcript:
    segments, skipped = build_timeline(text.cues, duration=duration, offset=offset)
    if not segments:
        raise SpeechError(f"{text.source}: no cue lies inside the video's {duration:.1f} s"
                          + (f" ({'; '.join(skipped)})" if skipped else ""))
    return Transcript(segments, text.source, text.language, [*text.skipped, *skipped])


def _cached(folder: Path | None, name: str, duration: float) -> Transcript | None:
    """The stored transcript, unless damaged, of another format, or read when the video was shorter (a growing
    recording's stream has new cues since)."""
    path = folder / f"transcript_{name}.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != TRANSCRIPT_FORMAT or float(data.get("duration", 0.0)) < duration - 0.5:
            return None
        segments = [SpeechSegment(float(s["start"]), float(s["end"]), str(s["text"])) for s in data["segments"]]
        return Transcript(segments, str(data["source"]), data.get("language"), list(data.get("skipped", [])))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged: read the source again


def _store(folder: Path | None, name: str, transcript: Transcript, duration: float) -> None:
    if folder is not None:
        atomic_write_json(folder / f"transcript_{name}.json",
                          {"format": TRANSCRIPT_FORMAT, "duration": duration, "source": transcript.source,
                           "language": transcript.language,
                           "skipped": transcript.skipped, "segments": [asdict(s) for s in transcript.segments]})


def load_transcript(video: str | Path, *, duration: float, start_offset: float, settings: SpeechConfig,
                    cache_folder: str | Path | None = None, audio=None) -> tuple[Transcript | None, list[str]]:
    """The transcript of the first source that works, and one note per source that failed (in order)."""
    if not settings.enabled:
        return None, []
    folder = Path(cache_folder) if cache_folder is not None else None
    failures: list[str] = []
    file = settings.subtitles or (find_sidecar(video, settings.language) if settings.sidecar else None)
    if file is not None:
        try:
            text = read_subtitle_file(file, encoding=settings.encoding)
            return _from_text(text, duration=duration, offset=settings.offset), failures
        except SpeechError as exc:
            failures.append(str(exc))
    if settings.streams:
        name = "stream_" + _digest(settings.language or "")
        transcript = _cached(folder, name, duration)
        if transcript is not None:
            return transcript, failures
        try:
            text = read_subtitle_stream(video, settings.language)
            if text is not None:
                transcript = _from_text(text, duration=duration, offset=start_offset)
                _store(folder, name, transcript, duration)
                return transcript, failures
        except SpeechError as exc:
            failures.append(str(exc))
    if settings.asr:
        from agentime.speech.asr import transcribe_video

        try:
            transcript = transcribe_video(video, settings.asr, duration=duration, start_offset=start_offset,
                                          cache_folder=folder, language=settings.language)
            return transcript, failures
        except SpeechError as exc:
            failures.append(str(exc))
    return None, failures


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
