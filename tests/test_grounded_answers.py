"""Open answers (no options) say what the search found: the found span for "when", the appearances found for
"how many", and "unsure" for an object or number no evidence frame shows, whatever the model writes."""

import re

import numpy as np
import pytest

import agentime
from agentime.config import Config
from agentime.eval.open_answers import score_open_answer, stated_number, stated_span, time_correct
from agentime.search.grounding import UNSURE_CONFIDENCE, is_time_question, is_unsure, named_claims, span_words
from agentime.video.tafr import find_timestamps, format_clock
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic_questions import make_questions
from pipelines.synthetic_world import WorldConfig, generate_world, write_video


class WritingOracle(OracleVLM):
    """Sees the world perfectly (objects and on-screen numbers: its yes/no and its reading of one frame's text
    are right) but writes `says` whatever question it is asked, like a small model that is good at yes/no and
    reading and bad at writing answers."""

    def __init__(self, world, says: str):
        super().__init__(world)
        self.says = says

    def yes_probability(self, frames_batch, statement):
        number = re.fullmatch(r"the number (\d+) is shown", statement)
        if number is None:
            return super().yes_probability(frames_batch, statement)
        out = []
        for item in frames_batch:
            frames = item if isinstance(item, (list, tuple)) else [item]
            shown = any(c.text == number.group(1) for f in frames for c in self.world.captions_at(f.t))
            out.append(0.95 if shown else 0.05)
        return np.array(out)

    def generate(self, parts, max_new_tokens=64, **kwargs):
        from agentime.search.prompts import READ_INSTRUCTION
        from agentime.vlm.base import Frame, Generation

        self.calls += 1
        if parts[-1] == READ_INSTRUCTION:
            [frame] = [p for p in parts if isinstance(p, Frame)]
            return Generation(text=" ".join(c.text for c in self.world.captions_at(frame.t)) or "none")
        return Generation(text=self.says)

    def describe(self, frames, max_new_tokens=64):
        return "nothing"  # writes no usable description either: answers come from its generation


class ReadingOracle(WritingOracle):
    """Like the shipped target: reads a frame's on-screen text well, but its yes/no about a given number says no
    even where that number is shown."""

    def yes_probability(self, frames_batch, statement):
        if re.fullmatch(r"the number (\d+) is shown", statement):
            return np.full(len(frames_batch), 0.05)
        return OracleVLM.yes_probability(self, frames_batch, statement)


@pytest.fixture(scope="module")
def world_video(tmp_path_factory):
    world = generate_world(42, WorldConfig(minutes=10))
    path = write_video(world, tmp_path_factory.mktemp("grounded") / "world.mp4")
    return path, world, {q["question"]: q for q in make_questions(world, "world", 42)}


def ask(world_video, tmp_path, question_type: str, says: str, *, embedder=True, options=False,
        strategy="timesearch", target=WritingOracle):
    path, world, questions = world_video
    q = next(q for q in questions.values() if q["task_type"] == question_type)
    models = {"target": target(world, says), "draft": OracleVLM(world, "oracle-draft"),
              "embedder": OracleEmbedder(world) if embedder else None}
    answer = agentime.ask(path, q["question"], options=q["options"] if options else None, strategy=strategy,
                          budget=32, models=models, config=Config(cache_dir=tmp_path))
    return q, answer


def inside_a_span(t: float, spans) -> bool:
    return any(a - 1.0 <= t <= b + 1.0 for a, b in spans)


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp"])
def test_a_when_answer_states_the_found_span_not_the_time_the_model_wrote(world_video, tmp_path, strategy):
    # the first rows: the search found the right moment and the text named another
    q, answer = ask(world_video, tmp_path, "grounding", "[00:03:33.0]", strategy=strategy)
    truth = q["answer_spans"][0]
    assert answer.spans and min(answer.spans[0][1], truth[1]) > max(answer.spans[0][0], truth[0])
    assert not inside_a_span(213.0, answer.spans)  # the written time is outside every found span
    main = answer.spans[0]
    assert answer.text == f"From {format_clock(main[0])} to {format_clock(main[1])}"
    assert all(inside_a_span(t, answer.spans) for t in find_timestamps(answer.text))
    assert answer.choice is None and time_correct(answer.text, truth)
    ground = next(step for step in answer.trace if step["step"] == "ground")
    assert "00:03:33" in ground["note"] and "outside every found span" in ground["note"]


