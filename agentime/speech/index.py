"""A faiss index of a transcript's segments, embedded with the project's sentence encoder (MiniLM).

`SpeechIndex.build(transcript, folder)` embeds each segment's text (one thread: many short texts run
fastest that way on a busy CPU), stores the vectors beside the video's frame cache keyed by the transcript's
content (`speech_<key>.npz`, written atomically; an unreadable file is rebuilt) and answers
`matches(queries, k)`: the segments closest to any of the query texts, best first. Nothing here decides what
the search looks at.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentime.speech.segments import SpeechSegment, Transcript
from agentime.video.cache import DAMAGED_CHUNK_ERRORS, atomic_write_bytes

ENCODER_NAME = "minilm-int8-t64"


@dataclass(frozen=True)
class SpeechMatch:
    """A transcript segment and its similarity to the question (cosine, higher is closer)."""

    segment: SpeechSegment
    score: float


def _encoder():
    from agentime.timing.encoder import EncoderVariant, SentenceEncoder

    return SentenceEncoder(threads=1, variant=EncoderVariant(int8=True), cache_size=256)


_ENCODER = None


def sentence_encoder():
    """One encoder per process for transcripts (its own small cache: transcript lines are seen once)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = _encoder()
    return _ENCODER


class SpeechIndex:
    """Inner-product search over unit-norm segment embeddings."""

    def __init__(self, transcript: Transcript, vectors: np.ndarray):
        import faiss

        self.transcript = transcript
        self.segments = transcript.segments
        self._asked: dict[tuple[str, ...], np.ndarray] = {}  # a question's scores, reused by every search step
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, transcript: Transcript, folder: str | Path | None = None, encoder=None) -> SpeechIndex:
        """Embed the transcript (or load its embeddings from `folder` when they were stored there before)."""
        encoder = encoder or sentence_encoder()
        path = Path(folder) / f"speech_{ENCODER_NAME}_{transcript.content_key()}.npz" if folder else None
        vectors = _load_vectors(path, len(transcript.segments)) if path else None
        if vectors is None:
            texts = [s.text for s in transcript.segments]
            vectors = encoder.encode(texts) if texts else np.zeros((0, 384), np.float32)
            if path:
                buffer = io.BytesIO()
                np.savez(buffer, vectors=vectors.astype(np.float16))
                atomic_write_bytes(path, buffer.getvalue())
        index = cls(transcript, np.asarray(vectors, np.float32))
        index.encoder = encoder
        return index

    def similarities(self, queries: list[str]) -> np.ndarray:
        """Each segment's best cosine similarity to any of the query texts."""
        if not len(self) or not queries:
            return np.zeros(len(self))
        key = tuple(queries)
        cached = self._asked.get(key)
        if cached is not None:
            return cached
        vectors = self.encoder.encode(queries)
        scores, ids = self.index.search(np.ascontiguousarray(vectors, np.float32), len(self))
        best = np.full(len(self), -1.0)
        for row_scores, row_ids in zip(scores, ids, strict=True):
            valid = row_ids >= 0
            np.maximum.at(best, row_ids[valid], row_scores[valid])
        if len(self._asked) >= 16:
            self._asked.clear()
        self._asked[key] = best
        return best

    def matches(self, queries: list[str], k: int = 5) -> list[SpeechMatch]:
        """The k segments most similar to the queries, best first."""
        scores = self.similarities(queries)
        order = np.argsort(-scores)[:k]
        return [SpeechMatch(self.segments[i], float(scores[i])) for i in order]


def _load_vectors(path: Path, rows: int) -> np.ndarray | None:
    """Stored vectors, or None when missing, unreadable or of the wrong size (then they are rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            vectors = npz["vectors"]
    except DAMAGED_CHUNK_ERRORS:  # what numpy and zipfile raise on a torn or altered npz
        return None
    if vectors.ndim != 2 or vectors.shape[0] != rows or not np.isfinite(vectors).all():
        return None
    return vectors
