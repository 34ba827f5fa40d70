"""Run a batch evaluation: answer every question, write one JSONL row per question, then the metrics.

Questions are grouped by video so each video is opened (and ingested) once per worker. The driver alone
writes the results file, one flushed line per answered question, so a crash loses at most the questions in
flight; a rerun reads the file back, keeps the rows with status "ok" and answers only the rest (a broken
last line is dropped). Missing or unreadable videos are recorded per question (status "error"); model
server errors are retried with backoff, then the question is recorded as "failed"; the batch goes on.
Executors: threads in this process (`local`) or Ray actors (`agentime.eval.ray_executor`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agentime.errors import AgentimeError, ConfigError
from agentime.eval.items import EvalItem
from agentime.eval.metrics import score, summarise
from agentime.eval.tasks import read_task

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".ts", ".m2ts", ".mts", ".mpg", ".flv", ".3gp")
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

    def config(self):
        from agentime.config import Config, VideoConfig, default_cache_dir

        return Config(cache_dir=Path(self.cache_dir) if self.cache_dir else default_cache_dir(),
                      video=VideoConfig(overview_fps=self.fps, allow_truncated=self.allow_truncated))


@dataclass(frozen=True)
class ModelSource:
    """Where a worker gets its models: spec strings (`embedded:target`, `hf:/path`, `openai:URL#model`) per
    role, or a picklable factory returning the role -> model dict (for in-process test models)."""

    specs: dict = field(default_factory=dict)
    factory: Callable[[], dict] | None = None

    def load(self) -> dict:
        from agentime.api import _resolve

        return _resolve(self.factory() if self.factory is not None else dict(self.specs))

    def describe(self) -> dict:
        if self.factory is not None:
            function = getattr(self.factory, "func", self.factory)
            return {"factory": f"{function.__module__}.{function.__qualname__}"}
        return {k: v if isinstance(v, str) or v is None else type(v).__name__ for k, v in self.specs.items()}


def resolve_video(videos: Path, name: str) -> Path | None:
    """The video file for an annotation's name: as given, by its file name, or with a common suffix."""
    candidates = [videos / name, videos / Path(name).name]
    stem = videos / Path(name).with_suffix("").name
    candidates += [stem.with_suffix(s) for s in VIDEO_SUFFIXES]
    return next((c for c in candidates if c.is_file()), None)


def _base_row(task: str, item: EvalItem, video: str | None) -> dict:
    return {"task": task, "question_id": item.question_id, "video": video or item.video, "kind": item.kind,
            "question": item.question, "options": list(item.options) if item.options else None,
            "truth": item.answer, "truth_span": list(item.span) if item.span else None,
            "categories": item.categories}


def error_row(task: str, item: EvalItem, video: str | None, status: str, message: str, attempts: int = 0) -> dict:
    row = _base_row(task, item, video)
    row.update({"status": status, "error": message, "attempts": attempts, "answer": None, "prediction": None,
                "answer_text": None, "parsed": None, "correct": False if item.answer is not None else None, "spans": [],
                "iou": 0.0 if item.span is not None else None, "confidence": None, "frames_used": 0,
                "target_frames": 0, "draft_frames": 0, "strategy": None, "seconds": 0.0})
    return row


def answer_row(settings: EvalSettings, item: EvalItem, video: str, answer, seconds: float, attempts: int) -> dict:
    if item.kind == "choice" and answer.choice:
        prediction = f"{answer.choice}. {answer.text}"
    else:
        prediction = answer.text
    spans = [[round(float(a), 3), round(float(b), 3)] for a, b in answer.spans]
    row = _base_row(settings.task, item, video)
    row.update({"status": "ok", "error": None, "attempts": attempts, "answer": answer.choice or answer.text,
                "prediction": prediction,
                "answer_text": answer.text, "spans": spans, "confidence": round(float(answer.confidence), 6),
                "frames_used": int(answer.stats["target_frames"] + answer.stats["draft_frames"]),
                "target_frames": int(answer.stats["target_frames"]), "draft_frames": int(answer.stats["draft_frames"]),
                "strategy": answer.strategy, "seconds": round(seconds, 3)})
    row.update(score(settings.task, item, prediction, spans))
    return row


def answer_group(models: dict, video: str, items: Iterable[EvalItem], settings: EvalSettings,
                 sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Rows for `items`, all about `video`, answered in one Session with already loaded `models`."""
    from agentime.api import Session
    from agentime.vlm.errors import ServerError

    try:
        session = Session(video, models=models, config=settings.config())
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
                answer = session.ask(item.question, options=list(item.options) if item.options else None,
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


def read_results(path: Path) -> dict[str, dict]:
    """The last row per question id in a results file; lines that do not parse (a cut last line) are skipped."""
    rows: dict[str, dict] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "question_id" in row and "status" in row:
            rows[row["question_id"]] = row
    return rows


def _rewrite(path: Path, rows: Iterable[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


class ResultsWriter:
    """Appends rows to the results file, one flushed line each, from any thread; counts them."""

    def __init__(self, path: Path, bar=None):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._bar = bar
        self.written = 0

    def __call__(self, row: dict) -> None:
        with self._lock:
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()
            self.written += 1
            if self._bar is not None:
                self._bar.update(1)
                if row["status"] != "ok":
                    self._bar.set_postfix_str(f"last {row['status']}: {row['question_id']}")

    def close(self) -> None:
        self._file.close()


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


def evaluate(task: str, annotations: str | Path, videos: str | Path, out: str | Path, source: ModelSource,
             settings: EvalSettings | None = None, *, executor: str = "local", workers: int = 1,
             limit: int | None = None, ray_address: str | None = None, ray_options: dict | None = None,
             progress: bool = True) -> dict:
    """Evaluate `task` and return its metrics; writes `out` (JSONL) and `metrics.json` beside it."""
    settings = settings or EvalSettings(task=task)
    if settings.task != task:
        raise ConfigError(f"settings are for task {settings.task!r}, not {task!r}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    videos, out = Path(videos), Path(out)
    if not videos.is_dir():
        raise ConfigError(f"videos folder {videos} does not exist")
    items = read_task(task, annotations)[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = read_results(out)
    wanted = {i.question_id for i in items}
    finished = {q: r for q, r in previous.items() if r["status"] == "ok" and q in wanted}
    if previous:
        _rewrite(out, [r for q, r in previous.items() if q in finished or q not in wanted])
    pending = [i for i in items if i.question_id not in finished]

    from tqdm import tqdm

    bar = tqdm(total=len(items), initial=len(items) - len(pending), desc=f"eval {task}", unit="q",
               disable=not progress, dynamic_ncols=True)
    writer = ResultsWriter(out, bar)
    try:
        groups: dict[str, list[EvalItem]] = {}
        for item in pending:
            path = resolve_video(videos, item.video)
            if path is None:
                writer(error_row(task, item, None, "error", f"video {item.video} not found in {videos}"))
            else:
                groups.setdefault(str(path), []).append(item)
        work = list(groups.items())
        if work and executor == "ray":
            from agentime.eval.ray_executor import run_ray

            run_ray(work, source, settings, writer, workers=workers, address=ray_address, options=ray_options)
        elif work:
            run_local(work, source, settings, writer, workers=workers)
    finally:
        writer.close()
        bar.close()
    rows = read_results(out)
    metrics = summarise(task, [rows[i.question_id] for i in items if i.question_id in rows])
    metrics["settings"] = {**asdict(settings), "models": source.describe(), "executor": executor,
                           "annotations": str(annotations)}
    tmp = out.with_name(".metrics.json.tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp, out.with_name("metrics.json"))
    return metrics
