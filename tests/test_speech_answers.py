"""Speech in the search and the answer: questions answered from what the narrator says, questions about what is
on screen while something is said, transcript lines in the target's prompt, speech evidence in the answer,
and a frames-only answer when the text source fails. Oracle models (perfect perception of the synthetic
world) keep model quality out of it."""

from __future__ import annotations

import json
import warnings

import pytest
from oracle_models import OracleEmbedder, OracleVLM

import agentime
from agentime.config import Config
from agentime.errors import SpeechSkippedWarning
from agentime.speech.settings import SpeechConfig
from pipelines.synthetic_speech import make_narration, write_srt


@pytest.fixture(scope="module")
def narrated(synthetic_video, tmp_path_factory):
    path, world = synthetic_video
    cues, questions = make_narration(world, "world", 5)
    srt = write_srt(cues, tmp_path_factory.mktemp("narration") / "narration.srt")
    return path, world, srt, {q["task_type"]: [x for x in questions if x["task_type"] == q["task_type"]]
                              for q in questions}


def _models(world, target=None):
    return {"target": target or OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"),
            "embedder": OracleEmbedder(world)}


def _config(tmp_path, **speech):
    return Config(cache_dir=tmp_path, speech=SpeechConfig(**speech))


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp"])
def test_what_the_narrator_said_is_answered_from_the_transcript(narrated, tmp_path, strategy):
    path, world, srt, questions = narrated
    for q in questions["speech"]:
        answer = agentime.ask(path, q["question"], options=q["options"], strategy=strategy, budget=24,
                              models=_models(world), config=_config(tmp_path), subtitles=srt)
        assert answer.choice == q["answer"], (q["question"], answer.text)
        spoken = [e for e in answer.evidence if e.source == "speech"]
        assert len(spoken) == 1 and q["answer_text"] in spoken[0].text
        assert [spoken[0].t, spoken[0].end] == q["answer_spans"][0] == list(answer.spans[0])
        assert answer.stats["speech"]["source"] == f"file:{srt}"
        assert answer.trace[-1]["model"] == "transcript"
        assert answer.stats["target_frames"] == 0  # the transcript settles it: no frame search


def test_an_open_question_about_what_was_said_quotes_the_line_with_its_time(narrated, tmp_path):
    path, world, srt, questions = narrated
    q = questions["speech"][0]
    answer = agentime.ask(path, q["question"], strategy="timesearch", budget=24, models=_models(world),
                          config=_config(tmp_path), subtitles=srt)
    spoken = [e for e in answer.evidence if e.source == "speech"]
    assert answer.choice is None and q["answer_text"] in answer.text and spoken[0].text in answer.text
    assert list(answer.spans[0]) == q["answer_spans"][0] and answer.confidence > 0
    assert answer.stats["target_frames"] == 0 and answer.trace[-1]["model"] == "transcript"


def test_a_clear_line_reads_as_the_answer_and_a_weak_one_says_unsure(narrated, tmp_path):
    from agentime.search.grounding import is_unsure
    from ui.answers import headline

    path, world, srt, questions = narrated
    session = agentime.Session(path, models=_models(world), config=_config(tmp_path, subtitles=srt))
    q = questions["speech"][0]
    answer = session.ask(q["question"], strategy="timesearch", budget=24)
    assert q["answer_text"] in answer.text and not is_unsure(answer.text)
    assert headline(answer).startswith("Answer: "), (headline(answer), answer.confidence)
    # each narration says only some of the facts: a question about one it never says has no clear line
    asked = {x["question"] for x in questions["speech"]}
    unsaid = next(x for x in ("Which ticket price did the narrator announce?", "Which guest did the narrator welcome?",
                              "Which city did the narrator say the next trip goes to?") if x not in asked)
    answer = session.ask(unsaid, strategy="timesearch", budget=24)
    assert is_unsure(answer.text) and "closest line" in answer.text, answer.text
    assert not headline(answer).startswith("Answer: ") and answer.confidence < 0.9


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp"])
def test_what_is_on_screen_when_something_is_said(narrated, tmp_path, strategy):
    path, world, srt, questions = narrated
    assert questions["cross_modal"]
    for q in questions["cross_modal"]:
        answer = agentime.ask(path, q["question"], options=q["options"], strategy=strategy, budget=24,
                              models=_models(world), config=_config(tmp_path), subtitles=srt)
        assert answer.choice == q["answer"], (q["question"], answer.trace[-1]["note"])
        start, end = q["answer_spans"][0]
        assert list(answer.spans[0]) == [start, end]
        assert any(start <= e.t <= end for e in answer.evidence if e.source != "speech")


