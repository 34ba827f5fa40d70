"""Batch evaluation on standard long-video benchmarks, in the lmms-eval manner.

One task = one annotation reader (`tasks.py`, `tempcompass.py`: the benchmark's published layouts, parsed by
`records.py`) + one metric (`metrics.py`, under the official rule in `rules.py`). `runner.py` answers every
question with `agentime.Session` on the videos `videos.py` finds, writes per-question JSONL results
(`results_file.py`, resumable), the metrics and the submission files (`submission.py`); `ray_executor.py` runs
the same work on a Ray cluster. Entry points: `agentime eval` and `python -m pipelines.evaluate`.
"""

from agentime.eval.items import AnnotationError, EvalItem
from agentime.eval.tasks import TASKS, read_task

__all__ = ["TASKS", "AnnotationError", "EvalItem", "read_task"]
