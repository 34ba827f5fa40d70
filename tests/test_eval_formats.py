"""Task readers on the benchmarks' real annotation files (slices in tests/data, licences beside them) and on
every layout they are published in: the repositories' JSON, the hub's parquet and JSON lines, lmms-eval's hub
copies, Video-MME's output template. Scoring follows each task's official rule, checked by hand.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentime.eval.items import AnnotationError
from agentime.eval.metrics import summarise
from agentime.eval.runner import EvalSettings, answer_row, error_row
from agentime.eval.tasks import read_task

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eval"


def fake_answer(choice=None, text=""):
    return SimpleNamespace(choice=choice, text=text, spans=[], confidence=0.5, strategy="uniform",
                           stats={"target_frames": 4, "draft_frames": 0})


def row(task, item, answer):
    if answer is None:
        return error_row(task, item, None, "error", "video not found", missing_video=True)
    return answer_row(EvalSettings(task=task), item, item.video, answer, 1.0, 1)


def option_text(item, letter):
    return item.options[ord(letter) - 65].split(". ", 1)[1]


def test_real_tempcompass_multi_choice_and_yes_no_files():
    mc = read_task("tempcompass", DATA / "tempcompass" / "multi-choice.json")
    assert len(mc) == 10 and mc[0].video == "1034419625.mp4" and mc[0].categories == {"dim": "action"}
    assert mc[0].question == "What is the man doing in the video?" and mc[0].answer == "A"
    assert mc[0].options == ("A. dunking a basketball", "B. dribbling a basketball", "C. passing a basketball")
    yn = read_task("tempcompass", DATA / "tempcompass" / "yes_no.json")
    assert len(yn) == 19 and {i.kind for i in yn} == {"yesno"} and yn[0].answer == "yes"


def test_tempcompass_counts_unreadable_answers_as_wrong_like_its_script():
    """Two of four answers unreadable: accuracy 0.5 and the official avg 50.0 (was Overall 100.0)."""
    items = read_task("tempcompass", DATA / "tempcompass" / "multi-choice.json")[:4]
    rows = [row("tempcompass", items[0], fake_answer(items[0].answer, option_text(items[0], items[0].answer))),
            row("tempcompass", items[1], fake_answer(items[1].answer, option_text(items[1], items[1].answer))),
            row("tempcompass", items[2], fake_answer(None, "I think he is doing something with a ball")),
            row("tempcompass", items[3], fake_answer(None, "not sure"))]
    m = summarise("tempcompass", rows)
    assert m["accuracy"] == pytest.approx(0.5) and m["unparseable"] == 2
    assert m["official"] == {"dim": {"action": 50.0}, "avg": 50.0}
    assert "unreadable answers count as wrong" in m["rule"] and "TempCompass" in m["rule"]


def test_lmms_eval_tempcompass_rows_read_like_the_repository_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    nested = json.loads((DATA / "tempcompass" / "yes_no.json").read_text())
    rows = [{"video_id": v, "dim": d, "question": q["question"], "answer": q["answer"]}
            for v, dims in nested.items() for d, qs in dims.items() for q in qs]
    path = tmp_path / "yes_no.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    flat = read_task("tempcompass", path)
    assert flat == read_task("tempcompass", DATA / "tempcompass" / "yes_no.json")


def test_real_tempcompass_caption_matching_is_read_and_scored_by_its_matching_rules():
    items = read_task("tempcompass", DATA / "tempcompass" / "caption_matching.json")
    first = items[0]
    assert first.kind == "choice" and first.question == "Which description is a more suitable match for the video?"
    assert first.options == ("A. The man is dribbling a basketball.", "B. A man is dunking a basketball.")
    assert first.answer == "B" and first.meta["labels"] == ["Option 1", "Option 2"]
    right = row("tempcompass", first, fake_answer("B", "A man is dunking a basketball."))
    # written as the script's own option line, which its rule matches
    assert right["prediction"] == "Option 2: A man is dunking a basketball." and right["correct"] is True
    second = items[1]  # "Sentence A: ..." options
    by_label = answer_row(EvalSettings(task="tempcompass"), second, second.video,
                          fake_answer(None, "Sentence A"), 1.0, 1)
    assert by_label["parsed"] == "A" and by_label["correct"] is (second.answer == "A")
    unmatched = row("tempcompass", second, fake_answer(None, "the man plays"))
    assert unmatched["parsed"] == "" and unmatched["correct"] is False


def test_real_tempcompass_captioning_is_answered_free_form_and_reported_as_needing_a_judge():
    items = read_task("tempcompass", DATA / "tempcompass" / "captioning.json")
    assert len(items) == 12 and {i.kind for i in items} == {"caption"}
    assert items[0].options is None and items[0].question.endswith("Generated Caption:")
    assert items[0].meta["answer"] == "B. dunking a basketball"
    rows = [row("tempcompass", i, fake_answer(None, "A man dunks a basketball.")) for i in items[:2]]
    assert rows[0]["prediction"] == "A man dunks a basketball." and rows[0]["correct"] is None
    m = summarise("tempcompass", rows)
    assert m["captions"]["written"] == 2 and m["captions"]["scored"] == 0
    assert "LLM judge" in m["captions"]["needs"] and "accuracy" not in m


def test_real_egoschema_questions_and_answers_file():
    items = read_task("egoschema", DATA / "egoschema" / "questions.json")
    assert len(items) == 20 and items[0].question_id == "001934bb-81bd-4cd8-a574-0472ef3f6678"
    assert items[0].video == "001934bb-81bd-4cd8-a574-0472ef3f6678.mp4" and len(items[0].options) == 5
    assert all(i.answer is None for i in items)  # none of these 20 is in the public answer subset
    m = summarise("egoschema", [row("egoschema", i, fake_answer("A", "x")) for i in items])
    assert m["unscored"] == 20 and "accuracy" not in m


def test_lmms_eval_egoschema_copy_with_video_idx_and_an_option_list(tmp_path):
    records = [{"question_idx": "0", "question": "What is c doing?", "video_idx": "v-0",
                "option": ["A. cooking.", "B. reading.", "C. sleeping.", "D. running.", "E. eating."], "answer": "3"},
               {"question_idx": "1", "question": "Why?", "video_idx": "v-1",
                "option": ["A. a", "B. b", "C. c", "D. d", "E. e"], "answer": ""}]
    path = tmp_path / "test-00000-of-00001.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    items = read_task("egoschema", path)
    assert [(i.question_id, i.video, i.answer) for i in items] == [("v-0", "v-0.mp4", "D"), ("v-1", "v-1.mp4", None)]
    assert items[0].options[3] == "D. running."


def test_a_json_lines_file_of_one_line_is_one_record(tmp_path):
    line = (FIXTURES / "video_info.meta.jsonl").read_text().splitlines()[0]
    single = tmp_path / "video_info.meta.jsonl"
    single.write_text(line + "\n")
    items = read_task("lvbench", single)
    assert [i.question_id for i in items] == ["101", "102"]
    as_json = tmp_path / "one.json"  # the same single record in a .json file
    as_json.write_text(line)
    assert [i.question_id for i in read_task("lvbench", as_json)] == ["101", "102"]


def videomme_rows():
    return [{"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
             "url": "https://www.youtube.com/watch?v=fFjv93ACGo8", "videoID": "fFjv93ACGo8", "question_id": "001-1",
             "task_type": "Counting Problem", "question": "How many?", "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
             "answer": "C"},
            {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
             "url": "https://www.youtube.com/watch?v=fFjv93ACGo8", "videoID": "fFjv93ACGo8", "question_id": "001-2",
             "task_type": "Information Synopsis", "question": "What genre?",
             "options": ["A. news", "B. recipe", "C. vlog", "D. tutorial"], "answer": "A"}]


def test_videomme_official_parquet_layout(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(videomme_rows()), path)
    items = read_task("videomme", path)
    assert [(i.question_id, i.video, i.answer) for i in items] == [("001-1", "fFjv93ACGo8.mp4", "C"),
                                                                  ("001-2", "fFjv93ACGo8.mp4", "A")]
    assert items[0].options == ("A. 1", "B. 2", "C. 3", "D. 4") and items[0].meta == {"video_id": "001"}


def test_videomme_output_template_layout_with_its_trailing_commas(tmp_path):
    template = """[
    {
        "video_id": "001",
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "questions": [
            {
                "question_id": "001-1",
                "task_type": "Counting Problem",
                "question": "How many?",
                "options": ["A. 1", "B. 2", "C. 3", "D. 4"],
                "answer": "C",
                "response": "",
            },
        ],
    },
]"""
    path = tmp_path / "output_test_template.json"
    path.write_text(template)
    [item] = read_task("videomme", path)
    assert item.video == "001.mp4" and item.answer == "C" and item.categories["task_type"] == "Counting Problem"


def test_longvideobench_test_split_without_answers_is_read_unscored(tmp_path):
    records = json.loads((FIXTURES / "lvb_val.json").read_text())
    for r in records:
        r.pop("correct_choice")
    path = tmp_path / "lvb_test_wo_gt.json"
    path.write_text(json.dumps(records))
    items = read_task("longvideobench", path)
    assert len(items) == 3 and all(i.answer is None for i in items)
    m = summarise("longvideobench", [row("longvideobench", i, fake_answer("A", "x")) for i in items])
    assert m["unscored"] == 3 and "accuracy" not in m


def test_lvbench_reports_every_category_as_fractions_under_the_leaderboard_names():
    items = read_task("lvbench", FIXTURES / "video_info.meta.jsonl")
    # the "reasoning"/"event understanding" question's answer cannot be read: the categories stay, at 0
    rows = [row("lvbench", items[0], fake_answer("D", "1633")),
            row("lvbench", items[1], fake_answer(None, "hard to say")),
            row("lvbench", items[2], fake_answer(None, "(C) 30:00-30:30"))]
    assert [r["parsed"] for r in rows] == ["D", "", "C"]
    m = summarise("lvbench", rows)
    assert m["official"] == {"EU": 0.0, "KIR": 1.0, "Rea": 0.0, "TG": 1.0, "Overall": pytest.approx(2 / 3)}


def test_open_mode_keeps_the_reference_and_leaves_scoring_to_the_hook():
    from agentime.eval import metrics
    from agentime.eval.runner import open_form

    [item] = [open_form(i) for i in read_task("videomme", FIXTURES / "videomme.json")[:1]]
    assert item.kind == "open" and item.options is None and item.meta["reference"] == "3"
    unscored = summarise("videomme", [row("videomme", item, fake_answer(None, "three"))])
    assert unscored["open"]["scored"] == 0 and "scorer" in unscored["open"]["needs"]
    metrics.set_open_scorer(lambda question, reference, prediction: prediction == "three" and reference == "3")
    try:
        scored = summarise("videomme", [row("videomme", item, fake_answer(None, "three"))])
    finally:
        metrics.set_open_scorer(None)
    assert scored["open"] == {"answered": 1, "scored": 1, "accuracy": 1.0}


@pytest.mark.parametrize("task,content,match", [
    ("egoschema", [{"video_idx": "v", "question": "q", "option": ["A. a", "B. b"], "answer": "7"}],
     r"record 0 \(v\) has answer '7'; expected an option index 0-1"),
    ("longvideobench", [{"id": "x", "video_path": "x.mp4", "question": "q", "candidates": ["a", "b"],
                         "correct_choice": 5, "duration_group": 15, "question_category": "S2O"}],
     r"has correct_choice 5"),
])
def test_bad_records_in_the_new_layouts_name_the_record(tmp_path, task, content, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(AnnotationError, match=match):
        read_task(task, path)
