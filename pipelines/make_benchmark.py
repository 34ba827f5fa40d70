"""`pipelines.make_benchmark` (kept for scripts and docs): the job is `pipelines.synthetic.make_benchmark`."""

from pipelines._moved import moved

moved(__name__, "pipelines.synthetic.make_benchmark")
