"""Imperfect conversations: documented fallbacks apply and real errors are TimingError, never a crash."""

import json

import pytest

from agentime.errors import TimingError
from agentime.timing.conversation import read_conversation
from agentime.timing.policy import ToolTimingPolicy

TOOLS = [{"type": "function", "function": {"name": "get_crypto_price", "description": "Live crypto price.", "parameters": {}}}]


def history(times=("2025-01-01T10:00:00Z", "2025-01-01T10:00:02Z", "2025-01-01T10:00:03Z", "2025-01-01T10:00:05Z")):
    call = {"id": "c1", "type": "function", "function": {"name": "get_crypto_price", "arguments": '{"coin": "BTC"}'}}
    messages = [
        {"role": "user", "content": "BTC price?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_crypto_price", "content": '{"price": 64000}'},
        {"role": "assistant", "content": "BTC is at 64,000 USD."},
    ]
    for message, moment in zip(messages, times):
        if moment is not None:
            message["time"] = moment
    return messages


@pytest.fixture(scope="module")
def policy():
    return ToolTimingPolicy()


def test_untimed_messages_inherit_and_fully_untimed_means_one_sitting(policy):
    messages = history(times=(None, None, None, None)) + [{"role": "user", "content": "Is it above 60k?"}]
    conversation = read_conversation(messages, TOOLS)
    assert conversation.elapsed_seconds_since_tool_result() == 0.0
    assert any("one sitting" in note for note in conversation.notes)
    decision = policy.decide(messages, TOOLS)
    assert decision.elapsed_seconds == 0.0 and any("one sitting" in n for n in decision.notes)
    partly = history(times=("2025-01-01T10:00:00Z", None, None, None)) + [
        {"role": "user", "content": "Is it above 60k?", "time": "2025-01-01T12:00:00Z"}
    ]
    assert read_conversation(partly, TOOLS).elapsed_seconds_since_tool_result() == 7200.0


def test_naive_and_offset_timestamps_are_read_as_utc():
    naive = history(times=("2025-01-01T10:00:00", "2025-01-01T10:00:02", "2025-01-01T10:00:03", "2025-01-01T10:00:05"))
    naive.append({"role": "user", "content": "and now?", "time": "2025-01-01T13:00:03+02:00"})  # 11:00:03 UTC
    assert read_conversation(naive, TOOLS).elapsed_seconds_since_tool_result() == 3600.0


def test_times_going_backwards_are_clamped_or_rejected_when_strict():
    messages = history() + [{"role": "user", "content": "and now?", "time": "2024-12-31T10:00:00Z"}]
    conversation = read_conversation(messages, TOOLS)
    assert conversation.elapsed_seconds_since_tool_result() == 2.0
    assert any("backwards" in note for note in conversation.notes)
    with pytest.raises(TimingError, match="earlier"):
        read_conversation(messages, TOOLS, strict=True)
    earlier_now = read_conversation(history() + [{"role": "user", "content": "x"}], TOOLS, now="2020-01-01T00:00:00Z")
    assert earlier_now.elapsed_seconds_since_tool_result() == 0.0


def test_unknown_role_bad_time_and_shapes_raise_timing_error(policy):
    with pytest.raises(TimingError, match="unknown role 'robot'"):
        policy.decide(history() + [{"role": "robot", "content": "beep"}], TOOLS)
    with pytest.raises(TimingError, match="ISO-8601"):
        read_conversation(history() + [{"role": "user", "content": "x", "time": "yesterday"}], TOOLS)
    with pytest.raises(TimingError, match="non-empty list"):
        policy.decide([], TOOLS)
    with pytest.raises(TimingError, match="no user message"):
        read_conversation([{"role": "system", "content": "hi"}], TOOLS)
    with pytest.raises(TimingError, match="no function name"):
        read_conversation(history() + [{"role": "user", "content": "x"}], [{"type": "function", "function": {}}])
    with pytest.raises(TimingError, match="tool_calls"):
        read_conversation([{"role": "assistant", "content": None, "tool_calls": "oops"}, {"role": "user", "content": "x"}])


