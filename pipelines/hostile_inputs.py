"""`pipelines.hostile_inputs` (kept for scripts and docs): the job is `pipelines.robustness.hostile_inputs`."""

from pipelines._moved import moved

moved(__name__, "pipelines.robustness.hostile_inputs")
