"""`pipelines.demo` (kept for scripts and docs): the job is `pipelines.examples.demo`."""

from pipelines._moved import moved

moved(__name__, "pipelines.examples.demo")
