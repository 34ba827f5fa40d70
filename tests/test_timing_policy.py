"""The shipped policy: each context pattern moves the decision the right way, elapsed time and the
tool's pace matter, quality holds on unseen generated domains and the shared split, and the latency
is reported (not asserted)."""

import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agentime.timing.format import conversation_at, read_tictoc_dir
from agentime.timing.metrics import normalized_alignment
from agentime.timing.policy import ToolTimingPolicy
from pipelines.synthetic import make_tictoc

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "tictoc" / "train"
START = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def tool(name: str, description: str) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {"type": "object", "properties": {}}}}


FARES = [
    tool("lookup_airfare", "Look up current airfares between two airports for a travel date."),
    tool("purchase_ticket", "Purchase a ticket on a given flight for a passenger."),
]


def fare_conversation(follow_up: str, elapsed: float, result: str | None = None, answer: str | None = None) -> list[dict]:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup_airfare", "arguments": '{"from": "BOS", "to": "DEN"}'}}
    return [
        {"role": "system", "content": "You help travellers plan trips.", "time": at(0)},
        {"role": "user", "content": "How much is a flight from Boston to Denver on May 3?", "time": at(0)},
        {"role": "assistant", "content": None, "tool_calls": [call], "time": at(2)},
        {"role": "tool", "tool_call_id": "c1", "name": "lookup_airfare",
         "content": result or '{"from": "BOS", "to": "DEN", "lowest_fare_usd": 243, "carrier": "JetBlue"}', "time": at(3)},
        {"role": "assistant", "content": answer or "The lowest fare from Boston to Denver on May 3 is 243 USD with JetBlue.", "time": at(6)},
        {"role": "user", "content": follow_up, "time": at(3 + elapsed)},
    ]


@pytest.fixture(scope="module")
def policy():
    return ToolTimingPolicy()


def p(policy, messages, tools=FARES) -> float:
    return policy.decide(messages, tools).probability


def test_probability_grows_with_elapsed_time(policy):
    question = "Would 243 dollars fit a 300 dollar budget?"
    probabilities = [p(policy, fare_conversation(question, e)) for e in (30, 3 * 3600, 20 * 86400)]
    assert probabilities[0] < probabilities[1] < probabilities[2]
    assert not policy.decide(fare_conversation(question, 30), FARES).call
    assert policy.decide(fare_conversation(question, 20 * 86400), FARES).call


def test_timescale_follows_how_fast_the_tool_world_changes(policy):
    def timescale(tools, system):
        messages = [{"role": "system", "content": system, "time": at(0)}, {"role": "user", "content": "hello", "time": at(1)}]
        return policy.decide(messages, tools).timescale_seconds

    monitor = timescale([tool("read_bedside_monitor", "Live heart rate and blood oxygen of a patient in intensive care.")], "You assist ICU nurses.")
    fares = timescale(FARES, "You help travellers plan trips.")
    degree = timescale([tool("program_requirements", "Courses and credits required to graduate from a university degree program.")], "You advise students.")
    assert monitor < fares < degree
    assert monitor < 600 and degree > 7 * 86400


def test_answer_in_conversation_leans_to_answering(policy):
    in_context = p(policy, fare_conversation("So the JetBlue fare was 243 dollars, right?", 1800))
    new_item = p(policy, fare_conversation("What does a flight from Chicago to Miami on June 9 cost?", 1800))
    assert in_context < new_item


def test_failed_last_call_leans_to_calling(policy):
    question = "What was the fare again?"
    ok = p(policy, fare_conversation(question, 600))
    failed = p(policy, fare_conversation(question, 600, result='{"status": "error", "message": "upstream fare service timed out"}',
                                         answer="Sorry, the fare search did not work this time."))
    assert failed > ok


def test_explicit_request_to_check_again_leans_to_calling(policy):
    plain = p(policy, fare_conversation("OK, 243 it is.", 120))
    again = p(policy, fare_conversation("Could you search the fare one more time to make sure it's current?", 120))
    assert again > plain
    assert policy.decide(fare_conversation("Could you search the fare one more time to make sure it's current?", 120), FARES).call


