"""Session checkpoints: a SQLite file of LangGraph checkpoints that is checked before it is trusted.

`open_checkpoint` refuses an empty, truncated, foreign or damaged file with a `CheckpointError` that names
it and says how to start afresh (an empty file is never read as an empty session). Every checkpoint value
is stored with a SHA-256 digest of its bytes (`DigestSerializer`), so flipped bytes inside a stored answer
are found, not deserialised into something else. `list_sessions` reads the sessions a file holds.
This module stores and checks; it knows nothing of what the graph keeps in its state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

from agentime.errors import CheckpointError

SQLITE_MAGIC = b"SQLite format 3\x00"
DIGEST_SUFFIX = "+sha256"
_DIGEST_BYTES = 32


class DigestMismatch(ValueError):
    """A stored checkpoint value does not match its digest."""


class DigestSerializer:
    """LangGraph's serializer with a SHA-256 digest after each value; loading verifies it first."""

    def __init__(self, inner=None):
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        self.inner = inner or JsonPlusSerializer()

    def dumps_typed(self, obj) -> tuple[str, bytes]:
        kind, payload = self.inner.dumps_typed(obj)
        digest = hashlib.sha256(kind.encode() + payload).digest()
        return kind + DIGEST_SUFFIX, payload + digest

    def loads_typed(self, data: tuple[str, bytes]):
        kind, payload = data
        if kind.endswith(DIGEST_SUFFIX):  # values written before digests were kept load as they are
            kind = kind[:-len(DIGEST_SUFFIX)]
            payload, digest = payload[:-_DIGEST_BYTES], payload[-_DIGEST_BYTES:]
            if len(digest) != _DIGEST_BYTES or hashlib.sha256(kind.encode() + payload).digest() != digest:
                raise DigestMismatch("a checkpoint value does not match its digest")
        return self.inner.loads_typed((kind, payload))


def _damaged(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"the session checkpoint {path} {what}, so its earlier answers cannot be restored; "
                           "move or delete it, or pass another checkpoint file, to start a fresh session")


def _check_file(path: Path) -> None:
    """Size and header checks that need no SQLite: empty, foreign or truncated files."""
    size = path.stat().st_size
    if size == 0:
        raise _damaged(path, "is empty (0 bytes)")
    with open(path, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise _damaged(path, "is not a session checkpoint (not an SQLite database)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_is_current = header[24:28] == header[92:96]
    if page_size < 512 or (header_is_current and pages and size < pages * page_size):
        raise _damaged(path, f"is truncated ({size} bytes of {pages * page_size})")


@contextlib.contextmanager
def guarded(path: Path):
    """Reads and writes of the checkpoint: a damaged file surfaces as CheckpointError naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except (sqlite3.DatabaseError, DigestMismatch) as exc:
        raise _damaged(path, "is damaged") from exc


def _verify(saver, path: Path) -> None:
    """Run SQLite's own check, then load every stored checkpoint and write once."""
    try:
        rows = saver.conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            raise _damaged(path, "is damaged (SQLite integrity check failed)")
        saver.setup()
        for _ in saver.list(None):
            pass
    except CheckpointError:
        raise
    except Exception as exc:  # a damaged value may fail in any decoder (SQLite, JSON, msgpack, digest)
        raise _damaged(path, "is damaged") from exc


def open_checkpoint(path: str | os.PathLike):
    """A LangGraph SqliteSaver on `path` (created when missing), verified before use."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise CheckpointError(f"the session checkpoint {path} is a folder; give a file path such as "
                              f"{path / 'sessions.sqlite'}")
    if path.exists():
        _check_file(path)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(connection, serde=DigestSerializer())
    try:
        _verify(saver, path)
    except CheckpointError:
        connection.close()
        raise
    return saver


def list_sessions(path: str | os.PathLike) -> list[dict]:
    """The sessions stored in a checkpoint file: `session_id` and `questions` (answers kept), by id."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"there is no session checkpoint at {path}")
    saver = open_checkpoint(path)
    try:
        latest: dict[str, int] = {}
        with guarded(path):
            for item in saver.list(None):
                thread = item.config["configurable"]["thread_id"]
                if thread not in latest:  # newest first
                    history = item.checkpoint.get("channel_values", {}).get("history", [])
                    latest[thread] = len(history) if isinstance(history, list) else 0
        return [{"session_id": thread, "questions": latest[thread]} for thread in sorted(latest)]
    finally:
        saver.conn.close()
