"""`pipelines.chaos_attacks` (kept for scripts and docs): the job is `pipelines.robustness.attacks`."""

from pipelines._moved import moved

moved(__name__, "pipelines.robustness.attacks")