def test_confirming_a_proposed_action_leans_to_calling(policy):
    proposal = "The lowest fare is 243 USD with JetBlue. Shall I purchase this ticket for you?"
    confirmed = p(policy, fare_conversation("Yes, go ahead and buy it.", 60, answer=proposal))
    declined = p(policy, fare_conversation("Thanks, that's all for now.", 60, answer=proposal))
    assert confirmed > declined
    assert policy.decide(fare_conversation("Yes, go ahead and buy it.", 60, answer=proposal), FARES).call


def test_quality_on_unseen_generated_domains_and_the_shared_split(policy, tmp_path):
    # held-out domains were never in training; seed 12345 was never used for generation in training
    labeled = make_tictoc.generate(make_tictoc.select_domains("heldout"), per_domain=6, seed=12345)
    decisions = policy.decide_many([conversation_at(i.sample, i.level) for i in labeled])
    heldout = normalized_alignment([i.prefer_tool for i in labeled], [d.call for d in decisions])
    shared = read_tictoc_dir(SHARED)
    shared_decisions = policy.decide_many([conversation_at(i.sample, i.level) for i in shared])
    fit = normalized_alignment([i.prefer_tool for i in shared], [d.call for d in shared_decisions])
    print(json.dumps({"heldout_domains_alignment": heldout, "samples": len(labeled), "shared_split_alignment": fit}))
    assert heldout >= 0.90
    assert fit >= 0.90


