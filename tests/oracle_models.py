"""Test doubles with perfect perception of the synthetic world, implementing the VLM and Embedder protocols.

They read the ground truth of the world at each frame's timestamp, so tests of the search logic do not
depend on how well a trained model sees. They are test fixtures only, never shipped.
"""

from __future__ import annotations

import re

import numpy as np

from agentime.vlm.base import Generation
from pipelines.synthetic.world import COLOURS, SHAPES

COMBOS = [f"{c} {s}" for c in COLOURS for s in SHAPES]
_OBJECT = re.compile(r"\b(" + "|".join(COLOURS) + r")\s+(" + "|".join(SHAPES) + r")\b")


def _objects_in(text: str) -> list[str]:
    return [f"{c} {s}" for c, s in _OBJECT.findall(text.lower())]


class OracleVLM:
    """Says yes when the frame (by its timestamp) shows the object a statement names."""

    def __init__(self, world, name: str = "oracle-target"):
        self.world, self.name, self.max_batch, self.calls = world, name, 64, 0

    def _shows(self, t: float, name: str) -> bool:
        return any(a.name == name for a in self.world.visible_at(t))

    def yes_probability(self, frames_batch, statement):
        self.calls += 1
        wanted = _objects_in(statement)
        out = []
        for item in frames_batch:
            frames = item if isinstance(item, (list, tuple)) else [item]
            hit = bool(wanted) and any(self._shows(f.t, w) for f in frames for w in wanted)
            out.append(0.95 if hit else 0.05)
        return np.array(out)

    def generate(self, parts, max_new_tokens=64, **kwargs):
        self.calls += 1
        return Generation(text="A")

    def describe(self, frames, max_new_tokens=64):
        return ", ".join(sorted({a.name for f in frames for a in self.world.visible_at(f.t)}))


class OracleEmbedder:
    """One dimension per shape x colour: a frame's vector marks what is on screen at its time."""

    def __init__(self, world, name: str = "oracle-embedder"):
        self.world, self.name, self.dim = world, name, len(COMBOS)

    def embed_images(self, frames):
        rows = np.full((len(frames), self.dim), 1e-3, np.float32)
        for i, frame in enumerate(frames):
            for a in self.world.visible_at(frame.t):
                rows[i, COMBOS.index(a.name)] = 1.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def embed_texts(self, texts):
        rows = np.full((len(texts), self.dim), 1e-3, np.float32)
        for i, text in enumerate(texts):
            for name in _objects_in(text):
                rows[i, COMBOS.index(name)] = 1.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
