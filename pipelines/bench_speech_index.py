"""`pipelines.bench_speech_index` (kept for scripts and docs): the job is `pipelines.bench.speech_index`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.speech_index")
