"""`pipelines.eval_embedded` (kept for scripts and docs): the job is `pipelines.bench.eval_embedded`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.eval_embedded")
