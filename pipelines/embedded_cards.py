"""`pipelines.embedded_cards` (kept for scripts and docs): the job is `pipelines.train.embedded_cards`."""

from pipelines._moved import moved

moved(__name__, "pipelines.train.embedded_cards")
