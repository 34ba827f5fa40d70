"""A faiss index of a video's frame embeddings, each row bound to its timestamp.

Built once per (video overview, embedder) from the cached overview frames and stored beside them
(`index_<embedder>.faiss` and `.times.npz`, written atomically). Queries are embedded text rows:
`top_moments(queries, k)` returns the k frames closest to them and `similarities(queries)` every frame's
score, both answered by faiss. The index does not decode video or choose frames to look at.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentime.errors import CacheError
from agentime.video.cache import atomic_write_bytes
from agentime.video.frames import Frame


@dataclass(frozen=True)
class Moment:
    """A frame time and its similarity to a query (cosine, higher is closer)."""

    t: float
    score: float


class FrameIndex:
    """Inner-product search over L2-normalised frame embeddings."""

    def __init__(self, embeddings: np.ndarray, times: np.ndarray, embedder_name: str = ""):
        import faiss

        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(times):
            raise ValueError(f"need one embedding row per time, got {embeddings.shape} for {len(times)} times")
        self.times = np.asarray(times, dtype=np.float64)
        self.embedder_name = embedder_name
        self.dim = embeddings.shape[1]
        self.index = faiss.IndexFlatIP(self.dim)
        if embeddings.shape[0]:
            self.index.add(embeddings)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, embedder, frames: Iterable[Frame], *, batch: int = 64) -> FrameIndex:
        """Embed frames in batches (streaming: one batch in memory at a time)."""
        rows, times, pending = [], [], []
        for frame in frames:
            pending.append(frame)
            if len(pending) >= batch:
                rows.append(embedder.embed_images(pending))
                times.extend(f.t for f in pending)
                pending = []
        if pending:
            rows.append(embedder.embed_images(pending))
            times.extend(f.t for f in pending)
        dim = rows[0].shape[1] if rows else int(getattr(embedder, "dim", 1))
        matrix = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
        return cls(matrix, np.array(times), getattr(embedder, "name", ""))

    @classmethod
    def from_parts(cls, parts: Iterable[tuple[np.ndarray, np.ndarray]], dim: int, embedder_name: str = "") -> FrameIndex:
        """An index filled from (times, rows) parts in time order, one part in memory at a time besides the
        index itself (how the rows of an hours-long video are gathered from its chunks)."""
        index = cls(np.zeros((0, dim), np.float32), np.zeros(0), embedder_name)
        times = []
        for part_times, rows in parts:
            index.index.add(np.ascontiguousarray(rows, dtype=np.float32))
            times.append(np.asarray(part_times, dtype=np.float64))
        index.times = np.concatenate(times) if times else np.zeros(0)
        return index

    def embeddings(self) -> np.ndarray:
        return self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """Each row's highest inner product with any of the query rows, in row order (faiss, exact).

        Asks faiss for every row (k = the index's size), so on a flat index this is the exact profile
        the strategies read as a prior over the whole video.
        """
        queries = _as_queries(queries, self.dim)
        best = np.full(len(self), -np.inf, dtype=np.float32)
        if len(self) == 0 or len(queries) == 0:
            return best
        with one_search_thread():
            scores, ids = self.index.search(queries, len(self))
        for row_scores, row_ids in zip(scores, ids, strict=True):
            found = row_ids >= 0
            np.maximum.at(best, row_ids[found], row_scores[found])
        return best

    def top_moments(self, queries: np.ndarray, k: int = 10) -> list[Moment]:
        """The k frames closest to any of the query rows (best first; a frame at most once)."""
        if len(self) == 0:
            return []
        k = max(1, min(int(k), len(self)))
        with one_search_thread():
            scores, ids = self.index.search(_as_queries(queries, self.dim), k)
        ranked = sorted(best_per_row(scores, ids).items(), key=lambda item: (-item[1], self.times[item[0]]))[:k]
        return [Moment(float(self.times[i]), s) for i, s in ranked]

    def save(self, folder: Path) -> Path:
        import faiss

        path = Path(folder) / f"index_{_safe(self.embedder_name)}.faiss"
        atomic_write_bytes(path, faiss.serialize_index(self.index).tobytes())
        import io

        buffer = io.BytesIO()
        np.savez(buffer, times=self.times)
        atomic_write_bytes(path.with_suffix(".times.npz"), buffer.getvalue())
        return path

    @staticmethod
    def saved_length(folder: Path, embedder_name: str) -> int | None:
        """How many frames the index saved in `folder` holds (from its times file, without reading the
        index), or None when there is none or it is unreadable."""
        path = Path(folder) / f"index_{_safe(embedder_name)}.faiss"
        if not path.is_file():
            return None
        try:
            with np.load(path.with_suffix(".times.npz"), allow_pickle=False) as npz:
                return int(npz["times"].shape[0])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
            return None

    @classmethod
    def load(cls, folder: Path, embedder_name: str) -> FrameIndex | None:
        """The saved index of `embedder_name` in `folder`, or None when there is none (yet)."""
        import faiss

        path = Path(folder) / f"index_{_safe(embedder_name)}.faiss"
        times_path = path.with_suffix(".times.npz")
        if not (path.is_file() and times_path.is_file()):
            return None
        try:
            index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
            with np.load(times_path, allow_pickle=False) as npz:
                times = npz["times"]
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            raise CacheError(f"the frame index {path} is unreadable ({exc}); delete it to rebuild") from exc
        if index.ntotal != len(times):
            raise CacheError(f"the frame index {path} does not match its times; delete it to rebuild")
        loaded = cls.__new__(cls)
        loaded.index, loaded.times, loaded.embedder_name, loaded.dim = index, times, embedder_name, index.d
        return loaded


class ChunkEmbeddings:
    """The embedding rows of each overview chunk, saved as they are computed (`embeddings_<embedder>/
    chunk_000123.npz`: the chunk's times and rows, written atomically), so an interrupted indexing resumes
    after its last finished chunk. A part is used only while its times are those of the chunk it was made
    from: a chunk rebuilt after damage is embedded again."""

    def __init__(self, overview: Path, embedder_name: str):
        self.folder = Path(overview) / f"embeddings_{_safe(embedder_name)}"

    def path(self, chunk: int) -> Path:
        return self.folder / f"chunk_{chunk:06d}.npz"

    def load(self, chunk: int, times: np.ndarray) -> np.ndarray | None:
        """The rows saved for `chunk`, or None when there are none or they were made from other frames."""
        try:
            with np.load(self.path(chunk), allow_pickle=False) as npz:
                saved_times, rows = npz["times"], npz["rows"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
            return None
        if saved_times.shape != times.shape or not np.array_equal(saved_times, times) or rows.shape[0] != times.size:
            return None
        return rows

    def save(self, chunk: int, times: np.ndarray, rows: np.ndarray) -> None:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, times=np.asarray(times, np.float64), rows=np.asarray(rows, np.float32))
        atomic_write_bytes(self.path(chunk), buffer.getvalue())


def best_per_row(scores: np.ndarray, ids: np.ndarray) -> dict[int, float]:
    """Each row faiss found for any query, with its best score (faiss marks empty slots with id -1)."""
    best: dict[int, float] = {}
    for s, i in zip(scores.ravel(), ids.ravel(), strict=True):
        if i >= 0 and s > best.get(int(i), -np.inf):
            best[int(i)] = float(s)
    return best


@contextmanager
def one_search_thread() -> Iterator[None]:
    """Search on the calling thread: faiss's OpenMP workers would otherwise spin after a query of a few rows
    and take the cores the models' own threads are using (faiss has its own OpenMP runtime, not torch's)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    queries = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
    if queries.shape[1] != dim:
        raise ValueError(f"query rows have {queries.shape[1]} values; the index holds {dim}")
    return queries


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name or "embedder")[:80]
