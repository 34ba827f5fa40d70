"""`pipelines.bench_vlm` (kept for scripts and docs): the job is `pipelines.bench.vlm`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.vlm")
