"""Task readers on small fixtures in each benchmark's published format, and metrics checked by hand.

No video is opened here: predictions are written by hand and scored through the same code as a real run.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest

from agentime.eval.items import AnnotationError
from agentime.eval.metrics import extract_letter, summarise, tempcompass_letter, yes_no
from agentime.eval.runner import answer_row, error_row, EvalSettings
from agentime.eval.tasks import read_task

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eval"


def fake_answer(choice=None, text="", spans=()):
    return SimpleNamespace(choice=choice, text=text, spans=list(spans), confidence=0.5, strategy="uniform",
                           stats={"target_frames": 8, "draft_frames": 0})


def rows_for(task, items, predictions):
    """predictions: question_id -> fake answer, or "missing" for a question whose video was not found."""
    settings = EvalSettings(task=task)
    rows = []
    for item in items:
        p = predictions[item.question_id]
        if p == "missing":
            rows.append(error_row(task, item, None, "error", "video not found"))
        else:
            rows.append(answer_row(settings, item, item.video, p, 1.0, 1))
    return rows


def test_letter_extraction_follows_the_videomme_rule():
    assert extract_letter("C") == "C"
    assert extract_letter("The best answer is B.") == "B"
    assert extract_letter("  The answer is (D) because the sign says so") == "D"
    assert extract_letter("the clip shows nothing that would let anyone decide which of these options fits") == ""
    assert extract_letter("") == ""
    assert tempcompass_letter("B. fast") == "B" and tempcompass_letter("fast") == ""
    assert yes_no("Yes, it is.") == "yes" and yes_no("No") == "no" and yes_no("maybe") == ""


def test_videomme_reader_and_metrics_by_hand():
    items = read_task("videomme", FIXTURES / "videomme.json")
    assert [i.question_id for i in items] == ["001-1", "001-2", "002-1", "002-2"]
    first = items[0]
    assert first.video == "vidA.mp4" and first.answer == "C" and first.options[0] == "A. 1"
    assert first.categories == {"duration": "short", "domain": "Knowledge", "sub_category": "Astronomy",
                                "task_type": "Counting Problem"}
    rows = rows_for("videomme", items, {
        "001-1": fake_answer("C", "3"),  # right
        "001-2": fake_answer("B", "go"),  # wrong
        "002-1": fake_answer(None, "the clip shows nothing that would let anyone decide which option fits"),
        "002-2": "missing",
    })
    m = summarise("videomme", rows)
    assert m["questions"] == 4 and m["failed"] == 1 and m["unparseable"] == 1
    assert m["accuracy"] == pytest.approx(1 / 4)  # all questions count
    official = m["official"]  # Video-MME's script: only answers that could be read (2), percent
    assert official["Overall"] == pytest.approx(50.0)
    assert official["Video Types"] == {"short": 50.0, "long": None}  # no readable answer: no figure
    assert official["Task Categories"] == {"Action Recognition": None, "Counting Problem": 100.0, "OCR Problems": 0.0}
    assert official["Video Categories"]["Knowledge"] == 50.0
    assert "Video-MME" in m["rule"] and m["scored"] == 4


def test_lvbench_reader_splits_options_and_counts_every_question_type():
    items = read_task("lvbench", FIXTURES / "video_info.meta.jsonl")
    assert [i.question_id for i in items] == ["101", "102", "201"]
    assert items[0].question == "What year appears in the opening caption?"
    assert items[0].options == ("A. 1636", "B. 1366", "C. 1363", "D. 1633") and items[0].video == "lvA.mp4"
    assert items[1].categories["question_type"] == ["reasoning", "event understanding"]
    rows = rows_for("lvbench", items, {"101": fake_answer("D", "1633"), "102": fake_answer("A", "to catch a bus"),
                                       "201": fake_answer("C", "30:00-30:30")})
    m = summarise("lvbench", rows)
    assert m["accuracy"] == pytest.approx(2 / 3)
    # the leaderboard's result.json names and units: fractions under KIR, EU, Rea, TG and Overall
    assert m["official"] == {"EU": 0.0, "KIR": 1.0, "Rea": 0.0, "TG": 1.0, "Overall": pytest.approx(2 / 3)}


def test_longvideobench_reader_and_metrics():
    items = read_task("longvideobench", FIXTURES / "lvb_val.json")
    assert [i.answer for i in items] == ["B", "E", "A"]
    assert items[1].options[4] == "E. a key" and items[0].video == "lvbA.mp4"
    rows = rows_for("longvideobench", items, {"lvbA_0": fake_answer("B", "blue"), "lvbA_1": fake_answer("E", "a key"),
                                              "lvbB_0": fake_answer("B", "a bell rings")})
    m = summarise("longvideobench", rows)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["official"]["duration_group"] == {600: 1.0, 3600: 0.0}
    assert m["official"]["question_category"] == {"S2O": 1.0, "TOS": 0.5}


def test_egoschema_reads_answers_beside_the_questions_and_leaves_others_unscored():
    items = read_task("egoschema", FIXTURES / "egoschema" / "questions.json")
    assert [(i.question_id, i.answer) for i in items] == [("ego0", "D"), ("ego1", "A"), ("ego2", None)]
    assert items[0].options[4] == "E. goal 4" and items[0].video == "ego0.mp4"
    rows = rows_for("egoschema", items, {"ego0": fake_answer("D", "goal 3"), "ego1": fake_answer("C", "goal 2"),
                                         "ego2": fake_answer("A", "goal 0")})
    m = summarise("egoschema", rows)
    assert m["accuracy"] == pytest.approx(0.5) and m["unscored"] == 1


def test_charades_sta_grounding_metrics_by_hand():
    items = read_task("charades_sta", FIXTURES / "charades_sta_test.txt")
    assert [i.question_id for i in items] == ["3MSZA_1", "3MSZA_2", "AO8RW_3", "Y6R7T_4"]
    assert items[0].span == (24.3, 30.4) and items[0].kind == "grounding" and "turn a light on" in items[0].question
    rows = rows_for("charades_sta", items, {
        "3MSZA_1": fake_answer(text="", spans=[(24.3, 30.4)]),  # IoU 1
        "3MSZA_2": fake_answer(text="", spans=[(33.2, 38.8)]),  # inter 2.8, union 8.4 -> 1/3
        "AO8RW_3": fake_answer(text="I cannot tell"),  # unparseable -> 0
        "Y6R7T_4": fake_answer(text="from 00:00:14 to 00:00:22"),  # parsed from text: inter 6, union 10 -> 0.6
    })
    m = summarise("charades_sta", rows)
    assert [r["iou"] for r in rows] == pytest.approx([1.0, 1 / 3, 0.0, 0.6])
    assert m["miou"] == pytest.approx((1 + 1 / 3 + 0 + 0.6) / 4)
    assert m["r1_at_0.3"] == pytest.approx(3 / 4)
    assert m["r1_at_0.5"] == pytest.approx(2 / 4)
    assert m["r1_at_0.7"] == pytest.approx(1 / 4)
    assert m["unparseable"] == 1


def test_tempcompass_multi_choice_and_yes_no():
    mc = read_task("tempcompass", FIXTURES / "tempcompass_multi-choice.json")
    assert [(i.question_id, i.answer) for i in mc] == [("tcA/speed/0", "B"), ("tcA/direction/0", "A"),
                                                       ("tcA_reverse/direction/0", "B")]
    assert mc[0].question == "How fast is the car moving?" and mc[0].options == ("A. slowly", "B. fast", "C. not moving")
    rows = rows_for("tempcompass", mc, {"tcA/speed/0": fake_answer("B", "fast"),
                                        "tcA/direction/0": fake_answer("A", "left"),
                                        "tcA_reverse/direction/0": fake_answer("A", "left")})
    m = summarise("tempcompass", rows)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["official"]["dim"] == {"direction": 50.0, "speed": 100.0}
    assert m["official"]["avg"] == pytest.approx(66.7)

    yn = read_task("tempcompass", FIXTURES / "tempcompass_yes_no.json")
    assert [(i.kind, i.answer) for i in yn] == [("yesno", "yes"), ("yesno", "no"), ("yesno", "yes")]
    rows = rows_for("tempcompass", yn, {"tcA/speed/0": fake_answer("A", "yes"), "tcA/speed/1": fake_answer("A", "yes"),
                                        "tcA/direction/0": fake_answer("A", "yes")})
    m = summarise("tempcompass", rows)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["official"]["dim"] == {"direction": 100.0, "speed": 50.0}


@pytest.mark.parametrize("task,name,match", [
    ("videomme", "videomme_bad.json", r"record 2 \(002-1\) has no field 'answer'"),
    ("videomme", "video_info.meta.jsonl", r"record 0 \(\?\) has no field"),
    ("lvbench", "videomme.json", r"record 0 \(\?\) has no field 'key'"),
    ("charades_sta", "charades_bad.txt", r"line 2 .* is not 'VIDEO START END##sentence'"),
    ("charades_sta", "videomme.json", r"line 1 "),
    ("tempcompass", "videomme.json", r"record 0 has no field 'dim'"),
    ("egoschema", "lvb_val.json", r"record 0 \(\?\) has no field 'q_uid'"),
    ("longvideobench", "missing.json", "does not exist"),
])
def test_wrong_annotation_format_names_the_first_bad_record(task, name, match):
    with pytest.raises(AnnotationError, match=match):
        read_task(task, FIXTURES / name)


def test_unknown_task():
    with pytest.raises(AnnotationError, match="unknown task"):
        read_task("imagenet", FIXTURES / "videomme.json")


def test_a_new_task_is_one_record_its_reader_and_rule_drive_the_scores(monkeypatch):
    """A task registered with its own answer reader and scoring rule is scored by them: metrics hold no task names."""
    from dataclasses import replace

    from agentime.eval import tasks
    from agentime.eval.items import EvalItem
    from agentime.eval.rules import Breakdown, ScoringRule

    rule = ScoringRule("lastletter", "the reply's last letter", "wrong", "percent", 0, "Score",
                       (Breakdown("By colour", "colour"),), "a test task")
    items = [EvalItem(f"q{i}", "v.mp4", "Which?", "choice", ("A. red", "B. blue"), answer, None, {"colour": colour})
             for i, (answer, colour) in enumerate([("A", "red"), ("B", "blue"), ("B", "blue")])]
    task = replace(tasks.TASKS["synthetic"], name="lastletter", read=lambda path: items, rule=rule,
                   read_answer=lambda item, prediction, letters: prediction.strip()[-1:], span_metrics=False)
    monkeypatch.setitem(tasks.TASKS, "lastletter", task)
    rows = rows_for("lastletter", items, {"q0": fake_answer(None, "not B but A"), "q1": fake_answer(None, "A then B"),
                                          "q2": fake_answer(None, "surely A")})
    assert [r["parsed"] for r in rows] == ["A", "B", "A"]
    m = summarise("lastletter", rows)
    assert m["official"] == {"By colour": {"blue": 50.0, "red": 100.0}, "Score": 67.0}
    assert "the reply's last letter" in m["rule"] and "grounding" not in m