def test_malformed_tool_call_json_is_kept_as_text(policy):
    messages = history()
    messages[1]["tool_calls"][0]["function"]["arguments"] = '{"coin": BTC'
    messages.append({"role": "user", "content": "Check the price again please", "time": "2025-01-01T10:30:00Z"})
    conversation = read_conversation(messages, TOOLS)
    assert conversation.messages[1].tool_calls[0].arguments is None
    assert conversation.messages[1].tool_calls[0].raw_arguments == '{"coin": BTC'
    decision = policy.decide(messages, TOOLS)
    assert 0.0 <= decision.probability <= 1.0 and any("not JSON" in n for n in decision.notes)


def test_no_tools_means_answer_directly(policy):
    messages = history() + [{"role": "user", "content": "Check the price again", "time": "2025-01-03T10:00:00Z"}]
    for tools in (None, []):
        decision = policy.decide(messages, tools)
        assert decision.call is False and "no tools" in decision.reason
    assert policy.decide(messages, TOOLS).call is True  # the same turn with a tool on offer


def test_content_parts_and_dict_tool_results_are_read():
    messages = history()
    messages[2]["content"] = {"price": 64000}
    messages.append({"role": "user", "content": [{"type": "text", "text": "and now?"}], "time": "2025-01-01T10:01:00Z"})
    conversation = read_conversation(messages, TOOLS)
    assert json.loads(conversation.messages[2].content) == {"price": 64000}
    assert conversation.messages[-1].content == "and now?"


def test_other_time_formats_are_read_and_garbage_is_a_clear_error():
    from agentime.timing.conversation import parse_time

    expected = parse_time("2025-01-01T10:00:00Z")
    for value in ("2025-01-01 10:00:00", "2025/01/01 10:00", "Wed, 01 Jan 2025 12:00:00 +0200", 1735725600, "1735725600000"):
        assert parse_time(value) == expected, value
    messages = history(times=(1735725600, 1735725602, "2025-01-01 10:00:03", "Wed, 01 Jan 2025 10:00:05 GMT"))
    messages.append({"role": "user", "content": "and now?", "time": "2025-01-01T11:00:13+01:00"})  # 10:00:13 UTC
    assert read_conversation(messages, TOOLS).elapsed_seconds_since_tool_result() == 10.0
    with pytest.raises(TimingError, match="cannot read 'soon'"):
        parse_time("soon")


WARRANTY = {"type": "function", "function": {"name": "get_warranty_terms", "description": "The warranty terms of a product.", "parameters": {}}}


def warranty_turn(result: str | None, answer: str = "Your kettle has a 2-year warranty.") -> list[dict]:
    """After the crypto turn of `history()`, a second tool is called; its result is the last one."""
    call = {"id": "c2", "type": "function", "function": {"name": "get_warranty_terms", "arguments": '{"product": "kettle"}'}}
    return history() + [
        {"role": "user", "content": "What's the warranty on my kettle?", "time": "2025-01-01T10:01:00Z"},
        {"role": "assistant", "content": None, "tool_calls": [call], "time": "2025-01-01T10:01:02Z"},
        {"role": "tool", "tool_call_id": "c2", "name": "get_warranty_terms", "content": result, "time": "2025-01-01T10:01:03Z"},
        {"role": "assistant", "content": answer, "time": "2025-01-01T10:01:05Z"},
        {"role": "user", "content": "So is a 3 year old kettle covered?", "time": "2025-01-01T10:01:20Z"},
    ]


