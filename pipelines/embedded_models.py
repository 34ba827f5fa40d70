"""`pipelines.embedded_models` (kept for scripts and docs): the job is `pipelines.train.embedded_models`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.embedded_models")
