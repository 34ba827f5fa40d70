"""`pipelines.synthetic_world` (kept for scripts and docs): the job is `pipelines.synthetic.world`."""

from pipelines._moved import moved

moved(__name__, "pipelines.synthetic.world")