def test_decision_latency_is_reported(policy):
    messages = fare_conversation("Is it still 243?", 4000)
    policy.decide(messages, FARES)  # warm-up
    timings = []
    for index in range(20):
        messages[-1]["content"] = f"Is it still 243? ({index})"  # a new user turn each time: no cache hit
        started = time.perf_counter()
        policy.decide(messages, FARES)
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(json.dumps({"decision_latency_ms_median": 1000 * timings[len(timings) // 2]}))
    assert all(t > 0 for t in timings)


def new_item_at_small_elapsed(seed: int) -> list[tuple[list[dict], list[dict], None]]:
    """One generated new-item follow-up per held-out domain, asked 5 s to 400 s after the tool result."""
    rng = random.Random(seed)
    cases = []
    for domain in make_tictoc.select_domains("heldout"):
        history, tools = make_tictoc.make_conversation(rng, domain, "new_item")
        result_time = datetime.strptime(history[-3]["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        history[-1]["time"] = (result_time + timedelta(seconds=10 ** rng.uniform(0.7, 2.6))).strftime("%Y-%m-%dT%H:%M:%SZ")
        cases.append((history, tools, None))
    return cases


def test_new_item_at_small_elapsed_time_calls_on_unseen_domains(policy):
    # the answer about a new item is not in the conversation however fresh the last result is; held-out
    # domains and seed 4242 were never used in training (before the item cue, 2 of 31 were called; with
    # the request-word cue and the time words of the tool description, 22 of 31)
    cases = new_item_at_small_elapsed(4242)
    recall = sum(d.call for d in policy.decide_many(cases)) / len(cases)
    in_context = p(policy, fare_conversation("So the JetBlue fare was 243 dollars, right?", 60))
    new_route = p(policy, fare_conversation("What about Chicago to Miami?", 60))
    print(json.dumps({"new_item_small_elapsed_recall": recall, "cases": len(cases)}))
    assert recall >= 0.6
    assert new_route > in_context


def live_conversation(tool_name: str, description: str, result: str, follow_up: str, elapsed: float) -> tuple[list, list]:
    call = {"id": "c1", "type": "function", "function": {"name": tool_name, "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "What does it show?", "time": at(0)},
        {"role": "assistant", "content": None, "tool_calls": [call], "time": at(1)},
        {"role": "tool", "tool_call_id": "c1", "name": tool_name, "content": result, "time": at(2)},
        {"role": "assistant", "content": f"It shows {result}.", "time": at(4)},
        {"role": "user", "content": follow_up, "time": at(2 + elapsed)},
    ]
    return messages, [tool(tool_name, description)]


# tools that are neither in the generated table nor in the shared split (kindred ones are: a kiln is not an oven)
FAST_UNSEEN = (
    ("read_kiln_thermocouple", "Temperature readings from a pottery kiln's thermocouple.", '{"kiln": "K2", "temperature_c": 1184}',
     "If it climbs another 20 degrees, what will it read?"),
    ("get_padel_match", "Score of a padel match being played.", '{"match": "court 3", "score": "6-4, 3-2"}',
     "How many games has the leading pair won so far?"),
    ("get_carbon_credit_quote", "Bid and ask of carbon credits on the trading venue.", '{"bid": 71.2, "ask": 71.5}',
     "What is the spread between those two?"),
    ("get_cafeteria_queue", "Queue length at the campus cafeteria counters.", '{"counter": "grill", "people_waiting": 14}',
     "At a minute per person, how long would I wait?"),
)
SLOW_UNSEEN = (
    ("get_lighthouse_history", "Historical facts about a lighthouse: when it was built and by whom.",
     '{"lighthouse": "Hook Head", "built": 1245}', "How old is it then?"),
    ("get_warranty_terms", "The warranty terms and coverage of a product.", '{"product": "kettle", "warranty_years": 2}',
     "So is a 3-year-old kettle still covered?"),
)


def test_fast_changing_information_is_refreshed_after_minutes_on_unseen_tools(policy):
    # the weak spot: a few minutes have passed and the tool's information changes by the minute
    fast = [policy.decide(*live_conversation(*case, elapsed=240)) for case in FAST_UNSEEN]
    slow = [policy.decide(*live_conversation(*case, elapsed=240)) for case in SLOW_UNSEEN]
    print(json.dumps({"fast_called": [d.call for d in fast], "slow_called": [d.call for d in slow],
                      "fast_timescales_s": [round(d.timescale_seconds) for d in fast]}))
    assert sum(d.call for d in fast) >= 3 and not any(d.call for d in slow)
    assert max(d.timescale_seconds for d in fast) < min(d.timescale_seconds for d in slow)
    # the same fast tool a few seconds after its result: no need to look again
    assert not policy.decide(*live_conversation(*FAST_UNSEEN[0], elapsed=3)).call


def test_reason_names_the_tool_its_freshness_and_the_elapsed_time(policy):
    decision = policy.decide(*live_conversation(*FAST_UNSEEN[0], elapsed=240))
    assert "read_kiln_thermocouple" in decision.reason and "4.0 min ago" in decision.reason
    assert "stays fresh for about" in decision.reason


def repeated_question(tool_name: str, description: str, result: str, elapsed: float) -> tuple[list, list]:
    """The user asks their first question again, word for word, `elapsed` seconds after the tool's result."""
    messages, tools = live_conversation(tool_name, description, result, "What does it show right now?", elapsed)
    messages[0]["content"] = "What does it show right now?"
    return messages, tools


def test_a_repeated_question_leans_towards_calling_only_once_time_has_passed(policy):
    # a question asked again is a request for an update only when the last result may be stale: while it is
    # fresh the answer stands, many freshness spans later the tool is called again
    from agentime.timing.policy import MODULATED_MASK

    assert (policy.weights.scalar_weight[MODULATED_MASK] <= 0).all()  # no push towards calling of their own
    for case in FAST_UNSEEN + SLOW_UNSEEN:
        freshness = policy.decide(*repeated_question(*case[:3], elapsed=0)).timescale_seconds
        soon = policy.decide(*repeated_question(*case[:3], elapsed=freshness / 10))
        later = policy.decide(*repeated_question(*case[:3], elapsed=freshness * 30))
        assert not soon.call and later.call, (soon.reason, later.reason)


def test_the_video_chat_question_asked_again_seconds_later_is_answered(policy):
    # the conversation the timing gate writes for a live recording (before: p(call) = 0.62 five seconds after
    # the search, from the repeated words' weight alone)
    from agentime.agent.refresh import SEARCH_TOOL, Turn, conversation

    asked = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    question = "When does the red star first appear?"
    turn = Turn(question, asked, True, "searched", "From 00:01:16 to 00:01:22", 0.95, 91.0,
                [76.0, 76.5, 77.0, 77.5, 78.0, 78.5, 79.0, 84.0, 87.0])
    decisions = {}
    for seconds in (5, 2 * 3600):
        now = asked + timedelta(seconds=seconds)
        decisions[seconds] = policy.decide(conversation([turn], question, now, 91.0), [SEARCH_TOOL], now)
    assert not decisions[5].call and decisions[5].probability < 0.3, decisions[5].reason
    assert decisions[2 * 3600].call, decisions[2 * 3600].reason
    assert "search_video" in decisions[5].reason and "5 s ago" in decisions[5].reason
