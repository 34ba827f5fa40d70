"""Batch evaluation on standard long-video benchmarks, in the lmms-eval manner.

One task = one annotation reader (`tasks.py`, the benchmark's published format and field names) + one metric
(`metrics.py`, computed as the benchmark's official script does). `runner.py` answers every question with
`agentime.Session`, writes per-question JSONL results (resumable) and the metrics; `ray_executor.py` runs the
same work on a Ray cluster. Entry points: `agentime eval` and `python -m pipelines.evaluate`.
"""

from agentime.eval.items import AnnotationError, EvalItem
from agentime.eval.tasks import TASKS, read_task

__all__ = ["TASKS", "AnnotationError", "EvalItem", "read_task"]
