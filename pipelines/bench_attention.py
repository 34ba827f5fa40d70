"""`pipelines.bench_attention` (kept for scripts and docs): the job is `pipelines.bench.attention`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.attention")
