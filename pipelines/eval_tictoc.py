"""`pipelines.eval_tictoc` (kept for scripts and docs): the job is `pipelines.bench.eval_tictoc`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.eval_tictoc")
