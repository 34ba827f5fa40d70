"""Speech recognition for videos without subtitles: a local Whisper-family folder or an OpenAI-compatible
`/v1/audio/transcriptions` endpoint, over the audio in chunks, cached and resumable.

Specs: `hf:/path/to/whisper` runs transformers' ASR pipeline in process (with timestamps); `openai:URL#model`
posts each chunk as WAV to `URL/audio/transcriptions` (`verbose_json`, segment timestamps), as whisper.cpp's
server, vLLM, faster-whisper servers and OpenAI answer it. The audio is decoded with PyAV to 16 kHz mono and
cut into CHUNK_SECONDS chunks, one at a time (hours of audio never sit in memory). After each chunk the cues so
far are written atomically to the video's cache folder (`asr_<spec>.json`); a run that is killed resumes
after the last finished chunk. A video without audio, a spec that does not load or a server that fails
raise `TranscriptionError`. Nothing here searches or answers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from agentime.errors import TranscriptionError
from agentime.speech.segments import RawCue, Transcript, build_timeline
from agentime.video.cache import atomic_write_json

SAMPLE_RATE = 16_000
CHUNK_SECONDS = 30.0  # Whisper's window
PROGRESS_FORMAT = 1


class HFRecognizer:
    """A local Whisper-family model through transformers' ASR pipeline (segment timestamps)."""

    def __init__(self, folder: str, max_new_tokens: int = 128):
        path = Path(folder).expanduser()
        if not (path / "config.json").is_file():
            raise TranscriptionError(f"no speech recognition model at {path} (config.json missing); give a Whisper "
                                     "model folder, e.g. --asr hf:/models/whisper-small")
        self.name = f"hf:{path}"
        self.max_new_tokens = max_new_tokens
        try:
            from transformers import pipeline

            self._pipe = pipeline("automatic-speech-recognition", model=str(path), device="cpu")
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise TranscriptionError(f"cannot load the speech recognition model at {path} ({exc})") from exc

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> list[RawCue]:
        kwargs = {"max_new_tokens": self.max_new_tokens, "task": "transcribe"}
        if language:
            kwargs["language"] = language
        try:
            out = self._pipe({"raw": samples, "sampling_rate": SAMPLE_RATE}, return_timestamps=True,
                             generate_kwargs=kwargs)
        except (RuntimeError, ValueError, KeyError, IndexError) as exc:
            raise TranscriptionError(f"speech recognition failed ({exc})") from exc
        length = len(samples) / SAMPLE_RATE
        cues = []
        for chunk in out.get("chunks") or [{"timestamp": (0.0, length), "text": out.get("text", "")}]:
            start, end = chunk.get("timestamp") or (0.0, length)
            start = min(float(start or 0.0), length)
            end = min(float(end if end is not None else length), length)
            cues.append(RawCue(start, end if end > start else length, str(chunk.get("text", ""))))
        return cues


class OpenAIRecognizer:
    """Any OpenAI-compatible `/v1/audio/transcriptions` endpoint (`openai:http://host:port/v1#model`)."""

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = 300.0):
        if not url.startswith(("http://", "https://")) or not model:
            raise TranscriptionError(f"bad ASR spec openai:{url}#{model}; use openai:http://host:port/v1#model")
        from openai import OpenAI

        self.name = f"openai:{url}#{model}"
        self.model = model
        self._client = OpenAI(base_url=url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
                              timeout=timeout_s, max_retries=1)

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> list[RawCue]:
        import openai

        extra = {"language": language} if language else {}
        try:
            result = self._client.audio.transcriptions.create(
                model=self.model, file=("chunk.wav", wav_bytes(samples), "audio/wav"),
                response_format="verbose_json", timestamp_granularities=["segment"], **extra)
        except openai.OpenAIError as exc:
            raise TranscriptionError(f"the transcription server failed ({exc})") from exc
        length = len(samples) / SAMPLE_RATE
        segments = getattr(result, "segments", None) or []
        if not segments:
            return [RawCue(0.0, length, getattr(result, "text", "") or "")]
        cues = []
        for s in segments:
            get = s.get if isinstance(s, dict) else (lambda k, _s=s: getattr(_s, k, None))
            start, end = float(get("start") or 0.0), float(get("end") or length)
            cues.append(RawCue(min(start, length), min(end, length), str(get("text") or "")))
        return cues


