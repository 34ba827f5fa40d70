"""An example LangGraph tool-calling graph with the `timing_gate` between the user's turn and the tools.

The graph: START -> timing_gate -> (call) call_tools -> answer -> END, or (answer) answer -> END.
`call_tools` runs a stand-in flight-fare tool and `answer` writes a templated reply, so the example runs
offline without an LLM; in a real agent these are the model's tool-call and reply nodes, and the gate's
`tool_choice` goes into the model call. Run it to see the gate's decisions at three elapsed times:

    python -m pipelines.example_timing_graph
"""

from __future__ import annotations

import json
import operator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agentime.agent.timing_gate import TimingGate

FARE_TOOL = {
    "type": "function",
    "function": {
        "name": "search_flight_fares",
        "description": "Search the current fares for flights on a route and date.",
        "parameters": {"type": "object", "properties": {"route": {"type": "string"}}, "required": ["route"]},
    },
}


class AgentState(TypedDict, total=False):
    messages: Annotated[list[dict], operator.add]
    tools: list[dict]
    now: str | None
    timing_decision: dict
    tool_choice: str


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def call_tools(state: AgentState) -> dict:
    """Stand-in for the model's tool call and the tool node: fetch a fare."""
    now = state.get("now") or state["messages"][-1].get("time")
    call = {"id": "call_fare", "type": "function",
            "function": {"name": "search_flight_fares", "arguments": json.dumps({"route": "NYC-LAX"})}}
    return {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [call], "time": now},
            {"role": "tool", "tool_call_id": "call_fare", "name": "search_flight_fares",
             "content": json.dumps({"route": "NYC-LAX", "cheapest_fare": "212 USD"}), "time": now},
        ]
    }


def answer(state: AgentState) -> dict:
    """Stand-in for the model's reply: answer from the latest tool result in the conversation."""
    result = next((m["content"] for m in reversed(state["messages"]) if m["role"] == "tool"), "nothing yet")
    reason = state.get("timing_decision", {}).get("reason", "")
    return {"messages": [{"role": "assistant", "content": f"Based on {result} ({reason})",
                          "time": state.get("now") or state["messages"][-1].get("time")}]}


def build_graph(gate: TimingGate | None = None):
    gate = gate or TimingGate()
    builder = StateGraph(AgentState)
    builder.add_node("timing_gate", gate.node)
    builder.add_node("call_tools", call_tools)
    builder.add_node("answer", answer)
    builder.add_edge(START, "timing_gate")
    builder.add_conditional_edges("timing_gate", gate.route, {"call": "call_tools", "answer": "answer"})
    builder.add_edge("call_tools", "answer")
    builder.add_edge("answer", END)
    return builder.compile()


def example_history(start: datetime) -> list[dict]:
    t = lambda seconds: stamp(start + timedelta(seconds=seconds))  # noqa: E731
    call = {"id": "call_1", "type": "function",
            "function": {"name": "search_flight_fares", "arguments": json.dumps({"route": "NYC-LAX"})}}
    return [
        {"role": "system", "content": "You are a travel assistant that finds flight fares.", "time": t(0)},
        {"role": "user", "content": "What's the cheapest fare from NYC to LAX next Friday?", "time": t(0)},
        {"role": "assistant", "content": None, "tool_calls": [call], "time": t(3)},
        {"role": "tool", "tool_call_id": "call_1", "name": "search_flight_fares",
         "content": json.dumps({"route": "NYC-LAX", "cheapest_fare": "198 USD"}), "time": t(4)},
        {"role": "assistant", "content": "The cheapest fare is 198 USD.", "time": t(8)},
    ]


def main() -> None:
    graph = build_graph()
    print(graph.get_graph().draw_mermaid())
    start = datetime(2025, 6, 8, 10, 0, tzinfo=timezone.utc)
    for label, delay in (("1 minute", 60), ("5 hours", 5 * 3600), ("3 days", 3 * 86400)):
        moment = stamp(start + timedelta(seconds=8 + delay))
        question = {"role": "user", "content": "Is that fare still under 200 USD?", "time": moment}
        state: dict[str, Any] = {"messages": example_history(start) + [question], "tools": [FARE_TOOL]}
        final = graph.invoke(state)
        decision = final["timing_decision"]
        print(f"after {label}: call={decision['call']} p={decision['probability']:.2f} -> {decision['reason']}")


if __name__ == "__main__":
    main()
