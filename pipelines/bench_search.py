"""`pipelines.bench_search` (kept for scripts and docs): the job is `pipelines.bench.search`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.search")
