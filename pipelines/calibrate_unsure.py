"""`pipelines.calibrate_unsure` (kept for scripts and docs): the job is `pipelines.train.calibrate_unsure`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.calibrate_unsure")
