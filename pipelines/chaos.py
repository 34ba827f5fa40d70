"""`pipelines.chaos` (kept for scripts and docs): the job is `pipelines.robustness.chaos`."""

from pipelines._moved import moved

moved(__name__, "pipelines.robustness.chaos")
