"""pipelines.bench_scale: the generated videos of each length and the comparison against the targets."""

import json

from pipelines.bench.scale import make_scale_video, ratios
from agentime.video.source import open_video


def test_a_generated_length_has_its_video_and_questions_and_is_made_once(tmp_path):
    folder = make_scale_video(tmp_path, 1 / 30, seed=3)  # two minutes
    questions = json.loads((folder / "questions.json").read_text())
    video = folder / questions[0]["video_path"]
    assert abs(open_video(video).info.duration - 120) < 1
    assert {q["task_type"] for q in questions} == {"needle", "grounding", "order"} and len(questions) == 10
    assert all(0 <= q["answer_spans"][0][0] < q["answer_spans"][0][1] <= 120 for q in questions)
    stamp = video.stat().st_mtime_ns
    assert make_scale_video(tmp_path, 1 / 30, seed=3) == folder and video.stat().st_mtime_ns == stamp


def _length(hours, per_hour, rss, seconds, frames, accuracy):
    return {"hours": hours, "ingest_seconds_per_hour": per_hour, "peak_rss_mb": {"ingest": rss, "ask": rss},
            "strategies": {"timesearch": {"accuracy": accuracy, "seconds_per_question": seconds,
                                          "target_frames": frames}}}


def test_the_longest_length_is_compared_with_the_shortest_against_each_target():
    found = ratios(_length(1, 60, 500, 1.0, 30, 0.9), _length(12, 66, 800, 1.5, 50, 0.8), ["timesearch"])
    assert found["ingest_seconds_per_hour"] == {"ratio": 1.1, "target": 1.2, "met": True}
    assert found["peak_rss_mb_ask"]["ratio"] == 1.6 and not found["peak_rss_mb_ask"]["met"]
    assert found["timesearch"]["seconds_per_question"]["met"] and not found["timesearch"]["target_frames"]["met"]
    assert found["timesearch"]["accuracy"] == {"value": 0.8, "target": 0.85, "met": False}
