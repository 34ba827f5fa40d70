"""The UI's speech parts: the subtitle upload's checks, the transcript lines under the gallery and the speech
lane on the timeline (its buttons carry the time the page's script seeks to)."""

from __future__ import annotations

from agentime.api import Answer, EvidenceFrame, SpeechEvidence


def _answer(speech: bool) -> Answer:
    evidence = [EvidenceFrame(12.0, 0.9, "zoom", "target")]
    if speech:
        evidence.append(SpeechEvidence(61.5, 64.0, "Today's *ticket* price is 35 dollars.", 0.71))
    return Answer(question="Which price?", text="35 dollars", choice="A", spans=[(61.5, 64.0)], evidence=evidence,
                  confidence=0.9, strategy="spectemp", trace=[], stats={"speech": {"source": "file:x.srt"}})


def test_transcript_lines_are_listed_with_their_times_and_escaped():
    from ui.answers import gallery_times, transcript_markdown

    text = transcript_markdown(_answer(True))
    assert "01:02–01:04" in text and "Today's \\*ticket\\* price is 35 dollars." in text
    assert transcript_markdown(_answer(False)) == "*No line of the transcript matches this question.*"
    assert gallery_times(_answer(True)) == []  # the speech line has no picture: not in the gallery


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
