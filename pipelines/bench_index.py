"""`pipelines.bench_index` (kept for scripts and docs): the job is `pipelines.bench.index`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.index")
