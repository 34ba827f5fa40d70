"""`pipelines.embedded_batches` (kept for scripts and docs): the job is `pipelines.train.embedded_batches`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.embedded_batches")
