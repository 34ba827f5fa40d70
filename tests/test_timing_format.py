"""TicToc format: byte-exact round trip of the published files, level variants, plain message lists."""

import json
import shutil
from pathlib import Path

import pytest

from agentime.errors import TimingError
from agentime.timing.format import (
    LabeledSample,
    conversation_at,
    domain_of,
    dumps_tictoc,
    read_tictoc_dir,
    read_tictoc_file,
    sample_from_messages,
    write_tictoc_dir,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "tictoc" / "train"


def test_published_files_round_trip_byte_exact(tmp_path):
    for name in ("preferNoTool_elapse_1.json", "preferTool_elapse_0.json", "preferNoTool_elapse_0.json"):
        original = (SHARED / name).read_text(encoding="utf-8")
        samples = read_tictoc_file(SHARED / name)
        assert dumps_tictoc(samples) == original


def test_directory_round_trip_keeps_labels_and_levels(tmp_path):
    source = tmp_path / "subset"
    source.mkdir()
    shutil.copy(SHARED / "preferNoTool_elapse_1.json", source)
    shutil.copy(SHARED / "preferNoTool_elapse_0.json", source)
    labeled = read_tictoc_dir(source)
    assert {(i.prefer_tool, i.level) for i in labeled} == {(False, 0), (False, 1)}
    counts = write_tictoc_dir(tmp_path / "out", labeled)
    assert counts["preferNoTool_elapse_1.json"] == 20 and counts["preferTool_elapse_2.json"] == 0
    again = read_tictoc_dir(tmp_path / "out")
    assert [(i.sample, i.prefer_tool, i.level) for i in again] == [(i.sample, i.prefer_tool, i.level) for i in labeled]


def test_conversation_at_picks_the_level_time():
    sample = read_tictoc_file(SHARED / "preferNoTool_elapse_1.json")[0]
    for level in (0, 1, 2):
        messages, tools, now = conversation_at(sample, level)
        assert messages[-1]["time"] == sample.history[-1]["time"][level]
        assert now.isoformat().startswith(sample.history[-1]["time"][level][:19])
        assert tools == sample.function
    assert isinstance(sample.history[-1]["time"], list)  # the sample itself is not modified


def test_plain_messages_become_a_sample_and_back(tmp_path):
    messages = [
        {"role": "user", "content": "price of BTC?", "time": "2025-01-01T10:00:00+02:00"},
        {"role": "tool", "content": "{\"price\": 1}", "time": "2025-01-01T08:00:05Z"},
        {"role": "user", "content": "and now?"},
    ]
    sample = sample_from_messages("crypto_1", messages, [], ["2025-01-01T08:01:00Z", "2025-01-01T12:00:00Z", "2025-01-03T08:00:00Z"])
    assert sample.history[0]["time"] == "2025-01-01T08:00:00Z"  # converted to UTC
    write_tictoc_dir(tmp_path, [LabeledSample(sample, True, 2)])
    loaded = read_tictoc_dir(tmp_path)
    assert loaded[0].sample == sample and loaded[0].level == 2 and loaded[0].prefer_tool
    with pytest.raises(TimingError):
        sample_from_messages("x", messages[:2], [], ["2025-01-01T08:01:00Z"] * 3)


def test_domain_of_strips_counter_and_context_variant():
    assert domain_of("delivery_tracking_12") == "delivery_tracking"
    assert domain_of("Tee_Time_Booker_rep_after_failure_3") == "Tee_Time_Booker"
    assert domain_of("cloud_server_load_balancer_in_context_cnt_7") == "cloud_server_load_balancer"
    assert domain_of("flight_usrconfirm_001") == "flight"


def test_malformed_files_raise_timing_error(tmp_path):
    bad = tmp_path / "preferTool_elapse_0.json"
    bad.write_text(json.dumps([{"id": "a", "history": [{"role": "user", "content": "hi", "time": "2025-01-01T00:00:00Z"}], "function": []}]))
    with pytest.raises(TimingError, match="3 moments"):
        read_tictoc_dir(tmp_path)
    bad.write_text("{not json")
    with pytest.raises(TimingError, match="not valid JSON"):
        read_tictoc_file(bad)
    with pytest.raises(TimingError, match="not a folder"):
        read_tictoc_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TimingError, match="no prefer"):
        read_tictoc_dir(tmp_path / "empty")


def test_importing_the_timing_package_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, agentime.timing, agentime.agent.timing_gate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
