"""The results file of a run: one JSON line per question, appended as answers come, resumable after a crash.

A kill can leave the last line half-written. Before anything is appended, `repair_torn_tail` cuts the file
back to its last complete line, so the next row starts on a line of its own; the torn question has no row
and is answered again. `read_results` keeps the last row per question id and skips lines that do not parse.
Whole-file rewrites (dropping stale rows, putting rows in annotation order) go through a temporary file and
`os.replace`, so a crash leaves either the old or the new file. Run outputs are named after the results
file (`run1.jsonl` -> `run1.metrics.json`, `run1.<submission>`), so two runs in one folder never collide.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path


def output_path(results: Path, suffix: str) -> Path:
    """A file of this run beside its results: `runs/a.jsonl` + `metrics.json` -> `runs/a.metrics.json`."""
    return results.with_name(f"{results.stem}.{suffix}")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def repair_torn_tail(path: Path) -> bool:
    """Cut a file that does not end with a newline back to its last complete line; True when it was torn."""
    if not path.is_file():
        return False
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return False
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        keep, step = 0, 1 << 16
        position = size
        while position > 0 and not keep:  # search backwards for the last newline, a block at a time
            start = max(0, position - step)
            f.seek(start)
            block = f.read(position - start)
            index = block.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
            position = start
        f.truncate(keep)
    return True


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


def rewrite_results(path: Path, rows: Iterable[dict]) -> None:
    write_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))


class ResultsWriter:
    """Appends rows to the results file, one flushed line each, from any thread; counts them."""

    def __init__(self, path: Path, bar=None):
        repair_torn_tail(path)
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
