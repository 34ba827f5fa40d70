"""`pipelines.train_embedded` (kept for scripts and docs): the job is `pipelines.train.embedded`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.embedded")
