"""A faiss index of a video's frame embeddings, each row bound to its timestamp.

Built once per (video overview, embedder) from the cached overview frames and stored beside them
(`index_<embedder>.faiss` and `.times.npz`, written atomically). `top_moments(text, k)` returns the k
frames most similar to a text query. The index does not decode video or choose frames to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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

    def embeddings(self) -> np.ndarray:
        return self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    def top_moments(self, query: np.ndarray, k: int = 10) -> list[Moment]:
        if len(self) == 0:
            return []
        k = max(1, min(int(k), len(self)))
        scores, ids = self.index.search(np.asarray(query, np.float32).reshape(1, -1), k)
        return [Moment(float(self.times[i]), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def save(self, folder: Path) -> Path:
        import faiss

        path = Path(folder) / f"index_{_safe(self.embedder_name)}.faiss"
        atomic_write_bytes(path, faiss.serialize_index(self.index).tobytes())
        import io

        buffer = io.BytesIO()
        np.savez(buffer, times=self.times)
        atomic_write_bytes(path.with_suffix(".times.npz"), buffer.getvalue())
        return path

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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name or "embedder")[:80]
