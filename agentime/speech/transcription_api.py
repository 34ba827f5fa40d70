"""The `/v1/audio/transcriptions` endpoint of agentime's OpenAI-compatible server, for a local Whisper folder.

`add_transcription_route(app, recognizer, ...)` adds the route to the server's FastAPI app: a multipart
upload (`file`, `model`, optional `language`, `response_format` of json, verbose_json or text), any audio
PyAV decodes, answered with OpenAI's response shapes (verbose_json carries segments with start and end
seconds). Requests without a length or over `max_bytes` are refused before reading; the model runs one
request at a time, off the event loop. The route knows nothing about videos or search.
"""

from __future__ import annotations

import asyncio
import io
import threading

from fastapi import Request
from fastapi.responses import PlainTextResponse

from agentime.errors import TranscriptionError
from agentime.speech.asr import SAMPLE_RATE, decode_audio
from agentime.speech.segments import clean_text

FORMATS = ("json", "verbose_json", "text")


def transcribe_audio(recognizer, data: bytes, language: str | None) -> tuple[list[dict], float]:
    """Segments (start, end, text) of an uploaded audio file, and its length in seconds."""
    segments, length = [], 0.0
    for chunk_start, samples in decode_audio(io.BytesIO(data), name="the uploaded audio"):
        for cue in recognizer.transcribe(samples, language):
            text = clean_text(cue.text)
            if text:
                segments.append({"id": len(segments), "start": round(chunk_start + cue.start, 3),
                                 "end": round(chunk_start + cue.end, 3), "text": text})
        length = chunk_start + samples.size / SAMPLE_RATE
    return segments, length


def add_transcription_route(app, recognizer, *, model_name: str, max_bytes: int, error_response) -> None:
    lock = threading.Lock()  # one transcription at a time: the model is not shared between threads

    def run(data: bytes, language: str | None):
        with lock:
            return transcribe_audio(recognizer, data, language)

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return error_response(411, "send the upload with a Content-Length", "length_required")
        if int(length) > max_bytes:
            return error_response(413, f"the upload is over {max_bytes // 2**20} MB; send shorter audio chunks",
                                  "request_too_large")
        try:
            form = await request.form(max_files=1, max_fields=16)
        except Exception:  # noqa: BLE001 - any malformed multipart body is the client's error
            return error_response(400, "send multipart/form-data with a file field", "invalid_request_error")
        upload = form.get("file")
        fmt = str(form.get("response_format") or "json")
        if upload is None or not hasattr(upload, "read"):
            return error_response(400, "the file field with the audio is missing", "invalid_request_error", "file")
        if fmt not in FORMATS:
            return error_response(400, f"response_format must be one of {', '.join(FORMATS)}",
                                  "invalid_request_error", "response_format")
        language = str(form.get("language") or "") or None
        data = await upload.read()
        try:
            segments, seconds = await asyncio.to_thread(run, data, language)
        except TranscriptionError as exc:
            return error_response(400, str(exc), "invalid_audio")
        text = " ".join(s["text"] for s in segments)
        if fmt == "text":
            return PlainTextResponse(text)
        if fmt == "json":
            return {"text": text}
        return {"task": "transcribe", "language": language or "", "duration": round(seconds, 3), "text": text,
                "segments": segments, "model": model_name}
