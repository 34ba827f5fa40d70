"""Timestamp-bound prompts, and the package's promise that importing it stays light."""

import subprocess
import sys

import numpy as np
import pytest

from agentime.video.frames import Frame
from agentime.video.tafr import (
    build_prompt,
    burn_in_timestamp,
    find_timestamps,
    format_timestamp,
    parse_timestamp,
)


@pytest.mark.parametrize("seconds,text", [(0, "[00:00:00.0]"), (3723.46, "[01:02:03.5]"), (59.96, "[00:01:00.0]"),
                                          (36000 * 11 + 0.1, "[110:00:00.1]")])
def test_timestamp_format_and_parse(seconds, text):
    assert format_timestamp(seconds) == text
    assert parse_timestamp(text) == pytest.approx(round(seconds, 1))


def test_bad_timestamps():
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            format_timestamp(bad)
    with pytest.raises(ValueError):
        parse_timestamp("12 o'clock")
    assert find_timestamps("from [00:01:02.5] to 00:02:00") == [62.5, 120.0]


def test_prompt_puts_each_timestamp_right_before_its_frame():
    frames = [Frame(t, np.zeros((8, 8, 3), np.uint8)) for t in (1.0, 65.5)]
    parts = build_prompt(frames, "What is shown?", preamble="Frames:", options=["a cat", "a dog"])
    assert parts[0] == "Frames:"
    assert parts[1] == "[00:00:01.0]" and parts[2] is frames[0]
    assert parts[3] == "[00:01:05.5]" and parts[4] is frames[1]
    assert parts[5] == "What is shown?\nA. a cat\nB. a dog"
    with pytest.raises(ValueError, match="empty"):
        build_prompt(frames, "  ")


def test_burn_in_draws_only_in_the_corner():
    frame = Frame(3723.5, np.full((240, 320, 3), 128, np.uint8))
    stamped = burn_in_timestamp(frame)
    changed = np.argwhere(np.any(stamped.image != 128, axis=2))
    assert changed.size and changed[:, 0].max() < 40 and stamped.t == frame.t
    assert np.all(frame.image == 128)  # the original is untouched


def test_frame_validates_its_image():
    with pytest.raises(ValueError, match="RGB"):
        Frame(0.0, np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        Frame(0.0, np.zeros((8, 8, 3), np.float32))


def test_import_agentime_does_not_load_torch():
    code = "import sys, agentime; agentime.Config; assert 'torch' not in sys.modules, 'torch loaded'; " \
           "assert 'av' not in sys.modules and 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
