"""Speech recognition plumbing with a tiny random Whisper built offline: chunks with timestamps on the frames'
clock, the transcript cache, resumption after a kill, the project's server exposing
/v1/audio/transcriptions for that model, and clear failures (no audio, a spec that does not load)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from tiny_whisper import build_tiny_whisper

from agentime.errors import ConfigError, TranscriptionError
from agentime.speech.asr import CHUNK_SECONDS, HFRecognizer, transcribe_video
from agentime.speech.settings import SpeechConfig
from agentime.speech.transcript import load_transcript


def _ffmpeg(*args) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed (make browser installs it)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    return HFRecognizer(str(build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-whisper")), max_new_tokens=12)


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory):
    """70 s of video with a tone, starting at 3 s on the container's clock (three 30-s chunks of audio)."""
    path = tmp_path_factory.mktemp("asr") / "talk.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=70:size=64x48:rate=2", "-f", "lavfi", "-i",
            "sine=frequency=300:duration=70", "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset", "3", path)
    return path


class Counting:
    def __init__(self, inner):
        self.inner, self.calls, self.name = inner, 0, inner.name

    def transcribe(self, samples, language=None):
        self.calls += 1
        return self.inner.transcribe(samples, language)


def test_chunks_timestamps_and_cache(whisper, talking_video, tmp_path):
    counting = Counting(whisper)
    transcript = transcribe_video(talking_video, "hf:tiny", duration=70.0, start_offset=3.0, cache_folder=tmp_path,
                                  recognizer=counting)
    assert counting.calls == 3  # 30 + 30 + 10 s
    progress = json.loads(next(tmp_path.glob("asr_*.json")).read_text())
    assert progress["complete"] and progress["done_until"] == pytest.approx(73.0, abs=0.2)
    starts = [c[0] for c in progress["cues"]]
    assert starts and min(starts) >= 3.0 - 1e-3 and max(c[1] for c in progress["cues"]) <= 73.0 + 0.2
    assert transcript.source == "asr:hf:tiny"
    assert all(0.0 <= s.start < s.end <= 70.0 for s in transcript.segments)
    again = Counting(whisper)
    cached = transcribe_video(talking_video, "hf:tiny", duration=70.0, start_offset=3.0, cache_folder=tmp_path,
                              recognizer=again)
    assert again.calls == 0 and cached.segments == transcript.segments


def test_a_killed_transcription_resumes_after_its_last_chunk(whisper, talking_video, tmp_path):
    def stop_after_first(done_until):
        raise KeyboardInterrupt

    first = Counting(whisper)
    with pytest.raises(KeyboardInterrupt):
        transcribe_video(talking_video, "hf:tiny", duration=70.0, start_offset=3.0, cache_folder=tmp_path,
                         recognizer=first, on_chunk=stop_after_first)
    progress = json.loads(next(tmp_path.glob("asr_*.json")).read_text())
    assert first.calls == 1 and not progress["complete"]
    assert progress["done_until"] == pytest.approx(3.0 + CHUNK_SECONDS, abs=0.1)
    kept = list(map(tuple, progress["cues"]))
    second = Counting(whisper)
    transcribe_video(talking_video, "hf:tiny", duration=70.0, start_offset=3.0, cache_folder=tmp_path,
                     recognizer=second)
    final = json.loads(next(tmp_path.glob("asr_*.json")).read_text())
    assert second.calls == 2 and final["complete"]
    assert list(map(tuple, final["cues"]))[: len(kept)] == kept
    assert all(c[0] >= 3.0 + CHUNK_SECONDS - 0.1 for c in final["cues"][len(kept):])


def test_served_transcriptions_for_the_same_model(whisper, talking_video, tmp_path):
    from agentime.speech.asr import OpenAIRecognizer, wav_bytes
    from agentime.vlm.registry import load_vlm
    from agentime.vlm.server import serve_in_thread

    server = serve_in_thread(load_vlm("embedded:target"), recognizer=whisper)
    try:
        import httpx

        tone = __import__("numpy").sin(__import__("numpy").arange(16000 * 4) / 10.0).astype("float32") * 0.3
        reply = httpx.post(f"{server.base_url}/audio/transcriptions", timeout=60,
                           files={"file": ("a.wav", wav_bytes(tone), "audio/wav")},
                           data={"model": "tiny", "response_format": "verbose_json"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["duration"] == pytest.approx(4.0, abs=0.05)
        assert all(0 <= s["start"] <= s["end"] <= 4.0 + 1e-3 for s in body["segments"])
        bad = httpx.post(f"{server.base_url}/audio/transcriptions", timeout=60,
                         files={"file": ("a.wav", b"not audio at all", "audio/wav")}, data={"model": "tiny"})
        assert bad.status_code == 400 and "cannot" in bad.json()["error"]["message"]
        missing = httpx.post(f"{server.base_url}/audio/transcriptions", timeout=60, data={"model": "tiny"})
        assert missing.status_code == 400
        client = Counting(OpenAIRecognizer(server.base_url, "tiny"))
        spec = f"openai:{server.base_url}#tiny"
        transcript = transcribe_video(talking_video, spec, duration=70.0, start_offset=3.0, cache_folder=tmp_path,
                                      recognizer=client)
        assert client.calls == 3 and transcript.source == f"asr:{spec}"
        assert all(0.0 <= s.start < s.end <= 70.0 for s in transcript.segments)
    finally:
        server.stop()


def test_no_audio_and_bad_specs_fail_clearly(tmp_path):
    silent = tmp_path / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=3:size=64x48:rate=2", "-c:v", "libx264", silent)
    with pytest.raises(TranscriptionError, match="has no audio track"):
        transcribe_video(silent, "hf:x", duration=3.0, start_offset=0.0, recognizer=object())
    transcript, failures = load_transcript(silent, duration=3.0, start_offset=0.0, cache_folder=tmp_path,
                                           settings=SpeechConfig(asr=f"hf:{tmp_path / 'nowhere'}"))
    assert transcript is None and "no speech recognition model at" in failures[0]
    with pytest.raises(TranscriptionError, match="bad ASR spec"):
        transcribe_video(silent, "openai:localhost#", duration=3.0, start_offset=0.0)
    with pytest.raises(ConfigError, match="unknown ASR spec"):
        SpeechConfig(asr="whisper-large")
