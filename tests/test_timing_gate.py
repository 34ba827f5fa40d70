"""The timing gate as a LangGraph node and conditional edge inside a small tool-calling graph."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.messages import HumanMessage

from agentime.agent.timing_gate import TimingGate
from agentime.errors import TimingError
from pipelines.examples.timing_graph import FARE_TOOL, build_graph, example_history, stamp

START = datetime(2025, 6, 8, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def graph():
    return build_graph(TimingGate())


def run(graph, question: str, delay_seconds: float) -> dict:
    moment = stamp(START + timedelta(seconds=8 + delay_seconds))
    messages = example_history(START) + [{"role": "user", "content": question, "time": moment}]
    return graph.invoke({"messages": messages, "tools": [FARE_TOOL]})


def tool_results(state: dict) -> int:
    return sum(1 for m in state["messages"] if m["role"] == "tool")


def test_fresh_result_is_answered_without_a_tool_call(graph):
    final = run(graph, "Is that fare under 200 USD?", 30)
    assert final["timing_decision"]["call"] is False and final["tool_choice"] == "none"
    assert tool_results(final) == 1  # only the original lookup
    assert final["messages"][-1]["role"] == "assistant"


def test_stale_result_routes_through_the_tools(graph):
    final = run(graph, "Is that fare under 200 USD?", 5 * 86400)
    assert final["timing_decision"]["call"] is True and final["tool_choice"] == "required"
    assert tool_results(final) == 2  # the gate sent the graph through call_tools
    assert "212 USD" in final["messages"][-1]["content"]


def test_gate_reads_langchain_messages_and_falls_back_on_bad_input():
    gate = TimingGate()
    out = gate.node({"messages": [HumanMessage("what's the fare?", additional_kwargs={"time": "2025-06-08T10:00:00Z"})], "tools": [FARE_TOOL]})
    assert out["timing_decision"]["call"] is True  # no tool result yet: fetch it
    bad = {"messages": [{"role": "robot", "content": "beep"}], "tools": [FARE_TOOL]}
    assert gate.node(bad)["timing_decision"]["call"] is True and "fallback" in gate.node(bad)["timing_decision"]["reason"]
    assert TimingGate(on_error="answer").node(bad)["tool_choice"] == "none"
    with pytest.raises(TimingError):
        TimingGate(on_error="raise").node(bad)
    assert TimingGate.route({"timing_decision": {"call": True}}) == "call"
    assert TimingGate.route({}) == "answer"


def test_graph_draws_offline(graph):
    mermaid = graph.get_graph().draw_mermaid()
    assert "timing_gate" in mermaid and "call_tools" in mermaid and json.dumps(FARE_TOOL)
