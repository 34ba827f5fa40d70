"""`pipelines.synthetic_speech` (kept for scripts and docs): the job is `pipelines.synthetic.speech`."""

from pipelines._moved import moved

moved(__name__, "pipelines.synthetic.speech")
