"""The families users run (Qwen2.5-VL, Qwen3-VL, InternVL3, LLaVA-OneVision, SmolVLM2, Gemma 3), as they ship,
through the hf backend: prompt layout, one frame, 32 timestamped frames, mixed-length batches, yes-probability."""

import re

import numpy as np
import pytest
import torch

from agentime.video.frames import Frame
from agentime.video.tafr import format_timestamp
from agentime.vlm.base import yes_no_parts
from agentime.vlm.families import FAMILIES
from agentime.vlm.hf import HFVLM
from pipelines.tiny.families import FAMILY_BUILDERS
from tiny_models import family_folder, family_vlm, frames

NAMES = list(FAMILY_BUILDERS)
STATEMENT = "a red car is visible"

# Each family's prompt for timestamped frames and a statement, written from its shipped chat template
# (turn markers, default system turn, what stands for an image) and its processor's placeholder.
LAYOUTS = {
    "qwen2_5_vl": ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{body}<|im_end|>\n"
                   "<|im_start|>assistant\n", "<|vision_start|><|image_pad|><|vision_end|>"),
    "qwen3_vl": ("<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n",
                 "<|vision_start|><|image_pad|><|vision_end|>"),
    "internvl": ("<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n", "<IMG_CONTEXT>\n"),
    "llava_onevision": ("<|im_start|>user \n{body}<|im_end|>\n<|im_start|>assistant\n", "<image>"),
    "smolvlm": ("<|im_start|>User: {body}<end_of_utterance>\nAssistant:", "<image>"),
    "gemma3": ("<bos><start_of_turn>user\n{body}<end_of_turn>\n<start_of_turn>model\n", "<start_of_image>"),
}
# The token each family's processor repeats for an image's features.
FEATURE_TOKENS = {"qwen2_5_vl": "<|image_pad|>", "qwen3_vl": "<|image_pad|>", "internvl": "<IMG_CONTEXT>",
                  "llava_onevision": "<image>", "smolvlm": "<image>", "gemma3": "<image_soft_token>"}


def expected_prompt(name: str, clip: list[Frame], statement: str = STATEMENT) -> str:
    layout, image = LAYOUTS[name]
    body = "".join(format_timestamp(f.t) + image for f in clip) + f"Statement: {statement}\nAnswer yes or no."
    return layout.format(body=body)


def own_next_token_logprobs(vlm: HFVLM, text: str, clip: list[Frame]):
    """The model's next-token distribution for `text`, run through its processor and forward pass directly."""
    from PIL import Image

    inputs = vlm.processor(text=[text], images=[[Image.fromarray(f.image) for f in clip]], return_tensors="pt")
    with torch.inference_mode():
        logits = vlm.model(**inputs).logits[0, -1].float()
    return torch.log_softmax(logits, dim=-1)


def own_yes_probability(vlm: HFVLM, text: str, clip: list[Frame]) -> float:
    logprobs = own_next_token_logprobs(vlm, text, clip)
    words = {i: vlm.tokenizer.decode([i]).strip().lower() for i in range(len(vlm.tokenizer))}
    yes = torch.logsumexp(logprobs[[i for i, w in words.items() if w == "yes"]], 0)
    no = torch.logsumexp(logprobs[[i for i, w in words.items() if w == "no"]], 0)
    return float(torch.sigmoid(yes - no))


def test_every_family_in_the_table_has_a_builder():
    assert set(FAMILIES) == set(FAMILY_BUILDERS) == set(LAYOUTS)
    for name in NAMES:
        config = (family_folder(name) / "config.json").read_text()
        assert f'"model_type": "{name}"' in config


@pytest.mark.parametrize("name", NAMES)
def test_rendered_prompt_is_the_family_layout_with_each_timestamp_before_its_frame(name):
    vlm = family_vlm(name)
    clip = frames(3, seed=5, start=61.0)
    text, images = vlm.render([("user", yes_no_parts(clip, STATEMENT))])
    assert text == expected_prompt(name, clip)
    assert len(images) == 3
    assert vlm.chat_renderer.image_placeholder == LAYOUTS[name][1]
    assert vlm.chat_renderer.keeps_order == FAMILIES[name].interleaved_template


