"""Reading an annotation file into plain records, whatever container the benchmark ships it in.

Benchmarks publish the same records as a JSON document (a list, or an object keyed by id), JSON lines (one
record per line, sometimes a single line), or a parquet table (the Hugging Face hub copies, lmms-eval's
`lmms-lab/*` datasets). Some official files are not strict JSON: Video-MME's output template has trailing
commas. This module only parses; what the records mean is the task readers' business (`tasks.py`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from agentime.eval.items import AnnotationError

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
MAX_ANNOTATION_BYTES = 512 * 1024 * 1024  # a larger "annotation file" is almost surely the wrong file


def _parquet_records(path: Path) -> list:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pyarrow is a default dependency; this only happens in a broken install
        raise AnnotationError(f"reading {path.name} needs pyarrow (pip install 'pyarrow>=14'), "
                              "or give the JSON export of the table") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types for a damaged file
        raise AnnotationError(f"{path.name} is not a readable parquet table: {str(exc).splitlines()[0][:200]}") \
            from exc
    return table.to_pylist()


def _json_lines(path: Path, text: str) -> list:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{path.name} is neither JSON nor JSON lines: line {number}: {exc.msg}") from exc
    return records


def load_records(path: Path):
    """The parsed content of an annotation file: a list of records, or the JSON object it holds.

    `.jsonl` files are always read line by line (a file of one line is one record, not a document);
    `.parquet` files as a table; anything else as one JSON document, else as JSON lines.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"annotation file {path} does not exist")
    if path.stat().st_size > MAX_ANNOTATION_BYTES:
        raise AnnotationError(f"{path.name} is over {MAX_ANNOTATION_BYTES >> 20} MB: not an annotation file")
    if path.suffix == ".parquet":
        return _parquet_records(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix == ".jsonl":
        return _json_lines(path, text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:  # official templates written by hand, with trailing commas
        return json.loads(_TRAILING_COMMA.sub(r"\1", text))
    except json.JSONDecodeError:
        return _json_lines(path, text)
