"""Loading the shipped models prints nothing by default; verbose loading keeps transformers' own output."""

from agentime.vlm.registry import load_embedder


def test_shipped_embedder_loads_without_bars_or_config_warnings(capfd):
    load_embedder("embedded:embedder")
    err = capfd.readouterr().err
    assert "Loading weights" not in err
    assert "bos_token_id" not in err and "eos_token_id" not in err


def test_verbose_loading_shows_the_progress_bar(capfd):
    load_embedder("embedded:embedder", verbose=True)
    assert "Loading weights" in capfd.readouterr().err
