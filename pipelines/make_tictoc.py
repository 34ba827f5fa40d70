"""`pipelines.make_tictoc` (kept for scripts and docs): the job is `pipelines.synthetic.make_tictoc`."""

from pipelines._moved import moved

moved(__name__, "pipelines.synthetic.make_tictoc")
