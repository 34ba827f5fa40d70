"""Answer.evidence holds one entry per decoded picture, however the search reached it."""

import numpy as np

from agentime.api import EvidenceFrame, unique_evidence
from agentime.video.frames import Frame


def picture(t: float, pts: int | None) -> Frame:
    return Frame(t, np.zeros((4, 4, 3), np.uint8), pts)


def test_the_same_picture_reached_twice_is_one_entry_and_keeps_its_score():
    context = EvidenceFrame(10.9333, None, "just after the found span", "answer", picture(10.9333, 328))
    scored = EvidenceFrame(10.933, 0.91, "target scored it", "target", picture(10.933, 328))
    other = EvidenceFrame(11.0, 0.5, "target scored it", "target", picture(11.0, 330))
    kept = unique_evidence([context, scored, other])
    assert kept == [scored, other]


def test_frames_without_pts_are_merged_by_millisecond_only():
    a = EvidenceFrame(3.0001, 0.2, "r", "target", picture(3.0001, None))
    b = EvidenceFrame(3.0004, 0.4, "r", "target", picture(3.0004, None))
    c = EvidenceFrame(3.2, 0.4, "r", "target", picture(3.2, None))
    assert unique_evidence([a, b, c]) == [a, c]