def test_several_tools_the_one_called_last_sets_the_timescale(policy):
    tools = TOOLS + [WARRANTY]
    after_warranty = policy.decide(warranty_turn('{"product": "kettle", "warranty_years": 2}'), tools)
    assert "get_warranty_terms" in after_warranty.reason and "get_crypto_price" not in after_warranty.reason
    crypto_again = history() + [{"role": "user", "content": "Is it above 60k?", "time": "2025-01-01T10:01:20Z"}]
    after_crypto = policy.decide(crypto_again, tools)
    assert "get_crypto_price" in after_crypto.reason
    assert after_warranty.timescale_seconds > 100 * after_crypto.timescale_seconds
    assert not after_warranty.call  # 15 s after a warranty lookup: answer from it
    # two calls in one assistant turn (parallel tool calls): the result written last counts
    parallel = warranty_turn('{"warranty_years": 2}')
    parallel[5]["tool_calls"].insert(0, dict(parallel[1]["tool_calls"][0], id="c3"))
    parallel.insert(6, {"role": "tool", "tool_call_id": "c3", "name": "get_crypto_price", "content": '{"price": 64100}',
                        "time": "2025-01-01T10:01:03Z"})
    assert "get_warranty_terms" in policy.decide(parallel, tools).reason


def test_error_results_never_raise_and_lean_to_calling(policy):
    tools = TOOLS + [WARRANTY]
    fine = policy.decide(warranty_turn('{"product": "kettle", "warranty_years": 2}'), tools)
    for result in ('{"error": "rate limited"}', "Error: 503 Service Unavailable", '{"status": "failed"}'):
        failed = policy.decide(warranty_turn(result, "Sorry, I could not get the warranty terms just now."), tools)
        assert failed.call and failed.probability > fine.probability, result
        assert "the last call of get_warranty_terms failed 17 s ago" in failed.reason, failed.reason
    for empty in (None, "", "[]"):
        decision = policy.decide(warranty_turn(empty), tools)
        assert 0.0 <= decision.probability <= 1.0 and "get_warranty_terms" in decision.reason


def test_very_long_histories_are_read_whole_with_bounded_notes(policy):
    turns = history() * 2500  # 10,000 messages whose times restart every four messages (3 of 4 go back)
    messages = turns + [{"role": "user", "content": "Is it above 60k?", "time": "2025-01-01T10:30:05Z"}]
    decision = policy.decide(messages, TOOLS)
    assert decision.elapsed_seconds == 1800.0  # from the last result, raised to the latest time seen before it
    assert len(decision.notes) <= 3 and "at 7497 message(s)" in decision.notes[0]
    assert len(decision.reason) < 400


def test_clock_skew_and_untimed_results_are_explained_not_raised(policy):
    skewed = history() + [{"role": "user", "content": "Is it above 60k?"}]
    decision = policy.decide(skewed, TOOLS, now="2025-01-01T09:59:00Z")  # a minute before the first message
    assert decision.elapsed_seconds == 0.0 and "clock is unsure" in decision.reason
    with pytest.raises(TimingError, match="now is earlier"):
        ToolTimingPolicy(policy.weights, policy.encoder, strict=True).decide(skewed, TOOLS, now="2025-01-01T09:59:00Z")
    untimed = history(times=(None, None, None, None)) + [{"role": "user", "content": "Is it above 60k?"}]
    decision = policy.decide(untimed, TOOLS, now="2025-01-01T10:00:00Z")
    assert decision.elapsed_seconds == 0.0 and "the last tool result has no time" in " ".join(decision.notes)
    assert "clock is unsure" in decision.reason


def test_other_zones_and_formats_give_the_same_decision(policy):
    utc = history() + [{"role": "user", "content": "Is it above 60k?", "time": "2025-01-01T10:20:05Z"}]
    zoned = history(times=("2025-01-01T15:30:00+05:30", "2025-01-01 10:00:02", 1735725603,
                           "Wed, 01 Jan 2025 05:00:05 -0500"))
    zoned.append({"role": "user", "content": "Is it above 60k?", "time": "2025-01-01T11:20:05+01:00"})
    first, second = policy.decide(utc, TOOLS), policy.decide(zoned, TOOLS)
    assert first.elapsed_seconds == second.elapsed_seconds == 1202.0  # the result came at 10:00:03 UTC
    assert first.call == second.call and abs(first.probability - second.probability) < 1e-6
