"""`pipelines.example_timing_graph` (kept for scripts and docs): the job is `pipelines.examples.timing_graph`."""

from pipelines._moved import moved

moved(__name__, "pipelines.examples.timing_graph")
