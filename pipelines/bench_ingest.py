"""`pipelines.bench_ingest` (kept for scripts and docs): the job is `pipelines.bench.ingest`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.ingest")
