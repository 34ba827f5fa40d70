"""One faiss index over the frame embeddings of many videos, its type chosen by its size.

Each row is bound to (video key, time). A small library gets an exact inner-product index; from `IVF_FROM`
rows an inverted-file index whose vectors are stored as 16-bit floats (or, on request, 8-bit scalars or
product-quantised codes, smaller and less exact), trained on the library's own vectors, so a query reads a few lists instead of every row and the index
takes less memory than the flat one. `needs_rebuild` says when the library has outgrown what the index was
trained for. Files are written atomically with a format version and checked on load: `load` returns None for
a missing, damaged or other-version index, and the caller rebuilds it from the per-video indexes.
It does not embed, decode or know where the videos are.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentime.index.frame_index import best_per_row, one_search_thread
from agentime.video.cache import atomic_write_bytes

FORMAT_VERSION = 1
IVF_FROM = 50_000  # below this, an exact scan of every row is already about as fast as probing lists
GROWTH_BEFORE_RETRAIN = 4  # retrain once the library holds this many times the rows it was trained on
TRAIN_POINTS_PER_LIST = 64
QUANTIZERS = ("fp16", "sq8", "pq")


@dataclass(frozen=True)
class IndexChoice:
    """Which faiss index a library of `rows` vectors gets, and how many lists a query probes."""

    kind: str  # "flat", "ivf_fp16", "ivf_sq8" or "ivf_pq"
    lists: int = 0
    probes: int = 0

    @property
    def exact(self) -> bool:
        return self.kind == "flat"


def choose_index(rows: int, quantizer: str = "fp16") -> IndexChoice:
    """Exact below `IVF_FROM` rows; above, about sqrt(rows) lists and enough probes for recall@10 >= 0.95."""
    if quantizer not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {quantizer!r}; use one of {', '.join(QUANTIZERS)}")
    if rows < IVF_FROM:
        return IndexChoice("flat")
    lists = int(2 ** round(math.log2(math.sqrt(rows))))
    return IndexChoice(f"ivf_{quantizer}", lists=lists, probes=max(16, lists // 16))


def build_faiss_index(vectors: np.ndarray, choice: IndexChoice, *, seed: int = 0):
    """A faiss index of `choice`'s kind holding `vectors` (trained on a seeded sample of them)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if choice.exact:
        index = faiss.IndexFlatIP(dim)
    else:
        quantizer = faiss.IndexFlatIP(dim)
        if choice.kind == "ivf_pq":
            index = faiss.IndexIVFPQ(quantizer, dim, choice.lists, _pq_parts(dim), 8, faiss.METRIC_INNER_PRODUCT)
        else:
            codes = faiss.ScalarQuantizer.QT_fp16 if choice.kind == "ivf_fp16" else faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, choice.lists, codes, faiss.METRIC_INNER_PRODUCT)
        wanted = min(len(vectors), TRAIN_POINTS_PER_LIST * choice.lists)
        sample = np.random.default_rng(seed).choice(len(vectors), size=wanted, replace=False)
        index.cp.seed = seed
        index.train(vectors[np.sort(sample)])
        index.quantizer_trains_alone = 0
        index.nprobe = choice.probes
    if len(vectors):
        index.add(vectors)
    return index