def test_a_count_agrees_with_the_appearances_the_search_found(world_video, tmp_path):
    # without an index the search cannot sweep: the count came from the model's words ("7") before
    q, answer = ask(world_video, tmp_path, "counting", "7", embedder=False)
    assert answer.text.split()[0] == str(len(answer.spans))
    assert all(inside_a_span(t, answer.spans) for t in find_timestamps(answer.text))
    # with the index the sweep finds every appearance, and the text says how many and when
    q, answer = ask(world_video, tmp_path, "counting", "1")
    assert answer.text.startswith(f"{q['answer_text']} times: ")
    assert len(answer.spans) == int(q["answer_text"]) and answer.choice is None
    assert stated_number(answer.text) == int(q["answer_text"])


def test_a_number_no_evidence_frame_shows_is_not_asserted(world_video, tmp_path):
    q, answer = ask(world_video, tmp_path, "needle", "99")
    assert q["answer_text"] != "99" and is_unsure(answer.text) and answer.choice is None
    assert answer.spans  # the moments found still come with the answer
    assert answer.confidence <= UNSURE_CONFIDENCE  # an unsure text never comes with the search's high confidence
    q, answer = ask(world_video, tmp_path, "needle", q["answer_text"])
    assert answer.text == q["answer_text"]
    assert score_open_answer(q["question"], q["answer_text"], answer.text)


def test_a_number_the_target_reads_on_the_answer_frames_is_asserted(world_video, tmp_path):
    # the target wrote the right number, but its yes/no about that number said no on every frame
    q, answer = ask(world_video, tmp_path, "needle", "99", target=ReadingOracle)
    assert is_unsure(answer.text)  # a number it does not read on any of them is still not asserted
    q, answer = ask(world_video, tmp_path, "needle", q["answer_text"], target=ReadingOracle)
    assert answer.text == q["answer_text"], answer.text
    step = next(s for s in answer.trace if s["step"] == "ground")
    assert "seen in the answer's frames" in step["note"]


def test_an_object_no_evidence_frame_shows_is_not_asserted(world_video, tmp_path):
    path, world, questions = world_video
    q = next(q for q in questions.values() if q["task_type"] == "order")
    absent = next(f"{c} {s}" for c in ("white", "pink", "red", "green") for s in ("diamond", "circle", "star")
                  if f"{c} {s}" not in {a.name for a in world.appearances})
    q, answer = ask(world_video, tmp_path, "order", f"The {absent}.")
    assert is_unsure(answer.text) and absent in answer.text
    q, answer = ask(world_video, tmp_path, "order", q["answer_text"])
    assert answer.text == q["answer_text"]


def test_multiple_choice_answers_are_not_rewritten(world_video, tmp_path):
    q, answer = ask(world_video, tmp_path, "grounding", "[00:03:33.0]", options=True)
    assert answer.choice == q["answer"] and answer.text == q["answer_text"]
    assert "ground" not in {step["step"] for step in answer.trace}


def test_time_questions_and_named_things():
    assert is_time_question("When does the red star first appear?")
    assert is_time_question("How long is the blue circle on screen?")
    assert is_time_question("At what point does the dog jump?")
    assert is_time_question("Find the last appearance of the green square.")
    assert not is_time_question("Which object appears first?")
    assert not is_time_question("What number is shown while the red star is on screen?")
    assert named_claims("42") == [("42", "the number 42 is shown")]
    assert named_claims("Orange hexagon.") == [("orange hexagon", "There is an orange hexagon.")]
    assert named_claims("It shows the number 7 at [00:01:02.0].")[0][0] == "7"  # clock times are not numbers
    assert named_claims("Yes") == []


def test_open_answers_are_scored_by_time_number_and_name():
    truth = "from 00:38:44 to 00:38:51"
    assert score_open_answer("When?", truth, "From 00:38:45 to 00:38:52")
    assert score_open_answer("When?", truth, "[00:38:42.5]")  # start within 2 s
    assert not score_open_answer("When?", truth, "[00:03:33.0]")
    assert score_open_answer("When?", truth, "From 00:38:40 to 00:38:52")  # IoU >= 0.5 though 4 s early
    assert not score_open_answer("When?", truth, "Unsure: no moment found in the frames searched shows it")
    assert score_open_answer("How many?", "2", "2 times: from 00:14:14 to 00:14:21, from 00:40:02 to 00:40:09")
    assert not score_open_answer("How many?", "2", "1 time: from 00:02:00 to 00:02:07")
    assert not score_open_answer("Which number?", "42", "Unsure: the model answered \"42\", but none ...")
    assert score_open_answer("Which object?", "orange hexagon", "The orange hexagon.")
    assert not score_open_answer("Which object?", "orange hexagon", "orange diamond")
    assert score_open_answer("What?", "the man opens the red door and walks out", "he leaves") is None
    assert stated_span("From 00:01:00 to 00:01:05") == [60.0, 65.0]
    assert span_words([2941.5, 2942.5]) == "at 00:49:02" and span_words([60.2, 65.4]) == "from 00:01:00 to 00:01:05"
    assert span_words([174.5, 175.5]) == "at 00:02:55"  # one frame: not "from 00:02:54 to 00:02:56"


