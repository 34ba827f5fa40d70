"""Run a batch evaluation: answer every question, write one JSONL row per question, then the metrics.

Questions are grouped by video so each video is opened (and ingested) once per worker. The driver alone
writes the results file (`results_file.py`), one flushed line per answered question, so a crash loses at
most the questions in flight; a rerun repairs a torn last line, keeps the rows with status "ok" and answers
only the rest. When the run ends, the rows are put in annotation order and the metrics and submission files
are written beside them, named after the results file. Videos are looked up in the videos folder only
(`videos.py`); missing or unreadable ones are recorded per question (status "error"), and a run where more
than a stated share is missing ends with `MissingVideosError`. Model server errors are retried with backoff,
then the question is recorded as "failed"; the batch goes on. Executors: threads in this process (`local`)
or Ray actors (`agentime.eval.ray_executor`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from agentime.config import Config
from agentime.errors import AgentimeError, ConfigError
from agentime.eval.items import EvalItem
from agentime.eval.metrics import presented_prediction, score, summarise
from agentime.eval.results_file import (ResultsWriter, output_path, read_results, repair_torn_tail,
                                        rewrite_results, write_atomic)
from agentime.eval.submission import write_submissions
from agentime.eval.tasks import TASKS, read_task
from agentime.eval.videos import VideoFolder

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class EvalSettings:
    """How each question is answered; the same for every executor, so their results are identical."""

    task: str
    strategy: str = "auto"
    budget: int | None = None
    retries: int = 2  # extra attempts after a model server error
    retry_wait: float = 2.0  # seconds before the first retry; doubles each time
    cache_dir: str | None = None
    fps: float = 1.0
    allow_truncated: bool = False
    open: bool = False  # ask choice questions without their options; score free-form answers (metrics hook)
    subtitles: str | None = None  # folder of subtitle files named by video (or by the annotation's subtitle_path)
    speech: bool = True  # False: frames only, even where subtitles sit beside the videos
    # The run's Config (`agentime eval --config FILE --set NAME=VALUE`): its search, models, timing and speech
    # sections reach every session; fps, cache_dir, allow_truncated and the per-video subtitles above are
    # applied over it. None: the defaults.
    base: Config | None = None

    def config(self, video: str | None = None, item: EvalItem | None = None) -> Config:
        subtitles = subtitle_file(self.subtitles, video, item) if self.subtitles and self.speech else None
        offset = float((item.meta if item else {}).get("starting_timestamp_for_subtitles") or 0.0)
        base = self.base or Config()
        return replace(base, cache_dir=Path(self.cache_dir) if self.cache_dir else base.cache_dir,
                       video=replace(base.video, overview_fps=self.fps,
                                     allow_truncated=self.allow_truncated or base.video.allow_truncated),
                       speech=replace(base.speech, enabled=self.speech, subtitles=subtitles,
                                      offset=offset if subtitles else 0.0))

    def describe(self) -> dict:
        """These settings as JSON values, for the metrics file (the Config, when given, as its sections)."""
        described = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "base"}
        if self.base is not None:
            described["config"] = json.loads(json.dumps(asdict(self.base), default=str))
        return described

    def speech_setting(self) -> str:
        """How the run used speech, for the metrics: off, a subtitles folder, or whatever lies beside the videos."""
        if not self.speech:
            return "without subtitles"
        return f"with subtitles from {self.subtitles}" if self.subtitles else "subtitles beside the videos or in them"


SUBTITLE_NAMES = (".srt", ".vtt", ".ass", ".ssa", "_en.json", ".json")


def subtitle_file(folder: str | None, video: str | None, item: EvalItem | None) -> Path | None:
    """The subtitle file of a video in `folder`: the annotation's `subtitle_path` (LongVideoBench), else one
    named after the video (Video-MME's `<video id>.srt`); None when there is none (that video runs frames
    only)."""
    if not folder or video is None:
        return None
    named = (item.meta if item else {}).get("subtitle_path")
    candidates = [Path(folder) / named] if named else []
    candidates += [Path(folder) / (Path(video).stem + suffix) for suffix in SUBTITLE_NAMES]
    return next((c for c in candidates if c.is_file()), None)


@dataclass(frozen=True)
class ModelSource:
    """Where a worker gets its models: spec strings (`embedded:target`, `hf:/path`, `openai:URL#model`) per
    role, or a picklable factory returning the role -> model dict (for in-process test models)."""

    specs: dict = field(default_factory=dict)
    factory: Callable[[], dict] | None = None
    verbose: bool = False  # show the models' loading output

    def load(self) -> dict:
        from agentime.vlm.registry import load_model_roles

        return load_model_roles(self.factory() if self.factory is not None else dict(self.specs),
                                verbose=self.verbose)

    def describe(self) -> dict:
        if self.factory is not None:
            function = getattr(self.factory, "func", self.factory)
            return {"factory": f"{function.__module__}.{function.__qualname__}"}
        return {k: v if isinstance(v, str) or v is None else type(v).__name__ for k, v in self.specs.items()}


def _base_row(task: str, item: EvalItem, video: str | None) -> dict:
    return {"task": task, "question_id": item.question_id, "video": video or item.video, "kind": item.kind,
            "question": item.question, "options": list(item.options) if item.options else None,
            "truth": item.answer, "truth_span": list(item.span) if item.span else None,
            "categories": item.categories, "meta": item.meta}


def error_row(task: str, item: EvalItem, video: str | None, status: str, message: str, attempts: int = 0,
              *, missing_video: bool = False) -> dict:
    row = _base_row(task, item, video)
    row.update({"status": status, "error": message, "attempts": attempts, "answer": None, "prediction": None,
                "answer_text": None, "parsed": None, "correct": False if item.answer is not None else None, "spans": [],
                "iou": 0.0 if item.span is not None else None, "confidence": None, "frames_used": 0,
                "target_frames": 0, "draft_frames": 0, "strategy": None, "seconds": 0.0,
                "missing_video": missing_video, "prompt_fits": [], "speech_source": None, "speech": []})
    return row


def answer_row(settings: EvalSettings, item: EvalItem, video: str, answer, seconds: float, attempts: int) -> dict:
    prediction = presented_prediction(item, answer.choice, answer.text)
    spans = [[round(float(a), 3), round(float(b), 3)] for a, b in answer.spans]
    row = _base_row(settings.task, item, video)
    row.update({"status": "ok", "error": None, "attempts": attempts, "answer": answer.choice or answer.text,
                "prediction": prediction,
                "answer_text": answer.text, "spans": spans, "confidence": round(float(answer.confidence), 6),
                "frames_used": int(answer.stats["target_frames"] + answer.stats["draft_frames"]),
                "target_frames": int(answer.stats["target_frames"]), "draft_frames": int(answer.stats["draft_frames"]),
                "strategy": answer.strategy, "seconds": round(seconds, 3), "missing_video": False,
                "speech_source": (answer.stats.get("speech") or {}).get("source"),
                "speech": [{"start": e.t, "end": e.end, "text": e.text} for e in getattr(answer, "evidence", [])
                           if getattr(e, "source", None) == "speech"],
                # what prompt fitting cut so the model could take the prompts (empty when nothing was)
                "prompt_fits": [step["note"] for step in getattr(answer, "trace", []) if step["step"] == "fit"]})
    row.update(score(settings.task, item, prediction, spans))
    return row


def open_form(item: EvalItem) -> EvalItem:
    """`--open`: a choice question asked without its options; the true option's text is the reference."""
    if item.kind != "choice":
        return item
    reference = None
    if item.answer is not None:
        reference = item.options[ord(item.answer) - 65].split(". ", 1)[-1]
    return replace(item, kind="open", options=None, meta={**item.meta, "reference": reference})


