"""Helpers shared by the batch-evaluation tests: picklable model factories over a synthetic world file.

Ray workers rebuild models from these factories, so they are module-level functions of (world file, ...)
rather than closures. Test code only.
"""

from __future__ import annotations

import functools

from agentime.vlm.errors import ServerUnavailableError


def oracle_models(world_file: str, draft: bool = True) -> dict:
    from oracle_models import OracleEmbedder, OracleVLM
    from pipelines.synthetic.world import World

    world = World.load(world_file)
    return {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft") if draft else None,
            "embedder": OracleEmbedder(world)}


def oracle_factory(world_file, draft: bool = True):
    return functools.partial(oracle_models, str(world_file), draft)


class VanishingServer:
    """A target that answers like the oracle for `calls` calls, then behaves like a server that went away."""

    def __init__(self, inner, calls: int):
        self.inner, self.left, self.name, self.max_batch = inner, calls, "vanishing-server", 64
        self.refused = 0

    def _spend(self):
        if self.left <= 0:
            self.refused += 1
            raise ServerUnavailableError("http://127.0.0.1:9/v1 cannot be reached: connection refused")
        self.left -= 1

    def yes_probability(self, frames_batch, statement):
        self._spend()
        return self.inner.yes_probability(frames_batch, statement)

    def generate(self, parts, max_new_tokens=64, **kwargs):
        self._spend()
        return self.inner.generate(parts, max_new_tokens=max_new_tokens, **kwargs)
