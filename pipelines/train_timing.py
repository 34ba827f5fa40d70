"""`pipelines.train_timing` (kept for scripts and docs): the job is `pipelines.train.timing`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.timing")