def load_recognizer(spec: str):
    """The recognizer a spec names (`hf:/path` or `openai:URL#model`)."""
    if spec.startswith("hf:"):
        return HFRecognizer(spec[3:])
    if spec.startswith("openai:"):
        url, _, model = spec[len("openai:"):].partition("#")
        return OpenAIRecognizer(url.rstrip("/"), model)
    raise TranscriptionError(f"unknown ASR spec {spec!r}; use hf:/path/to/whisper or openai:URL#model")


def wav_bytes(samples: np.ndarray) -> bytes:
    """16-bit mono WAV of float samples in [-1, 1]."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def decode_audio(source, *, start_at: float = 0.0, name: str = "the file") -> Iterator[tuple[float, np.ndarray]]:
    """(start time on the container's clock, samples) chunks of CHUNK_SECONDS of 16 kHz mono audio from a path
    or file-like object, from `start_at` seconds on."""
    import av

    try:
        container = av.open(source)
    except (av.error.FFmpegError, OSError) as exc:
        raise TranscriptionError(f"cannot open {name} to read its audio ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise TranscriptionError(f"{name} has no audio track; speech recognition needs sound "
                                     "(leave out --asr, or give subtitles)")
        stream = container.streams.audio[0]
        if start_at > 0 and stream.time_base:
            container.seek(int(start_at / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        size = int(CHUNK_SECONDS * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        held, chunk_start = 0, None
        try:
            for frame in container.decode(stream):
                first = frame.time
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    if chunk_start is None:
                        begin = first if first is not None else start_at
                        if begin < start_at:  # seeking lands before the resume point: drop what is done
                            samples = samples[int((start_at - begin) * SAMPLE_RATE):]
                            begin = start_at
                        chunk_start = begin
                    pending.append(samples)
                    held += samples.size
                    while held >= size:
                        joined = np.concatenate(pending)
                        yield chunk_start, joined[:size]
                        pending, held = [joined[size:]], joined.size - size
                        chunk_start += CHUNK_SECONDS
        except av.error.FFmpegError as exc:
            raise TranscriptionError(f"the audio of {name} cannot be decoded ({exc})") from exc
        if held and chunk_start is not None:
            yield chunk_start, np.concatenate(pending)


def _progress_path(folder: Path, spec: str, language: str | None) -> Path:
    digest = hashlib.sha256(f"{spec}|{language or ''}".encode()).hexdigest()[:16]
    return folder / f"asr_{digest}.json"


def _read_progress(path: Path | None, spec: str) -> dict:
    empty = {"format": PROGRESS_FORMAT, "spec": spec, "done_until": 0.0, "complete": False, "cues": []}
    if path is None or not path.is_file():
        return empty
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != PROGRESS_FORMAT or data.get("spec") != spec:
            return empty
        [RawCue(float(a), float(b), str(t)) for a, b, t in data["cues"]]
        float(data["done_until"])
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return empty  # damaged: start over rather than trust it


def transcribe_video(video: str | Path, spec: str, *, duration: float, start_offset: float,
                     cache_folder: Path | None = None, language: str | None = None, recognizer=None,
                     on_chunk: Callable[[float], None] | None = None) -> Transcript:
    """The video's transcript by speech recognition, resuming from the cache folder's progress file."""
    path = _progress_path(Path(cache_folder), spec, language) if cache_folder is not None else None
    progress = _read_progress(path, spec)
    if not progress["complete"]:
        recognizer = recognizer or load_recognizer(spec)
        for chunk_start, samples in decode_audio(os.fspath(video), start_at=float(progress["done_until"]),
                                                 name=Path(video).name):
            cues = recognizer.transcribe(samples, language)
            progress["cues"] += [[round(chunk_start + c.start, 3), round(chunk_start + c.end, 3), c.text] for c in cues]
            progress["done_until"] = round(chunk_start + samples.size / SAMPLE_RATE, 3)
            if path is not None:
                atomic_write_json(path, progress)
            if on_chunk is not None:
                on_chunk(progress["done_until"])
        progress["complete"] = True
        if path is not None:
            atomic_write_json(path, progress)
    raw = [RawCue(float(a), float(b), str(t)) for a, b, t in progress["cues"]]
    segments, skipped = build_timeline(raw, duration=duration, offset=start_offset)
    return Transcript(segments, f"asr:{spec}", language, skipped)
