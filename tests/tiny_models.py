"""Tiny random models shared by the VLM tests: each is built once per test process in a temp folder."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from agentime.video.frames import Frame

_ROOT = Path(tempfile.mkdtemp(prefix="agentime-tiny-"))
atexit.register(shutil.rmtree, _ROOT, True)


@functools.lru_cache(maxsize=None)
def tiny_model(name: str) -> Path:
    """Folder of the tiny model `name` (a key of pipelines.tiny.vlms.BUILDERS), built on first use."""
    from pipelines.tiny import vlms as tiny

    return tiny.BUILDERS[name](_ROOT / name)


@functools.lru_cache(maxsize=None)
def tiny_vlm(name: str):
    """The tiny model `name` loaded through the hf backend (shared: tests must not mutate it)."""
    from agentime.vlm.hf import HFConfig, HFVLM

    return HFVLM(HFConfig(str(tiny_model(name)), max_batch=4))


def frames(count: int, size: int = 32, seed: int = 0, start: float = 1.0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(start + 1.5 * i, rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(count)]


@functools.lru_cache(maxsize=None)
def family_folder(name: str) -> Path:
    """Folder of the tiny model of family `name` (a key of pipelines.tiny.families.FAMILY_BUILDERS)."""
    from pipelines.tiny.families import FAMILY_BUILDERS

    return FAMILY_BUILDERS[name](_ROOT / f"family-{name}")


@functools.lru_cache(maxsize=None)
def family_vlm(name: str):
    """The tiny model of family `name` through the hf backend (shared: tests must not mutate it)."""
    from agentime.vlm.hf import HFConfig, HFVLM

    return HFVLM(HFConfig(str(family_folder(name)), max_batch=4))
