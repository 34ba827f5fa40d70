"""Packaging: the library and the web UI install under their own names (`agentime`, `agentime_ui`, never a
top-level `ui`), every library package is listed, and `agentime ui` imports the UI without touching `sys.path`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_library_package_is_installed_and_the_ui_under_a_distinct_name():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "agentime").rglob("__init__.py")}
    assert folders <= listed, sorted(folders - listed)
    assert setuptools["package-dir"] == {"agentime_ui": "ui"} and "agentime_ui" in listed
    assert not any(name == "ui" or name.startswith("ui.") for name in listed)
    assert "sys.path" not in (ROOT / "agentime" / "cli.py").read_text()


def run_ui(env_path: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": env_path}
    return subprocess.run([sys.executable, "-m", "agentime.cli", "ui", "--allowed-dir", str(tmp_path / "nowhere")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_agentime_ui_imports_the_installed_ui_and_says_plainly_when_there_is_none(tmp_path):
    installed = tmp_path / "site"
    installed.mkdir()
    (installed / "agentime_ui").symlink_to(ROOT / "ui")  # what the install's package-dir mapping gives
    done = run_ui(f"{installed}{os.pathsep}{ROOT}", tmp_path)
    assert done.returncode == 2 and "allowed folder" in done.stderr and "Traceback" not in done.stderr
    without_ui = ("import sys\n"
                  "class NoUI:  # as on a machine where only the library is installed\n"
                  "    def find_spec(self, name, path=None, target=None):\n"
                  "        if name.split('.')[0] == 'agentime_ui': raise ModuleNotFoundError(name)\n"
                  "sys.meta_path.insert(0, NoUI())\n"
                  "from agentime.cli import main\n"
                  "sys.exit(main(['ui']))\n")
    done = subprocess.run([sys.executable, "-c", without_ui], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "web UI is not installed" in done.stderr, done.stderr
