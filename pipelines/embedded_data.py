"""`pipelines.embedded_data` (kept for scripts and docs): the job is `pipelines.train.embedded_data`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.embedded_data")
