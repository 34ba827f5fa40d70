"""`pipelines.chaos_fuzz` (kept for scripts and docs): the job is `pipelines.robustness.fuzz`."""

from pipelines._moved import moved

moved(__name__, "pipelines.robustness.fuzz")
