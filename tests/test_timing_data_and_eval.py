"""The TicToc-style generator (domains, patterns, labelling rule, file format) and the evaluation CLI."""

import json
import shutil
from pathlib import Path

from agentime.timing.format import context_variant_of, domain_of, read_tictoc_dir
from pipelines.bench import eval_tictoc
from pipelines.synthetic import make_tictoc

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "tictoc" / "train"


def test_generator_covers_many_domains_across_time_scales():
    domains = make_tictoc.load_domains()
    assert len(domains) >= 150 and len({d.key for d in domains}) == len(domains)
    scales = sorted(d.timescale_seconds for d in domains)
    assert scales[0] <= 30 and scales[-1] >= 365 * 86400
    assert sum(60 * 60 <= s <= 86400 for s in scales) >= 15  # the middle of the range is covered too
    heldout, train = make_tictoc.select_domains("heldout"), make_tictoc.select_domains("train")
    assert heldout and not set(d.key for d in heldout) & set(d.key for d in train)


def test_generated_files_follow_the_rule_and_the_format(tmp_path):
    make_tictoc.main([str(tmp_path), "--per-domain", "5", "--seed", "3"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"prefer{l}_elapse_{i}.json" for l in ("Tool", "NoTool") for i in range(3))
    labeled = read_tictoc_dir(tmp_path)
    timescales = make_tictoc.timescales()
    variants = {context_variant_of(i.sample.id) for i in labeled}
    assert {"in_context_cnt", "request_repeat", "rep_after_failure", "usr_confirm"} <= variants
    for item in labeled:
        history = item.sample.history
        assert history[-1]["role"] == "user" and len(history[-1]["time"]) == 3
        assert domain_of(item.sample.id) in timescales
        variant = context_variant_of(item.sample.id)
        if variant in ("request_repeat", "rep_after_failure", "usr_confirm"):
            assert item.prefer_tool
        if variant == "in_context_cnt":
            tool_time = next(m["time"] for m in reversed(history) if m["role"] == "tool")
            from agentime.timing.conversation import parse_time

            elapsed = (parse_time(history[-1]["time"][item.level]) - parse_time(tool_time)).total_seconds()
            assert item.prefer_tool == (elapsed > timescales[domain_of(item.sample.id)])
    first = json.loads((tmp_path / "preferTool_elapse_2.json").read_text())[0]
    assert set(first) == {"id", "history", "function"} and first["function"][0]["type"] == "function"


def test_eval_cli_prints_alignment_json_on_a_subset(tmp_path, capsys):
    for name in ("preferNoTool_elapse_1.json", "preferTool_elapse_1.json"):
        shutil.copy(SHARED / name, tmp_path)
    assert eval_tictoc.main([str(tmp_path), "--json", "--limit", "60"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["normalized_alignment"] <= 1.0 and report["samples"] == 60
    assert set(report["per_level"]) == {"1"} and "threshold_baseline" in report
    latency = report["latency_ms"]  # reported, never asserted against a time
    assert latency["samples"] == 60 and 0 < latency["median_ms"] <= latency["p90_ms"] <= latency["max_ms"]
    assert eval_tictoc.main([str(tmp_path), "--limit", "40"]) == 0
    text = capsys.readouterr().out
    assert "policy: normalized alignment" in text and "level 1 (medium)" in text and "threshold baseline" in text
    assert "decision latency" in text
    assert eval_tictoc.main([str(tmp_path / "nothing_here")]) == 2


def test_llm_protocol_prefixes_timestamps():
    messages = [{"role": "user", "content": "hi", "time": "2025-01-01T00:00:00Z"},
                {"role": "assistant", "content": None, "tool_calls": [], "time": "2025-01-01T00:00:01Z"}]
    stamped = eval_tictoc.timestamped_messages(messages)
    assert stamped[0] == {"role": "user", "content": "[2025-01-01T00:00:00Z] hi"}
    assert "time" not in stamped[1]
    assert eval_tictoc.parse_llm_spec("qwen@http://localhost:8000/v1") == ("qwen", "http://localhost:8000/v1")
