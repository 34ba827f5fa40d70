"""`pipelines.evaluate` (kept for scripts and docs): the job is `pipelines.bench.evaluate`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.evaluate")
