"""Evaluate tool-timing decisions on a TicToc data folder: the shipped policy, the global-threshold
baseline and, optionally, an OpenAI-compatible LLM alone and with the policy forcing `tool_choice`.

Reads every `prefer{Tool,NoTool}_elapse_{0,1,2}.json` present in DATA_DIR, prints the normalized
alignment rate (balanced accuracy), accuracy and the per-level, per-label breakdown; `--json` prints
one JSON object with a top-level `normalized_alignment` (the policy's). The threshold baseline is the
best single elapsed-seconds threshold fitted on DATA_DIR itself (an optimistic reference). `latency_ms` is the
time of one `decide` call on up to 100 of the samples, one at a time after warm-up, with the encoder's
text cache emptied first, and the torch threads and encoder variant it ran with; `cpu_median_ms` is the process CPU
time per decision, which a busy machine inflates far less than the wall time (with one torch thread the two
agree on an idle machine).

LLM protocol (as in the TicToc paper): each message's content is prefixed with its timestamp, the tool
schemas are offered, and a sample counts as "called" when the reply contains a tool call. With the
policy, `tool_choice` is forced to "required" or "none" from the policy's decision.

    python -m pipelines.eval_tictoc DATA_DIR [--json] [--llm MODEL@BASE_URL] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from agentime.errors import TimingError
from agentime.timing.conversation import read_conversation
from agentime.timing.format import LabeledSample, conversation_at, read_tictoc_dir
from agentime.timing.metrics import alignment_report, best_threshold
from agentime.timing.policy import ToolTimingPolicy


def timestamped_messages(messages: list[dict]) -> list[dict]:
    """OpenAI chat messages with `[time]` prefixed to each content, the `time` field removed."""
    out = []
    for message in messages:
        clean = {k: v for k, v in message.items() if k != "time"}
        if message.get("time") and clean.get("content") is not None:
            clean["content"] = f"[{message['time']}] {clean['content']}"
        elif message.get("time") and message.get("role") == "assistant":
            clean["content"] = f"[{message['time']}]"
        out.append(clean)
    return out


def parse_llm_spec(spec: str) -> tuple[str, str | None]:
    """`MODEL@BASE_URL` or `MODEL` (base URL then from OPENAI_BASE_URL)."""
    model, _, base_url = spec.partition("@")
    if not model:
        raise TimingError("--llm expects MODEL or MODEL@BASE_URL, e.g. qwen2.5-7b@http://localhost:8000/v1")
    return model, base_url or os.environ.get("OPENAI_BASE_URL")


def llm_calls_tool(client, model: str, messages: list[dict], tools: list, tool_choice: str | None) -> bool:
    kwargs = {"model": model, "messages": timestamped_messages(messages), "temperature": 0}
    if tools:
        kwargs["tools"] = tools
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
    reply = client.chat.completions.create(**kwargs)
    return bool(reply.choices[0].message.tool_calls)


def evaluate_llm(samples: list[LabeledSample], spec: str, decisions: list[bool]) -> dict:
    from openai import OpenAI

    model, base_url = parse_llm_spec(spec)
    client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"))
    alone, gated = [], []
    for item, policy_call in zip(samples, decisions):
        messages, tools, _ = conversation_at(item.sample, item.level)
        alone.append((item.level, item.prefer_tool, llm_calls_tool(client, model, messages, tools, None)))
        forced = "required" if policy_call else "none"
        gated.append((item.level, item.prefer_tool, llm_calls_tool(client, model, messages, tools, forced)))
    return {"model": model, "alone": alignment_report(alone), "with_policy": alignment_report(gated)}


LATENCY_SAMPLES = 100


def decision_latency(policy: ToolTimingPolicy, cases: list, count: int = LATENCY_SAMPLES) -> dict:
    """Milliseconds per `decide` call, one sample at a time after warm-up, with the encoder's text cache
    emptied first: each conversation's texts are embedded anew (tool descriptions repeat within a domain,
    as they do in a running agent, and are then cached)."""
    chosen = cases[:: max(1, len(cases) // count)][:count]
    if not chosen:
        return {"samples": 0}
    policy.decide(*chosen[0])  # warm-up: the encoder is loaded
    policy._encoder().clear_cache()
    times, cpu_times = [], []
    for messages, tools, now in chosen:
        started, cpu_started = time.perf_counter(), time.process_time()
        policy.decide(messages, tools, now)
        times.append(1000 * (time.perf_counter() - started))
        cpu_times.append(1000 * (time.process_time() - cpu_started))
    times.sort()
    cpu_times.sort()
    encoder = policy._encoder()
    return {"samples": len(times), "median_ms": round(times[len(times) // 2], 2),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2), "max_ms": round(times[-1], 2),
            "cpu_median_ms": round(cpu_times[len(cpu_times) // 2], 2),
            "threads": encoder.threads_for(4), "encoder": encoder.variant.name}


def evaluate(data_dir: str, llm: str | None = None, limit: int | None = None) -> dict:
    samples = read_tictoc_dir(data_dir)
    if limit:
        samples = samples[:limit]
    policy = ToolTimingPolicy()
    cases = [conversation_at(item.sample, item.level) for item in samples]
    started = time.perf_counter()
    decisions = policy.decide_many(cases)
    seconds = time.perf_counter() - started
    rows = [(i.level, i.prefer_tool, d.call) for i, d in zip(samples, decisions)]
    report = alignment_report(rows)
    elapsed = []
    for messages, tools, now in cases:
        value = read_conversation(messages, tools, now).elapsed_seconds_since_tool_result()
        elapsed.append(float("inf") if value is None else value)
    cut, _ = best_threshold(elapsed, [i.prefer_tool for i in samples])
    baseline = alignment_report((i.level, i.prefer_tool, e > cut) for i, e in zip(samples, elapsed))
    baseline["threshold_seconds"] = cut
    report["threshold_baseline"] = baseline
    report["batch_seconds_per_sample"] = seconds / max(1, len(samples))
    report["latency_ms"] = decision_latency(policy, cases)
    if llm:
        report["llm"] = evaluate_llm(samples, llm, [d.call for d in decisions])
    return report


def print_report(name: str, report: dict) -> None:
    print(f"{name}: normalized alignment {report['normalized_alignment']:.3f}, accuracy {report['accuracy']:.3f} "
          f"({report['samples']} samples)")
    for level, entry in report["per_level"].items():
        recalls = ", ".join(
            f"{label} {entry[label]['recall']:.3f} (n={entry[label]['samples']})"
            for label in ("preferTool", "preferNoTool")
            if label in entry
        )
        print(f"  level {level} ({entry['name']}): alignment {entry['normalized_alignment']:.3f}, "
              f"accuracy {entry['accuracy']:.3f}; recall {recalls}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--llm", metavar="SPEC", help="MODEL or MODEL@BASE_URL of an OpenAI-compatible server")
    parser.add_argument("--limit", type=int, help="evaluate only the first N samples")
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.data_dir, args.llm, args.limit)
    except TimingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_report("policy", report)
    latency = report["latency_ms"]
    if latency.get("samples"):
        print(f"  decision latency, one sample at a time: median {latency['median_ms']:.1f} ms, "
              f"90th percentile {latency['p90_ms']:.1f} ms ({latency['samples']} samples, "
              f"{latency['threads']} thread(s), {latency['encoder']} encoder)")
    print_report(f"threshold baseline (> {report['threshold_baseline']['threshold_seconds']:.0f} s)",
                 report["threshold_baseline"])
    if "llm" in report:
        print_report(f"LLM {report['llm']['model']} alone", report["llm"]["alone"])
        print_report(f"LLM {report['llm']['model']} with policy", report["llm"]["with_policy"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
