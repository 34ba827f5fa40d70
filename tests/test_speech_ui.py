"""The UI's speech parts: the subtitle upload's checks, the transcript lines under the gallery (choosing one
seeks the player) and the speech lane on the timeline (its buttons carry the time the page's script seeks to)."""

from __future__ import annotations

import numpy as np

from agentime.api import Answer, EvidenceFrame, SpeechEvidence
from agentime.video.frames import Frame


def _answer(speech: bool) -> Answer:
    evidence = [EvidenceFrame(12.0, 0.9, "zoom", "target", Frame(12.0, np.zeros((8, 8, 3), np.uint8)))]
    if speech:
        evidence.append(SpeechEvidence(61.5, 64.0, "Today's ticket price is 35 dollars.", 0.71))
    return Answer(question="Which price?", text="35 dollars", choice="A", spans=[(61.5, 64.0)], evidence=evidence,
                  confidence=0.9, strategy="spectemp", trace=[], stats={"speech": {"source": "file:x.srt"}})


def test_transcript_lines_are_listed_with_their_times_and_choosing_one_seeks_there():
    from ui.answers import gallery_times, transcript_lines
    from ui.callbacks import UserState, _show, select_line

    assert transcript_lines(_answer(True)) == ["01:02–01:04 “Today's ticket price is 35 dollars.”"]
    assert transcript_lines(_answer(False)) == []
    assert gallery_times(_answer(True)) == [12.0]  # the speech line has no picture: not in the gallery

    class Choice:
        specs = {"target": "embedded:target"}

    class Settings:
        allowed_dirs, model_urls_allowed = [], False

    class Runtime:
        settings = Settings()

    state = UserState(name="talk.mp4")
    shown = _show(_answer(True), state, Choice(), "asked", Runtime(), 120.0)
    assert shown["transcript"] == transcript_lines(_answer(True)) and "What was said" in shown["timeline"]
    assert select_line(0, state) == (61.5, "Player moved to 01:02 (when the line is said).")
    assert select_line(3, state)[0] is None


def test_timeline_has_a_speech_lane_whose_button_seeks_to_the_line():
    from ui.timeline import timeline_html

    html = timeline_html([], 120.0, [(61.5, 64.0)], [12.0], speech=[(61.5, 64.0, "Today's price is 35 dollars.")])
    assert "What was said" in html and 'data-t="61.500"' in html and "said: Today&#x27;s price" in html
    assert "What was said" not in timeline_html([], 120.0, [], [12.0])


def test_subtitle_upload_is_checked_and_resets_the_session(tmp_path):
    from ui.callbacks import UserState, choose_subtitles

    state = UserState(session=object(), session_key=("v",))
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    values = choose_subtitles(str(srt), state)
    assert state.subtitles == str(srt) and state.session is None and "Subtitles ready" in values["status"]
    values = choose_subtitles(str(tmp_path / "notes.txt"), state)
    assert state.subtitles is None and "not a subtitle file" in values["status"]
    assert "removed" in choose_subtitles(None, state)["status"]
    empty = tmp_path / "empty.srt"
    empty.write_text("")
    values = choose_subtitles(str(empty), state)  # refused at upload, not at the next question
    assert state.subtitles is None and values["status"].startswith("**Error:**") and "empty.srt" in values["status"]


def test_an_answer_read_from_the_transcript_says_so():
    from ui.answers import frames_sentence

    answer = _answer(speech=True)
    answer.stats.update(target_frames=0, draft_frames=0)
    answer.trace.append({"step": "answer", "model": "transcript"})
    assert frames_sentence(answer) == "answered from the transcript, without looking at a frame"
    answer.trace[-1]["model"] = "target"
    assert "earlier searches" in frames_sentence(answer)
