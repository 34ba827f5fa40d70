"""Video-native input in process (`frames_as="video"`): Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from agentime.errors import ConfigError
from agentime.video.frames import Frame
from agentime.video.tafr import format_timestamp
from agentime.vlm.base import yes_no_parts
from agentime.vlm.hf import HFConfig, HFVLM
from agentime.vlm.qwen_video import video_patches
from tiny_models import family_folder, family_vlm, frames

STATEMENT = "a red car is visible"


@pytest.fixture(scope="module")
def video_vlm():
    return HFVLM(HFConfig(str(family_folder("qwen2_5_vl")), frames_as="video", max_batch=4))


@pytest.fixture(scope="module")
def qwen3_video_vlm():
    return HFVLM(HFConfig(str(family_folder("qwen3_vl")), frames_as="video", max_batch=4))


def test_video_patches_hold_two_frames_each_in_the_image_processors_layout(video_vlm):
    processor = video_vlm.processor.image_processor
    a, b, c = (Image.fromarray(f.image) for f in frames(3, size=56, seed=1))
    rows = {name: np.asarray(processor(images=[im], return_tensors="np")["pixel_values"]).reshape(-1, 3, 2, 14, 14)
            for name, im in (("a", a), ("b", b), ("c", c))}
    assert all(np.array_equal(r[:, :, 0], r[:, :, 1]) for r in rows.values())  # an image repeats along time
    patches, grid = video_patches(processor, [a, b, c])
    assert grid == (2, 4, 4)
    video = patches.reshape(2, 16, 3, 2, 14, 14)
    for (group, slot), name in {(0, 0): "a", (0, 1): "b", (1, 0): "c", (1, 1): "c"}.items():
        assert np.array_equal(video[group, :, :, slot], rows[name][:, :, 0])


def test_a_still_video_scores_as_the_same_frame_given_as_an_image(video_vlm):
    frame = frames(1, size=56, seed=2)[0]
    still = [Frame(1.0, frame.image), Frame(2.0, frame.image)]
    listing = f"Video of 2 frames at {format_timestamp(1.0)}, {format_timestamp(2.0)}:"
    as_image = family_vlm("qwen2_5_vl").yes_probability_chats(
        [[("user", [listing, frame, f"Statement: {STATEMENT}\nAnswer yes or no."])]])
    assert video_vlm.yes_probability([still], STATEMENT)[0] == pytest.approx(float(as_image[0]), abs=1e-5)


def test_32_frames_are_one_video_with_their_timestamps_and_time_aligned_positions(video_vlm):
    clip = frames(32, seed=3, start=600.0)  # 1.5 s apart
    inputs = video_vlm.encode([[("user", yes_no_parts(clip, STATEMENT))]])
    text = video_vlm.tokenizer.decode(inputs["input_ids"][0])
    listing = "Video of 32 frames at " + ", ".join(format_timestamp(f.t) for f in clip) + ":<|vision_start|>"
    assert listing in text and "<|image_pad|>" not in text
    assert inputs["video_grid_thw"].tolist() == [[16, 4, 4]]
    assert inputs["second_per_grid_ts"].tolist() == [3.0]
    positions, _ = video_vlm.model.model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
        second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"])
    is_video = inputs["input_ids"][0] == video_vlm.model.config.video_token_id
    temporal = positions[0, 0][is_video].reshape(16, 4)[:, 0]
    step = video_vlm.model.config.vision_config.tokens_per_second * 3.0
    assert torch.equal(temporal - temporal[0], (torch.arange(16) * step).to(temporal.dtype))


def test_qwen3_video_writes_each_temporal_patch_after_its_time_and_a_still_video_scores_as_an_image(
        qwen3_video_vlm):
    clip = frames(5, seed=5, start=600.0)  # 600.0, 601.5, ... 606.0
    inputs = qwen3_video_vlm.encode([[("user", yes_no_parts(clip, STATEMENT))]])
    text = qwen3_video_vlm.tokenizer.decode(inputs["input_ids"][0])
    times = re.findall(r"<(\d+\.\d) seconds><\|vision_start\|>(?:<\|video_pad\|>)+<\|vision_end\|>", text)
    assert times == ["600.8", "603.8", "606.0"]  # pairs (600, 601.5), (603, 604.5), (606, 606 repeated)
    assert inputs["video_grid_thw"].tolist() == [[3, 4, 4]] and "second_per_grid_ts" not in inputs
    frame = frames(1, size=64, seed=6)[0]
    still = [Frame(1.0, frame.image), Frame(2.0, frame.image)]
    as_image = family_vlm("qwen3_vl").yes_probability_chats(
        [[("user", ["<1.5 seconds>", frame, f"Statement: {STATEMENT}\nAnswer yes or no."])]])
    assert qwen3_video_vlm.yes_probability([still], STATEMENT)[0] == pytest.approx(float(as_image[0]), abs=1e-5)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "llava_onevision"])
def test_video_batches_of_mixed_lengths_equal_one_by_one(family, video_vlm, qwen3_video_vlm, onevision_video_vlm):
    video_vlm = {"qwen2_5_vl": video_vlm, "qwen3_vl": qwen3_video_vlm, "llava_onevision": onevision_video_vlm}[family]
    clip = frames(5, seed=4)
    items = [clip, clip[:2], clip[0], clip[1:4]]
    together = video_vlm.yes_probability(items, STATEMENT)
    alone = [video_vlm.yes_probability([item], STATEMENT)[0] for item in items]
    np.testing.assert_allclose(together, alone, atol=5e-5)
    assert not np.allclose(together[0], together[1])


@pytest.fixture(scope="module")
def onevision_video_vlm():
    return HFVLM(HFConfig(str(family_folder("llava_onevision")), frames_as="video", max_batch=4))


def test_onevision_frames_are_single_frame_videos_each_after_its_timestamp(onevision_video_vlm):
    vlm = onevision_video_vlm
    clip = frames(3, size=40, seed=7, start=90.0)
    inputs = vlm.encode([[("user", yes_no_parts(clip, STATEMENT))]])
    text = vlm.tokenizer.decode(inputs["input_ids"][0])
    pooled = 1 + 1  # the tiny tower's 2x2 patch grid pools to 1x1, plus the newline feature
    body = "".join(format_timestamp(f.t) + "<video>" * pooled for f in clip)
    assert f"<|im_start|>user \n{body}Statement: {STATEMENT}" in text and "<image>" not in text
    pixels = inputs["pixel_values_videos"]
    assert tuple(pixels.shape) == (3, 1, 3, 28, 28)
    for frame, got in zip(clip, pixels[:, 0]):  # the whole frame resized and normalised, as the video path does
        want = np.asarray(Image.fromarray(frame.image).resize((28, 28), resample=3)).astype(np.float64) / 255
        want = ((want - 0.5) / 0.5).transpose(2, 0, 1)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    image_path = family_vlm("llava_onevision").yes_probability([clip], STATEMENT)[0]
    assert vlm.yes_probability([clip], STATEMENT)[0] != pytest.approx(image_path, abs=1e-6)


def test_video_in_process_is_refused_with_a_way_out_for_other_families():
    with pytest.raises(ConfigError, match="frames_as='images'"):
        HFVLM(HFConfig(str(family_folder("gemma3")), frames_as="video"))
    with pytest.raises(ConfigError, match="frames_as"):
        HFVLM(HFConfig(str(family_folder("qwen2_5_vl")), frames_as="film"))


def test_smolvlm_video_prompt_is_its_own_video_text_with_untiled_frames():
    vlm = HFVLM(HFConfig(str(family_folder("smolvlm")), frames_as="video"))
    clip = [Frame(t, f.image) for t, f in zip((61.0, 62.5, 64.0), frames(3, seed=8))]
    expected = ("<|im_start|>User: You are provided the following series of three frames from a 0:01:04 [H:MM:SS] "
                "video.\n\nFrame from 01:01:<image>\nFrame from 01:02:<image>\nFrame from 01:04:<image>\n\n"
                f"Statement: {STATEMENT}\nAnswer yes or no.<end_of_utterance>\nAssistant:")
    from PIL import Image as PILImage

    own = vlm.processor(text=[expected], images=[[PILImage.fromarray(f.image) for f in clip]], return_tensors="pt")
    inputs = vlm.encode([[("user", yes_no_parts(clip, STATEMENT))]])
    assert torch.equal(inputs["input_ids"], own["input_ids"])
    text = vlm.tokenizer.decode(inputs["input_ids"][0])
    assert "<row_" not in text and text.count("<global-img>") == 3
    with torch.inference_mode():
        logits = vlm.model(**own).logits[0, -1]
    assert torch.allclose(vlm.next_token_logprobs([[("user", yes_no_parts(clip, STATEMENT))]])[0],
                          torch.log_softmax(logits.float(), -1), atol=2e-5)
