"""The Ray executor of a batch evaluation: the same questions, answered by actors on a Ray cluster.

Each actor loads its own models once from the `ModelSource` (in-process models, or clients of a shared
OpenAI-compatible server such as vLLM or SGLang serving the target) and answers chunks of one video's
questions with `runner.answer_group`, the code the local executor runs, so results are the same. Rows come
back chunk by chunk to the driver, which alone writes the results file. With no `address`, a local cluster
is started for the run and stopped after it. Each worker scores free-form answers with the scorer the driver
registered (`metrics.set_open_scorer`), as the local executor does, since a worker is a process of its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from agentime.eval import metrics
from agentime.eval.items import EvalItem
from agentime.eval.runner import EvalSettings, ModelSource, answer_group, error_row

CHUNK = 8  # questions per actor call: bounds what a lost worker takes with it


class EvalWorker:
    """One Ray actor: models loaded once, then chunks of questions answered in order."""

    def __init__(self, source: ModelSource, settings: EvalSettings, open_scorer=None):
        self.models = source.load()
        self.settings = settings
        metrics.set_open_scorer(open_scorer)  # the driver's; a module-level function travels by reference

    def run(self, video: str, items: list[dict]) -> list[dict]:
        return list(answer_group(self.models, video, [EvalItem.from_dict(i) for i in items], self.settings))


def _chunks(groups: list[tuple[str, list[EvalItem]]], size: int):
    for video, items in groups:
        for start in range(0, len(items), size):
            yield video, [i.to_dict() for i in items[start:start + size]]


def _runtime_env(extra_paths: list[str] | None) -> dict:
    """Workers see the driver's import paths (local modules, test doubles) and its offline settings."""
    paths = [p for p in (extra_paths or []) if p]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths.append(os.getcwd())
    env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM",
                                       "AGENTIME_CACHE") if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return {"env_vars": env}


def run_ray(groups: list[tuple[str, list[EvalItem]]], source: ModelSource, settings: EvalSettings,
            on_row: Callable[[dict], None], *, workers: int = 1, address: str | None = None,
            options: dict | None = None) -> None:
    """Answer `groups` on `workers` Ray actors; `options`: extra_paths (import paths for the workers),
    num_cpus (of a local cluster), object_store_mb, cpus_per_worker."""
    try:
        import ray
    except ImportError as exc:
        from agentime.errors import ConfigError

        raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.30'") from exc
    options = dict(options or {})
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False,
                  "runtime_env": _runtime_env(options.get("extra_paths") or sys.path[:1])}
        if address is None:
            kwargs["num_cpus"] = options.get("num_cpus", workers)
            kwargs["object_store_memory"] = int(options.get("object_store_mb", 100)) * 1024 * 1024
        ray.init(address=address, **kwargs)
        started = True
    try:
        actor_class = ray.remote(num_cpus=options.get("cpus_per_worker", 1))(EvalWorker)
        scorer = metrics.open_scorer()
        actors = [actor_class.remote(source, settings, scorer) for _ in range(workers)]
        todo = list(_chunks(groups, options.get("chunk", CHUNK)))
        todo.reverse()
        in_flight: dict = {}

        def dispatch(actor) -> None:
            if todo:
                video, items = todo.pop()
                in_flight[actor.run.remote(video, items)] = (actor, video, items)

        for actor in actors:
            dispatch(actor)
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            actor, video, items = in_flight.pop(done[0])
            try:
                rows = ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the worker died: its chunk is failed, the rest goes on
                message = f"worker lost: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                rows = [error_row(settings.task, EvalItem.from_dict(i), video, "failed", message) for i in items]
                actor = actor_class.remote(source, settings, scorer)
                actors.append(actor)
            for row in rows:
                on_row(row)
            dispatch(actor)
        for actor in actors:
            ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
