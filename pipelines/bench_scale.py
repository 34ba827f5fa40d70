"""`pipelines.bench_scale` (the name the docs use): the job is `pipelines.bench.scale`."""

from pipelines._moved import moved

moved(__name__, "pipelines.bench.scale")
