"""`pipelines.check_families` (kept for scripts and docs): the job is `pipelines.bench.check_families`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.check_families")
