"""Every command the README and the issues name keeps working under its old name after pipelines/ was split by
concern: the old module is the new one (same objects), and `python -m pipelines.<old name>` runs the job."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_NAMES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.py") if not p.stem.startswith("_"))


def test_the_commands_users_know_are_all_kept():
    assert set(OLD_NAMES) >= {"make_benchmark", "bench_ingest", "bench_search", "bench_vlm", "bench_attention",
                              "eval_embedded", "eval_tictoc", "evaluate", "train_timing", "train_embedded",
                              "make_tictoc", "calibrate_unsure", "check_families", "chaos", "demo",
                              "synthetic_world", "synthetic_questions"}


@pytest.mark.parametrize("name", OLD_NAMES)
def test_an_old_module_name_is_the_moved_module(name):
    old = importlib.import_module(f"pipelines.{name}")
    assert old.__name__ != f"pipelines.{name}" and old.__name__.count(".") == 2, old.__name__
    assert Path(old.__file__).parent.parent == ROOT / "pipelines"


def test_python_dash_m_with_an_old_name_runs_the_job(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipelines.make_benchmark", "--out", str(tmp_path / "b"),
                           "--videos", "1", "--minutes", "2", "--seed", "3"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "b" / "questions.json").is_file() and '"questions"' in done.stdout