def test_speech_matches_become_search_candidates(narrated, tmp_path):
    """With no frame index at all, the moment a quoted line is said is where the search looks first."""
    from agentime.api import Session

    path, world, srt, questions = narrated
    q = questions["cross_modal"][0]
    session = Session(path, models={**_models(world), "embedder": None},
                      config=_config(tmp_path, subtitles=srt))
    answer = session.ask(q["question"], options=q["options"], strategy="timesearch", budget=24)
    start, end = q["answer_spans"][0]
    overview = next(step for step in answer.trace if step["step"] == "overview")
    assert any(start - 1 <= t <= end + 1 for t in overview["times"])
    without = Session(path, models={**_models(world), "embedder": None}, config=_config(tmp_path, enabled=False))
    plain = without.ask(q["question"], options=q["options"], strategy="timesearch", budget=24)
    first = next(step for step in plain.trace if step["step"] == "overview")
    assert not any(start - 1 <= t <= end + 1 for t in first["times"])


class PromptRecorder(OracleVLM):
    def __init__(self, world):
        super().__init__(world)
        self.prompts = []

    def generate(self, parts, max_new_tokens=64, **kwargs):
        self.prompts.append([p for p in parts if isinstance(p, str)])
        return super().generate(parts, max_new_tokens, **kwargs)


def test_matching_lines_go_into_the_target_prompt_with_timestamps(narrated, tmp_path):
    from agentime.video.tafr import format_timestamp

    path, world, srt, questions = narrated
    q = questions["cross_modal"][0]  # asked openly, it needs the frames: the target answers, lines in its prompt
    target = PromptRecorder(world)
    answer = agentime.ask(path, q["question"], strategy="timesearch", budget=16, models=_models(world, target),
                          config=_config(tmp_path), subtitles=srt)
    line = next(e for e in answer.evidence if e.source == "speech")
    assert any(f'{format_timestamp(line.t)} "{line.text}"' in text for prompt in target.prompts for text in prompt)


def test_without_subtitles_the_speech_question_has_no_transcript(narrated, tmp_path):
    path, world, srt, questions = narrated
    q = questions["speech"][0]
    answer = agentime.ask(path, q["question"], options=q["options"], strategy="timesearch", budget=16,
                          models=_models(world), config=_config(tmp_path, enabled=False))
    assert answer.stats["speech"]["source"] is None
    assert not [e for e in answer.evidence if e.source == "speech"]
    assert answer.trace[-1]["model"] == "target"


def test_visual_questions_are_unchanged_by_narration(narrated, tmp_path):
    from pipelines.synthetic_questions import make_questions

    path, world, srt, _ = narrated
    for q in [q for q in make_questions(world, "world", 321) if q["task_type"] in ("needle", "order")][:2]:
        runs = [agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=24,
                             models=_models(world), config=_config(tmp_path, **setting), subtitles=subtitles)
                for setting, subtitles in (({}, srt), ({"enabled": False}, None))]
        assert runs[0].choice == runs[1].choice
        assert [(s["step"], s["times"]) for s in runs[0].trace] == [(s["step"], s["times"]) for s in runs[1].trace]