def answer_group(models: dict, video: str, items: Iterable[EvalItem], settings: EvalSettings,
                 sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Rows for `items`, all about `video`, answered in one Session with already loaded `models`."""
    from agentime.api import Session
    from agentime.vlm.errors import ServerError

    items = list(items)
    try:
        session = Session(video, models=models, config=settings.config(video, items[0] if items else None))
    except AgentimeError as exc:
        for item in items:
            yield error_row(settings.task, item, video, "error", f"{type(exc).__name__}: {exc}")
        return
    for item in items:
        attempts = 0
        while True:
            attempts += 1
            began = time.perf_counter()
            try:
                question, options = TASKS[settings.task].prompt(item)
                answer = session.ask(question, options=options,
                                     strategy=settings.strategy, budget=settings.budget)
                yield answer_row(settings, item, video, answer, time.perf_counter() - began, attempts)
                break
            except ServerError as exc:
                if attempts > settings.retries:
                    yield error_row(settings.task, item, video, "failed",
                                    f"{type(exc).__name__} after {attempts} attempts: {exc}", attempts)
                    break
                sleep(settings.retry_wait * 2 ** (attempts - 1))
            except AgentimeError as exc:
                yield error_row(settings.task, item, video, "error", f"{type(exc).__name__}: {exc}", attempts)
                break
            except Exception as exc:  # noqa: BLE001 - one broken question must not end the batch
                yield error_row(settings.task, item, video, "error", f"unexpected {type(exc).__name__}: {exc}",
                                attempts)
                break


def run_local(groups: list[tuple[str, list[EvalItem]]], source: ModelSource, settings: EvalSettings,
              on_row: Callable[[dict], None], workers: int = 1) -> None:
    """Answer the groups with one set of models in this process, `workers` videos at a time (threads)."""
    models = source.load()
    if workers <= 1:
        for video, items in groups:
            for row in answer_group(models, video, items, settings):
                on_row(row)
        return

    def work(video: str, items: list[EvalItem]) -> None:
        for row in answer_group(models, video, items, settings):
            on_row(row)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(work, v, i) for v, i in groups]):
            future.result()


class MissingVideosError(ConfigError):
    """Too many of a run's videos were not found: the run did not really evaluate the benchmark."""


def _group_by_video(pending: list[EvalItem], folder: VideoFolder, task: str, writer) -> list[tuple[str, list]]:
    groups: dict[str, list[EvalItem]] = {}
    for item in pending:
        path, why = folder.resolve(item.video)
        if path is None:
            writer(error_row(task, item, None, "error", why, missing_video=True))
        else:
            groups.setdefault(str(path), []).append(item)
    return list(groups.items())


def _check_missing(metrics: dict, videos: Path, max_missing: float, allow_missing: bool) -> None:
    missing, total = metrics["missing_videos"], metrics["questions"]
    if total and missing / total > max_missing and not allow_missing:
        raise MissingVideosError(
            f"the videos of {missing} of {total} questions ({missing / total:.0%}) were not found in {videos} "
            f"(more than the {max_missing:.0%} allowed); check --videos and the download layout, or pass "
            "--allow-missing to accept the partial run")


def evaluate(task: str, annotations: str | Path, videos: str | Path, out: str | Path, source: ModelSource,
             settings: EvalSettings | None = None, *, executor: str = "local", workers: int = 1,
             limit: int | None = None, ray_address: str | None = None, ray_options: dict | None = None,
             progress: bool = True, max_missing: float = 0.1, allow_missing: bool = False) -> dict:
    """Evaluate `task` and return its metrics. Writes `out` (JSONL, rows in annotation order), and beside it
    `<out stem>.metrics.json` and the task's submission files. Raises `MissingVideosError` (after writing
    them) when more than `max_missing` of the questions' videos were not found, unless `allow_missing`."""
    settings = settings or EvalSettings(task=task)
    if settings.task != task:
        raise ConfigError(f"settings are for task {settings.task!r}, not {task!r}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not 0 <= max_missing <= 1:
        raise ConfigError(f"the share of missing videos allowed must be in [0, 1], got {max_missing}")
    videos, out = Path(videos), Path(out)
    if not videos.is_dir():
        raise ConfigError(f"videos folder {videos} does not exist")
    items = read_task(task, annotations)[:limit]
    if settings.open:
        items = [open_form(i) for i in items]
    folder = VideoFolder(videos)
    for item in items:
        folder.check(item.video)  # refuse the whole file before any work when one names a video outside
    out.parent.mkdir(parents=True, exist_ok=True)
    repair_torn_tail(out)
    previous = read_results(out)
    wanted = {i.question_id for i in items}
    finished = {q: r for q, r in previous.items() if r["status"] == "ok" and q in wanted}
    if previous:
        rewrite_results(out, [r for q, r in previous.items() if q in finished or q not in wanted])
    pending = [i for i in items if i.question_id not in finished]

    from tqdm import tqdm

    bar = tqdm(total=len(items), initial=len(items) - len(pending), desc=f"eval {task}", unit="q",
               disable=not progress, dynamic_ncols=True)
    writer = ResultsWriter(out, bar)
    try:
        work = _group_by_video(pending, folder, task, writer)
        if work and executor == "ray":
            from agentime.eval.ray_executor import run_ray

            run_ray(work, source, settings, writer, workers=workers, address=ray_address, options=ray_options)
        elif work:
            run_local(work, source, settings, writer, workers=workers)
    finally:
        writer.close()
        bar.close()
    rows = read_results(out)
    order = {i.question_id: n for n, i in enumerate(items)}
    rewrite_results(out, sorted(rows.values(), key=lambda r: order.get(r["question_id"], len(order))))
    ours = [rows[i.question_id] for i in items if i.question_id in rows]
    metrics = summarise(task, ours, expected=len(items))
    metrics["settings"] = {**settings.describe(), "models": source.describe(), "executor": executor,
                           "annotations": str(annotations), "videos": str(videos), "results": str(out)}
    metrics["speech"] = {"setting": settings.speech_setting(),
                         "questions_with_text": sum(1 for r in ours if r.get("speech_source"))}
    metrics["files"] = write_submissions(TASKS[task], ours, out, metrics)
    write_atomic(output_path(out, "metrics.json"), json.dumps(metrics, indent=1))
    _check_missing(metrics, videos, max_missing, allow_missing)
    return metrics
