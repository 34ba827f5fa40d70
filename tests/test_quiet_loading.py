"""Loading the shipped models prints nothing by default; verbose loading keeps transformers' own output."""

import os

import pytest

from agentime.errors import ConfigError
from agentime.vlm.registry import load_embedder


def test_shipped_embedder_loads_without_bars_or_config_warnings(capfd):
    load_embedder("embedded:embedder")
    err = capfd.readouterr().err
    assert "Loading weights" not in err
    assert "bos_token_id" not in err and "eos_token_id" not in err


def test_verbose_loading_shows_the_progress_bar(capfd):
    load_embedder("embedded:embedder", verbose=True)
    assert "Loading weights" in capfd.readouterr().err



def test_models_loaded_for_a_question_show_their_loading_output_only_when_verbose(tmp_path, capfd):
    from agentime.vlm.registry import load_model_roles
    from pipelines.tiny.vlms import build_llava

    model = build_llava(tmp_path / "tiny-llava")
    capfd.readouterr()
    specs = {"target": f"hf:{model}", "draft": None, "embedder": None}
    load_model_roles(specs)
    assert "Loading weights" not in capfd.readouterr().err
    load_model_roles(specs, verbose=True)
    assert "Loading weights" in capfd.readouterr().err


@pytest.mark.parametrize("verbose", [False, True])
def test_cli_verbose_reaches_model_loading_and_keeps_transformers_logs(monkeypatch, tmp_path, verbose):
    from agentime import api
    from agentime.cli import main

    seen = {}

    def fake_ask(video, question, **kwargs):
        seen.update(kwargs, env=os.environ.get("TRANSFORMERS_VERBOSITY"))
        raise ConfigError("stop here")

    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.setattr(api, "ask", fake_ask)
    video = tmp_path / "clip.mp4"
    assert main(["ask", str(video), "When?", "--quiet"] + (["--verbose"] if verbose else [])) == 2
    assert seen["config"].verbose is verbose
    assert seen["env"] == (None if verbose else "error")
