"""Old module names of pipelines/ keep working after the split by concern (`python -m pipelines.bench_search`,
`from pipelines.synthetic_world import World`): each old name is a thin module calling `moved`."""

from __future__ import annotations

import importlib
import runpy
import sys


def moved(name: str, target: str) -> None:
    """Run `target` as the program when the old module `name` is run with -m; else make `name` an alias of it."""
    if name == "__main__":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.modules[name] = importlib.import_module(target)