def test_answers_from_a_model_behind_an_openai_compatible_server_agree_with_their_spans(world_video, tmp_path):
    # a real (tiny, untrained) model served over HTTP writes whatever it writes; the answer stays consistent
    from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM
    from agentime.vlm.server import ServerConfig, serve_in_thread
    from tiny_models import tiny_vlm

    path, world, questions = world_video
    server = serve_in_thread(tiny_vlm("llava"), ServerConfig(max_top_logprobs=2000))
    try:
        target = OpenAIVLM(OpenAIConfig(server.base_url, top_logprobs=2000))
        models = {"target": target, "draft": None, "embedder": OracleEmbedder(world)}
        session = agentime.Session(path, models=models, config=Config(cache_dir=tmp_path))
        for kind in ("grounding", "counting", "needle"):
            q = next(q for q in questions.values() if q["task_type"] == kind)
            answer = session.ask(q["question"], strategy="timesearch", budget=8)
            assert answer.choice is None and {e.t for e in answer.evidence}
            if kind == "grounding":
                assert (answer.text == f"From {format_clock(answer.spans[0][0])} to {format_clock(answer.spans[0][1])}"
                        if answer.spans else is_unsure(answer.text)), (answer.text, answer.spans)
            elif kind == "counting":
                assert answer.text.split()[0] == str(len(answer.spans)), (answer.text, answer.spans)
            else:
                step = next(s for s in answer.trace if s["step"] == "ground")
                assert is_unsure(answer.text) or "seen in the answer's frames" in step["note"] or \
                    step["note"].startswith("nothing named"), (answer.text, step["note"])
    finally:
        server.stop()


@pytest.mark.parametrize("strategy", ["timesearch", "exhaustive"])
def test_the_span_an_answer_states_is_shown_among_its_evidence_frames(world_video, tmp_path, strategy):
    path, world, questions = world_video
    counted = next(q for q in questions.values() if q["task_type"] == "counting")
    thing = re.search(r"does an? (.+) appear", counted["question"]).group(1)
    answer = agentime.ask(path, f"When does the {thing} first appear?", strategy=strategy, budget=32,
                          models={"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"),
                                  "embedder": OracleEmbedder(world)}, config=Config(cache_dir=tmp_path))
    start, end = answer.spans[0]
    assert any(start <= e.t <= end and e.score is not None for e in answer.evidence), (answer.spans, answer.evidence)


def test_what_comes_right_after_asked_openly_is_the_thing_described_after_the_span(world_video, tmp_path):
    path, world, questions = world_video
    for q in [q for q in questions.values() if q["task_type"] == "order"]:
        answer = agentime.ask(path, q["question"], strategy="timesearch", budget=32,
                              models={"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"),
                                      "embedder": OracleEmbedder(world)}, config=Config(cache_dir=tmp_path))
        assert answer.text == q["answer_text"], (q["question"], answer.text)
        assert score_open_answer(q["question"], q["answer_text"], answer.text) is True


class GappyDraft(OracleVLM):
    """A draft that misses the middle seconds of every appearance, as a small model does on a few frames."""

    def _shows(self, t: float, name: str) -> bool:
        spans = [(a.start, a.end) for a in self.world.appearances if a.name == name]
        middle = any(a + 2.0 <= t <= a + 4.0 for a, b in spans if b - a >= 7.0)
        return super()._shows(t, name) and not middle


def test_an_appearance_the_draft_split_is_stated_whole(world_video, tmp_path):
    path, world, questions = world_video
    q = next(q for q in questions.values() if q["task_type"] == "grounding")
    truth = q["answer_spans"][0]
    assert truth[1] - truth[0] >= 7.0, "fixture: the appearance is long enough to be split"
    models = {"target": WritingOracle(world, "soon"), "draft": GappyDraft(world, "gappy-draft"),
              "embedder": OracleEmbedder(world)}
    answer = agentime.ask(path, q["question"], strategy="spectemp", budget=32, models=models,
                          config=Config(cache_dir=tmp_path))
    main = answer.spans[0]
    overlap = min(main[1], truth[1]) - max(main[0], truth[0])
    assert overlap / (max(main[1], truth[1]) - min(main[0], truth[0])) >= 0.6, (answer.spans, truth)
    assert any(step["step"] == "bridge" for step in answer.trace)
