"""`pipelines.bench_library` (kept for scripts and docs): the job is `pipelines.bench.library`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.library")
