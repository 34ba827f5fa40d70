"""The files around a batch evaluation: the videos folder in each benchmark's download layout (and nothing
outside it), the results file after a crash, the submission files each benchmark's server or leaderboard
takes. No model runs here: rows are built by hand through the same code as a real run.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentime.eval.metrics import summarise
from agentime.eval.results_file import ResultsWriter, output_path, read_results, repair_torn_tail
from agentime.eval.runner import EvalSettings, answer_row, error_row
from agentime.eval.submission import write_submissions
from agentime.eval.tasks import TASKS, read_task
from agentime.eval.videos import OutsideVideosError, VideoFolder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
FIXTURES = ROOT / "tests" / "fixtures" / "eval"


def touch(path: Path, text: str = "video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def answer(choice=None, text=""):
    return SimpleNamespace(choice=choice, text=text, spans=[], confidence=0.5, strategy="uniform",
                           stats={"target_frames": 4, "draft_frames": 0})


# ---- the videos folder -------------------------------------------------------------------------------

def test_lvbench_video2dataset_layout_is_found_by_the_sidecar_url(tmp_path):
    videos = tmp_path / "videos"
    touch(videos / "00000" / "00000000.mp4")
    touch(videos / "00000" / "00000000.json", json.dumps({"url": "https://www.youtube.com/watch?v=lvA_xxxxxxx",
                                                          "key": "00000000", "status": "success"}))
    touch(videos / "00000" / "00000001.mp4")
    touch(videos / "00000" / "00000001.json", json.dumps({"url": "https://youtu.be/Cm73ma6Ibcs", "key": "00000001"}))
    folder = VideoFolder(videos)
    assert folder.resolve("Cm73ma6Ibcs.mp4") == (videos / "00000" / "00000001.mp4", "")
    assert folder.resolve("lvA_xxxxxxx.mp4")[0] == videos / "00000" / "00000000.mp4"
    path, why = folder.resolve("zzzzzzzzzzz.mp4")
    assert path is None and why == f"video zzzzzzzzzzz.mp4 not found in {videos}"


def test_videomme_data_folder_youtube_names_and_ambiguous_names(tmp_path):
    videos = tmp_path / "videomme"
    touch(videos / "data" / "fFjv93ACGo8.mp4")
    touch(videos / "downloads" / "A talk about trees [_8lBR0E_Tx8].webm")
    touch(videos / "a" / "clip.mp4")
    touch(videos / "b" / "clip.mkv")
    folder = VideoFolder(videos)
    assert folder.resolve("fFjv93ACGo8.mp4")[0] == videos / "data" / "fFjv93ACGo8.mp4"
    assert folder.resolve("_8lBR0E_Tx8.mp4")[0] == videos / "downloads" / "A talk about trees [_8lBR0E_Tx8].webm"
    assert folder.resolve("a/clip.mp4")[0] == videos / "a" / "clip.mp4"  # a relative path is taken as given
    path, why = folder.resolve("clip.mp4")
    assert path is None and "ambiguous" in why and "2 files match" in why


@pytest.mark.parametrize("name", ["../secret.mp4", "/etc/hostname", "sub/../../secret.mp4"])
def test_a_video_outside_the_videos_folder_is_refused(tmp_path, name):
    touch(tmp_path / "secret.mp4")
    folder = VideoFolder(touch(tmp_path / "videos" / "x.mp4").parent)
    with pytest.raises(OutsideVideosError, match="lies outside the videos folder"):
        folder.resolve(name)


def test_the_command_refuses_annotations_pointing_outside_videos_before_any_work(tmp_path):
    touch(tmp_path / "secret.mp4")
    videos = touch(tmp_path / "videos" / "ok.mp4").parent
    questions = [{"id": "a", "video_path": "ok.mp4", "question": "q?", "candidates": ["x", "y"], "correct_choice": 0,
                  "duration_group": 15, "question_category": "S2O"},
                 {"id": "b", "video_path": "../secret.mp4", "question": "q?", "candidates": ["x", "y"],
                  "correct_choice": 1, "duration_group": 15, "question_category": "S2O"}]
    annotations = tmp_path / "lvb_val.json"
    annotations.write_text(json.dumps(questions))
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "agentime.cli", "eval", "--task", "longvideobench", "--annotations",
           str(annotations), "--videos", str(videos), "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "'../secret.mp4', which lies outside the videos folder" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# ---- the results file --------------------------------------------------------------------------------

def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "r.jsonl"
    whole = json.dumps({"question_id": "q1", "status": "ok"}) + "\n"
    path.write_text(whole + '{"question_id": "q2", "sta')
    writer = ResultsWriter(path)
    writer({"question_id": "q3", "status": "ok"})
    writer.close()
    assert path.read_text().splitlines() == [whole.strip(), json.dumps({"question_id": "q3", "status": "ok"})]
    assert set(read_results(path)) == {"q1", "q3"}  # q2 has no row: it is answered again
    only_torn = tmp_path / "only.jsonl"
    only_torn.write_text('{"question_id": "q1", "st')
    assert repair_torn_tail(only_torn) and only_torn.read_text() == ""
    assert not repair_torn_tail(path)


def test_metrics_say_how_many_questions_the_results_cover():
    items = read_task("egoschema", FIXTURES / "egoschema" / "questions.json")
    rows = [answer_row(EvalSettings(task="egoschema"), i, i.video, answer("D", "goal 3"), 1.0, 1) for i in items[:2]]
    m = summarise("egoschema", rows, expected=3)
    assert m["questions"] == 3 and m["covered"] == 2 and "cover 2 of 3 questions" in m["incomplete"]


def test_rows_say_what_prompt_fitting_cut():
    [item] = read_task("egoschema", DATA / "egoschema" / "questions.json")[:1]
    fitted = answer("A", "x")
    fitted.trace = [{"step": "spotlight", "note": ""}, {"step": "fit", "note": "generate: 8 -> 4 frames"}]
    row = answer_row(EvalSettings(task="egoschema"), item, item.video, fitted, 1.0, 1)
    assert row["prompt_fits"] == ["generate: 8 -> 4 frames"]
    assert error_row("egoschema", item, None, "error", "video not found")["prompt_fits"] == []


def test_outputs_are_named_after_the_run():
    assert output_path(Path("runs/a.jsonl"), "metrics.json") == Path("runs/a.metrics.json")
    assert output_path(Path("runs/b.jsonl"), "metrics.json") != output_path(Path("runs/a.jsonl"), "metrics.json")


# ---- submission files --------------------------------------------------------------------------------

def rows_for(task, items, answers):
    settings = EvalSettings(task=task)
    return [error_row(task, i, None, "error", "video not found", missing_video=True) if a is None
            else answer_row(settings, i, i.video, a, 1.0, 1) for i, a in zip(items, answers, strict=True)]


def test_egoschema_kaggle_csv_and_answers_json(tmp_path):
    items = read_task("egoschema", DATA / "egoschema" / "questions.json")[:3]
    rows = rows_for("egoschema", items, [answer("D", "x"), answer(None, "no idea at all, the video is dark"), None])
    out = tmp_path / "ego.jsonl"
    files = write_submissions(TASKS["egoschema"], rows, out, summarise("egoschema", rows))
    with open(files["egoschema_kaggle_csv"], newline="") as f:
        table = list(csv.reader(f))
    assert table == [["q_uid", "answer"], [items[0].question_id, "3"], [items[1].question_id, "-1"],
                     [items[2].question_id, "-1"]]
    assert json.loads(Path(files["egoschema_answers_json"]).read_text()) == {
        items[0].question_id: 3, items[1].question_id: -1, items[2].question_id: -1}
    assert files["egoschema_kaggle_csv"] == str(tmp_path / "ego.egoschema_kaggle.csv")


def test_videomme_filled_template(tmp_path):
    items = read_task("videomme", FIXTURES / "videomme.json")
    rows = rows_for("videomme", items, [answer("C", "3"), answer("B", "go"), answer(None, "?"), None])
    files = write_submissions(TASKS["videomme"], rows, tmp_path / "vm.jsonl", summarise("videomme", rows))
    template = json.loads(Path(files["videomme_template"]).read_text())
    assert [v["video_id"] for v in template] == ["001", "002"]  # the template's ids, not the YouTube ids
    first = template[0]
    assert {k: first[k] for k in ("duration", "domain", "sub_category")} == {
        "duration": "short", "domain": "Knowledge", "sub_category": "Astronomy"}
    assert [(q["question_id"], q["answer"], q["response"]) for q in first["questions"]] == [
        ("001-1", "C", "C. 3"), ("001-2", "A", "B. go")]
    assert template[1]["questions"][1]["response"] == "" and first["questions"][0]["options"][0] == "A. 1"


def test_lvbench_answers_and_leaderboard_result_json(tmp_path):
    items = read_task("lvbench", FIXTURES / "video_info.meta.jsonl")
    rows = rows_for("lvbench", items, [answer("D", "1633"), answer(None, "hard to say"), answer("C", "x")])
    files = write_submissions(TASKS["lvbench"], rows, tmp_path / "lv.jsonl", summarise("lvbench", rows))
    assert json.loads(Path(files["lvbench_answers"]).read_text()) == {"101": "D", "102": "", "201": "C"}
    result = json.loads(Path(files["lvbench_result"]).read_text())
    assert result == {"EU": 0.0, "KIR": 1.0, "Rea": 0.0, "TG": 1.0, "Overall": pytest.approx(2 / 3)}


def test_tempcompass_predictions_file_in_its_own_layout(tmp_path):
    items = read_task("tempcompass", DATA / "tempcompass" / "captioning.json")[:2]
    rows = rows_for("tempcompass", items, [answer(None, "A man dunks."), None])
    files = write_submissions(TASKS["tempcompass"], rows, tmp_path / "tc.jsonl", summarise("tempcompass", rows))
    predictions = json.loads(Path(files["tempcompass_captioning"]).read_text())
    [entry, missing] = predictions["1034419625"]["action"]
    assert entry == {"question": items[0].meta["question"], "answer": "B. dunking a basketball",
                     "prediction": "A man dunks."}
    assert missing["prediction"] is None


def test_a_task_record_brings_its_own_submission_writer(tmp_path):
    from dataclasses import replace


    def answers_only(rows, out, metrics):
        path = output_path(out, "answers.txt")
        path.write_text("".join(f"{r['question_id']} {r['parsed']}\n" for r in rows))
        return {"answers": str(path)}

    items = read_task("egoschema", DATA / "egoschema" / "questions.json")[:2]
    rows = rows_for("egoschema", items, [answer("D", "x"), answer("A", "y")])
    task = replace(TASKS["egoschema"], name="egoschema_plain", write_submission=answers_only)
    files = write_submissions(task, rows, tmp_path / "run.jsonl", {})
    assert set(files) == {"results", "metrics", "answers"}  # only the record's writer ran
    assert Path(files["answers"]).read_text() == f"{items[0].question_id} D\n{items[1].question_id} A\n"
    assert TASKS["charades_sta"].write_submission is None
    assert set(write_submissions(TASKS["charades_sta"], rows, tmp_path / "ch.jsonl", {})) == {"results", "metrics"}