def _pq_parts(dim: int) -> int:
    for parts in (dim // 4, dim // 8, dim // 2, dim):
        if parts and dim % parts == 0:
            return parts
    return dim


@dataclass(frozen=True)
class LibraryHit:
    """One frame of one video and its similarity to a query."""

    video: str
    t: float
    score: float


class LibraryIndex:
    """The faiss index of every video's frames with each row's video and time."""

    def __init__(self, index, choice: IndexChoice, videos: Sequence[str], counts: Sequence[int],
                 times: np.ndarray, embedder_name: str, trained_rows: int):
        if index.ntotal != len(times) or sum(counts) != len(times) or len(videos) != len(counts):
            raise ValueError("the index rows, the per-video counts and the times disagree")
        self.index, self.choice, self.embedder_name = index, choice, embedder_name
        self.videos, self.counts = list(videos), [int(c) for c in counts]
        self.times = np.asarray(times, dtype=np.float64)
        self.video_of_row = np.repeat(np.arange(len(self.videos), dtype=np.int32), self.counts)
        self.trained_rows = int(trained_rows)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, parts: Sequence[tuple[str, np.ndarray, np.ndarray]], embedder_name: str, *,
              quantizer: str = "fp16", seed: int = 0, dim: int | None = None) -> LibraryIndex:
        """Index `parts`, each (video key, embedding rows, their times), with the type its size calls for."""
        rows = [np.asarray(p[1], np.float32) for p in parts]
        width = rows[0].shape[1] if rows else int(dim or 1)
        vectors = np.concatenate(rows) if rows else np.zeros((0, width), np.float32)
        times = np.concatenate([np.asarray(p[2], np.float64) for p in parts]) if parts else np.zeros(0)
        choice = choose_index(len(vectors), quantizer)
        return cls(build_faiss_index(vectors, choice, seed=seed), choice, [p[0] for p in parts],
                   [len(r) for r in rows], times, embedder_name, len(vectors))

    def needs_rebuild(self, rows: int, quantizer: str = "fp16") -> bool:
        """Whether a library of `rows` vectors calls for another index type or a retrained one."""
        wanted = choose_index(rows, quantizer)
        if wanted.kind != self.choice.kind:
            return True
        return not wanted.exact and rows > GROWTH_BEFORE_RETRAIN * self.trained_rows

    def search(self, queries: np.ndarray, k: int = 10) -> list[LibraryHit]:
        """The k frames closest to any query row, best first (each frame at most once)."""
        if len(self) == 0:
            return []
        queries = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, np.float32)))
        with one_search_thread():
            scores, ids = self.index.search(queries, max(1, min(int(k), len(self))))
        ranked = sorted(best_per_row(scores, ids).items(), key=lambda item: -item[1])[:k]
        return [LibraryHit(self.videos[self.video_of_row[i]], float(self.times[i]), s) for i, s in ranked]

    def memory_bytes(self) -> int:
        import faiss

        return int(faiss.serialize_index(self.index).size)

    # -- files -------------------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the index, its rows and a manifest (written last: it vouches for the other two)."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self.index).tobytes()
        atomic_write_bytes(folder / "library.faiss", data)
        buffer = io.BytesIO()
        np.savez(buffer, times=self.times, counts=np.asarray(self.counts, np.int64))
        atomic_write_bytes(folder / "library.rows.npz", buffer.getvalue())
        manifest = {"format": FORMAT_VERSION, "embedder": self.embedder_name, "kind": self.choice.kind,
                    "lists": self.choice.lists, "probes": self.choice.probes, "videos": self.videos,
                    "rows": len(self), "trained_rows": self.trained_rows, "index_bytes": len(data),
                    "index_crc": _crc(data)}
        atomic_write_bytes(folder / "library.json", json.dumps(manifest, indent=1).encode())
        return folder / "library.faiss"

    @classmethod
    def load(cls, folder: Path, embedder_name: str) -> LibraryIndex | None:
        """The saved index, or None when it is missing, damaged, of another format or of another embedder."""
        import faiss

        folder = Path(folder)
        try:
            manifest = json.loads((folder / "library.json").read_text())
            if manifest.get("format") != FORMAT_VERSION or manifest.get("embedder") != embedder_name:
                return None
            data = (folder / "library.faiss").read_bytes()
            if len(data) != manifest["index_bytes"] or _crc(data) != manifest["index_crc"]:
                return None
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            with np.load(folder / "library.rows.npz", allow_pickle=False) as npz:
                times, counts = npz["times"], npz["counts"]
            choice = IndexChoice(manifest["kind"], int(manifest["lists"]), int(manifest["probes"]))
            if not choice.exact:
                index.nprobe = choice.probes
            return cls(index, choice, manifest["videos"], counts.tolist(), times, embedder_name,
                       manifest["trained_rows"])
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None


def _crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)
