"""The one typed configuration: sections per layer, a TOML file and `--set` settings, refused clearly when wrong,
and reaching the search through `Session`, `ask` and the CLI."""

from __future__ import annotations

import pytest

from agentime.cli import build_parser, config_from_args
from agentime.config import Config, SearchConfig, SpecTempConfig, TimeSearchConfig
from agentime.errors import ConfigError


def test_settings_reach_each_section_with_their_types():
    config = Config().with_settings(["search.timesearch.zoom_seconds=8", "search.budget=32", "models.draft=none",
                                     "timing.gate=always", "timing.use_policy=false", "video.overview_fps=2"])
    assert config.search.timesearch == TimeSearchConfig(zoom_seconds=8.0)
    assert config.search.budget == 32 and config.search.spectemp == SpecTempConfig()
    assert config.models.draft is None and config.models.target == "embedded:target"
    assert config.timing.gate == "always" and config.timing.use_policy is False
    assert config.video.overview_fps == 2.0


@pytest.mark.parametrize("setting,match", [
    ("search.timesearch.spotlight=3", "unknown setting search.timesearch.spotlight"),
    ("search.budget=lots", "search.budget takes int"),
    ("search.budget=0", "positive number of target frames"),
    ("timing.gate=sometimes", "timing.gate must be"),
    ("search.spectemp=3", "is a section"),
    ("budget", "name=value"),
])
def test_bad_settings_are_refused_by_name(setting, match):
    with pytest.raises(ConfigError, match=match):
        Config().with_settings([setting])


def test_a_toml_file_then_command_options_then_set(tmp_path):
    path = tmp_path / "agentime.toml"
    path.write_text('[search]\nbudget = 20\n[search.spectemp]\nrounds = 2\n[video]\noverview_fps = 0.5\n'
                    '[models]\ntarget = "hf:/models/big"\n')
    args = build_parser().parse_args(["ask", "v.mp4", "q?", "--config", str(path), "--fps", "2",
                                      "--set", "search.spectemp.rounds=4", "--cache", str(tmp_path / "c")])
    config = config_from_args(args)
    assert config.search == SearchConfig(budget=20, spectemp=SpecTempConfig(rounds=4))
    assert config.video.overview_fps == 2.0 and config.models.target == "hf:/models/big"
    assert config.cache_dir == tmp_path / "c"
    path.write_text("[search]\nbudget = 'many'\n")
    with pytest.raises(ConfigError, match="search.budget takes int"):
        Config.from_toml(path)
    path.write_text("[search\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.from_toml(path)


def test_the_cli_refuses_a_bad_setting_in_one_line(tmp_path, capsys):
    from agentime.cli import main

    assert main(["ask", str(tmp_path / "none.mp4"), "q?", "--set", "search.zoom=2"]) == 2
    err = capsys.readouterr().err
    assert "unknown setting search.zoom" in err and "Traceback" not in err
