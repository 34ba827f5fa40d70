"""`pipelines.synthetic_questions` (kept for scripts and docs): the job is `pipelines.synthetic.questions`."""

from pipelines._moved import moved

moved(__name__, "pipelines.synthetic.questions")