def test_an_unreadable_subtitle_file_costs_only_the_speech(narrated, tmp_path):
    path, world, _, questions = narrated
    bad = tmp_path / "bad.srt"
    bad.write_bytes(bytes(range(256)) * 8)
    q = questions["cross_modal"][0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = agentime.ask(path, q["question"], options=q["options"], strategy="timesearch", budget=16,
                              models=_models(world), config=_config(tmp_path, streams=False), subtitles=bad)
    assert answer.choice in "ABCD"
    assert answer.stats["speech"]["source"] is None
    assert "bad.srt is not text" in answer.stats["speech"]["failures"][0]
    assert any(issubclass(w.category, SpeechSkippedWarning) for w in caught)


def test_cli_json_carries_speech_evidence_and_a_missing_file_exits_2(narrated, tmp_path, capsys, monkeypatch):
    from agentime import api
    from agentime.cli import main

    path, world, srt, questions = narrated
    monkeypatch.setattr(api, "load_model_roles", lambda specs, verbose=False: _models(world))
    q = questions["speech"][0]
    assert main(["ask", str(path), q["question"], "--options", *q["options"], "--cache", str(tmp_path),
                 "--quiet", "--strategy", "timesearch", "--budget", "16", "--subtitles", str(srt), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    speech = [e for e in data["evidence"] if e["source"] == "speech"]
    assert speech and q["answer_text"] in speech[0]["text"] and "end" in speech[0]
    assert data["stats"]["speech"]["segments"] > 0
    assert main(["ask", str(path), q["question"], "--cache", str(tmp_path), "--quiet",
                 "--subtitles", str(tmp_path / "missing.srt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.srt does not exist" in err[0]


def test_eval_with_a_subtitles_folder_reports_each_setting(narrated, tmp_path):
    """Video-MME layout: `<video id>.mp4` and `<video id>.srt`; the same questions with and without subtitles."""
    import shutil

    from agentime.eval.runner import EvalSettings, ModelSource, evaluate
    from eval_support import oracle_factory

    path, world, srt, questions = narrated
    videos, subtitles = tmp_path / "videos", tmp_path / "subtitles"
    videos.mkdir()
    subtitles.mkdir()
    shutil.copy(path, videos / "vid1.mp4")
    shutil.copy(srt, subtitles / "vid1.srt")
    world_file = tmp_path / "world.json"
    world.save(world_file)
    asked = questions["speech"] + questions["cross_modal"]
    annotations = tmp_path / "videomme.json"
    annotations.write_text(json.dumps([{"video_id": "001", "videoID": "vid1", "duration": "short", "domain": "d",
                                        "sub_category": "s", "question_id": q["question_id"], "task_type": q["task_type"],
                                        "question": q["question"], "options": q["options"], "answer": q["answer"]}
                                       for q in asked]))
    results = {}
    for name, extra in (("with", {"subtitles": str(subtitles)}), ("without", {"speech": False})):
        settings = EvalSettings(task="videomme", strategy="timesearch", budget=16, cache_dir=str(tmp_path / "cache"),
                                **extra)
        results[name] = evaluate("videomme", annotations, videos, tmp_path / f"{name}.jsonl",
                                 ModelSource(factory=oracle_factory(world_file)), settings, progress=False)
    assert results["with"]["speech"] == {"setting": f"with subtitles from {subtitles}",
                                         "questions_with_text": len(asked)}
    assert results["without"]["speech"] == {"setting": "without subtitles", "questions_with_text": 0}
    rows = [json.loads(line) for line in (tmp_path / "with.jsonl").read_text().splitlines()]
    assert all(r["correct"] for r in rows) and rows[0]["speech_source"] == f"file:{subtitles / 'vid1.srt'}"
    assert asked[0]["answer_text"] in rows[0]["speech"][0]["text"]


def test_longvideobench_subtitle_json_is_read_in_both_layouts(tmp_path):
    from agentime.speech.segments import build_timeline
    from agentime.speech.sources import read_subtitle_file

    lines = tmp_path / "a_en.json"
    lines.write_text(json.dumps([{"start": "00:00:01.500", "end": "00:00:03.000", "line": "hello there"},
                                 {"start": "00:01:00.000", "end": "00:01:02.000", "line": "later"}]))
    stamps = tmp_path / "b_en.json"
    stamps.write_text(json.dumps([{"timestamp": [2.0, 4.0], "text": "first"}, {"timestamp": [8.0, None], "text": "last"}]))
    segments, _ = build_timeline(read_subtitle_file(lines).cues, duration=90.0, offset=1.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(0.5, 2.0, "hello there"), (59.0, 61.0, "later")]
    segments, _ = build_timeline(read_subtitle_file(stamps).cues, duration=10.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(2.0, 4.0, "first"), (8.0, 10.0, "last")]
    broken = tmp_path / "c.json"
    broken.write_text(json.dumps({"not": "a list"}))
    from agentime.errors import SubtitleError

    with pytest.raises(SubtitleError, match="not a subtitle JSON file"):
        read_subtitle_file(broken)


def test_stored_line_embeddings_are_reused_and_rebuilt_when_damaged(tmp_path):
    import numpy as np

    from agentime.speech.index import SpeechIndex
    from agentime.speech.segments import SpeechSegment, Transcript

    transcript = Transcript([SpeechSegment(1.0, 2.0, "The ticket price is 35 dollars."),
                             SpeechSegment(5.0, 7.0, "A silver kite drifts over the hills.")], "file:x.srt")
    built = SpeechIndex.build(transcript, tmp_path)
    [stored] = tmp_path.glob("speech_*.npz")
    assert [m.segment.start for m in built.matches(["What did the tickets cost?"], k=2)] == [1.0, 5.0]

    class Refusing:
        def encode(self, texts):
            raise AssertionError("the stored embeddings should have been used")

    SpeechIndex.build(transcript, tmp_path, encoder=Refusing())
    stored.write_bytes(b"PK\x03\x04 torn")
    rebuilt = SpeechIndex.build(transcript, tmp_path)
    assert np.allclose(rebuilt.index.reconstruct_n(0, 2), built.index.reconstruct_n(0, 2), atol=1e-2)