@pytest.mark.parametrize("name", NAMES)
def test_one_frame_scores_and_generates_from_the_models_own_logits(name):
    vlm = family_vlm(name)
    clip = frames(1, seed=7)
    got = vlm.yes_probability([clip[0]], STATEMENT)[0]
    assert got == pytest.approx(own_yes_probability(vlm, expected_prompt(name, clip), clip), abs=2e-5)
    assert got != pytest.approx(vlm.yes_probability([clip[0]], "the video shows a blue square")[0], abs=1e-6)
    out = vlm.generate(yes_no_parts(clip[0], STATEMENT), max_new_tokens=2)
    first = int(torch.argmax(own_next_token_logprobs(vlm, expected_prompt(name, clip), clip)))
    assert out.token_ids[:1] == [first] or (not out.token_ids and first in vlm._eos_ids())


@pytest.mark.parametrize("name", NAMES)
def test_32_timestamped_frames_each_bound_to_its_timestamp_in_the_token_stream(name):
    vlm = family_vlm(name)
    clip = frames(32, seed=11, start=3600.0)
    parts = yes_no_parts(clip, STATEMENT)
    inputs = vlm.encode([[("user", parts)]])
    stream = vlm.tokenizer.decode(inputs["input_ids"][0].tolist())
    feature = FEATURE_TOKENS[name]
    positions = [stream.index(format_timestamp(f.t)) for f in clip]
    assert positions == sorted(positions)
    assert feature not in stream[:positions[0]]
    for here, after in zip(positions, positions[1:] + [stream.index("Statement:")]):
        between = stream[here:after]
        assert feature in between and re.search(r"\[\d\d:\d\d:\d\d\.\d\]", between[12:]) is None
    if name == "smolvlm":  # frames are not split into tiles, as in SmolVLM's own video path
        assert "<row_" not in stream and stream.count("<global-img>") == 32
    value = vlm.yes_probability([clip], STATEMENT)[0]
    assert value == pytest.approx(own_yes_probability(vlm, expected_prompt(name, clip), clip), abs=5e-5)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_length_batch_equals_one_by_one_whatever_side_the_tokenizer_pads(name):
    vlm = family_vlm(name)
    clip = frames(4, seed=13)
    items = [clip[0], clip[1:4], clip[2:4], clip[3]]
    together = vlm.yes_probability(items, STATEMENT)
    alone = np.array([vlm.yes_probability([item], STATEMENT)[0] for item in items])
    np.testing.assert_allclose(together, alone, atol=5e-5)
    assert vlm.encode([[("user", yes_no_parts(item, STATEMENT))] for item in items])["attention_mask"][:, -1].all()


def test_right_padded_tokenizers_as_shipped_are_padded_left_for_scoring():
    # Qwen-style tokenizers ship right-padded; the backend must not read padding as the last position.
    import json

    saved = json.loads((family_folder("qwen2_5_vl") / "tokenizer_config.json").read_text())
    assert saved.get("padding_side", "right") == "right"
    assert family_vlm("qwen2_5_vl").tokenizer.padding_side == "left"


def test_check_families_pipeline_reports_every_check(capsys):
    import json

    from pipelines.bench.check_families import main

    assert main(["--json", "--family", "qwen2_5_vl", "--family", "llava_onevision", "--family", "gemma3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["families"]) == {"qwen2_5_vl", "llava_onevision", "gemma3"} and report["all_ok"] is True
    assert report["families"]["gemma3"]["frames_as_video"] is None
    for result in report["families"].values():
        assert result["prompt_layout"] is result["yes_probability"] is result["batch_left_padded"] is True
    assert report["families"]["qwen2_5_vl"]["frames_as_video"] is True
    assert report["families"]["llava_onevision"]["frames_as_video"] is True
    assert report["families"]["llava_onevision"]["template_keeps_order"] is False
