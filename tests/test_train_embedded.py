"""Training utilities: the data stream (the same batches whether made inline or by forked workers), the
command line, and changing a trained VLM's input resolution."""

import argparse
import random

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines.train import embedded_data as data
from pipelines.train import embedded as train
from pipelines.train.embedded_models import resize_vlm_input


def frame_batch(rng: random.Random) -> list[str]:
    return [data.describe_example(data.random_frame(rng)).answer for _ in range(3)]


def test_worker_batches_equal_inline_batches_step_for_step():
    inline = list(train.batch_stream("s", train.TrainConfig(seed=7, workers=0), frame_batch, 5, 12))
    forked = list(train.batch_stream("s", train.TrainConfig(seed=7, workers=2), frame_batch, 5, 12))
    assert forked == inline
    assert len(inline) == 7 and len({tuple(b) for b in inline}) == 7  # one distinct batch per step


def test_a_resumed_stream_continues_where_it_stopped():
    whole = list(train.batch_stream("s", train.TrainConfig(seed=7), frame_batch, 0, 6))
    assert list(train.batch_stream("s", train.TrainConfig(seed=7, workers=2), frame_batch, 3, 6)) == whole[3:]


@pytest.mark.parametrize("argv, message", [
    (["--chain", "target", "--device", "cuda"], "only supported"),
    (["--chain", "target-long", "--workers", "-1"], "--workers"),
    (["--chain", "target-long", "--long-mix", "single=1,video=2"], "--long-mix"),
    (["--chain", "target-long", "--long-mix", "single=x"], "--long-mix"),
    (["--chain", "target-long", "--long-mix", "single=0,multi=0"], "--long-mix"),
    (["--chain", "draft-focus", "--image-size", "-8"], "--image-size"),
    (["--chain", "draft", "--image-size", "64"], "--image-size applies"),
    (["--chain", "target-focus", "--long-mix", "single=1"], "--long-mix applies"),
])
def test_bad_training_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        train.main(argv)
    assert message in capsys.readouterr().err


def test_long_mix_sets_the_batch_kind_weights():
    parser = argparse.ArgumentParser()
    assert train.parse_mix(parser, "single=5, sufficiency=1,multi=4") == {"single": 5, "sufficiency": 1, "multi": 4}


@pytest.fixture(scope="module")
def tiny_idefics3(tmp_path_factory):
    from pipelines.tiny.vlms import build_idefics3

    return build_idefics3(tmp_path_factory.mktemp("idefics3") / "model", image_size=32)


def test_a_resized_vlm_sees_frames_at_the_new_resolution(tiny_idefics3, tmp_path):
    from transformers import AutoModelForImageTextToText

    from agentime.video.frames import Frame
    from agentime.vlm.registry import load_vlm
    from pipelines.train.embedded_models import save_folder

    model, processor = train.load_exported(tiny_idefics3, "cpu", image_size=48)
    image = np.zeros((240, 320, 3), np.uint8)
    inputs = processor(text=["<image> a"], images=[[Image.fromarray(image)]], return_tensors="pt")
    assert tuple(inputs["pixel_values"].shape[-2:]) == (48, 48)
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 9  # 6x6 patches, pixel shuffle 2
    folder = save_folder(model, processor, tmp_path / "resized", dtype="float32")
    assert AutoModelForImageTextToText.from_pretrained(folder).config.vision_config.image_size == 48
    vlm = load_vlm(f"hf:{folder}")
    frames = [Frame(float(t), np.full((240, 320, 3), 40 * t, np.uint8)) for t in range(3)]
    assert vlm.yes_probability(frames, "a red circle is visible").shape == (3,)


def test_resizing_keeps_the_position_table_oriented(tiny_idefics3):
    """A table that grows down the rows (or across the columns) of the patch grid still does so, and only so,
    at the new size: rows and columns are not swapped or scrambled by the interpolation."""
    side = 4  # 32 px / patch 8
    for axis in (0, 1):
        model, processor = train.load_exported(tiny_idefics3, "cpu")
        table = model.model.vision_model.embeddings.position_embedding.weight
        rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        ramp = (rows if axis == 0 else cols).reshape(-1, 1).float()
        with torch.no_grad():
            table.copy_(ramp.expand_as(table))
        resize_vlm_input(model, processor, 64)
        new = model.model.vision_model.embeddings.position_embedding.weight.reshape(8, 8, -1)[..., 0].detach()
        along = new if axis == 0 else new.T  # along[i, j]: i runs in the ramp's direction
        assert torch.allclose(along, along[:, :1].expand_as(along), atol=1e-5)
        assert bool((along[1:, 0] >= along[:-1, 0]).all()) and along[-1, 0] - along[0, 0] > side - 1.5
    with pytest.raises(ValueError, match="multiple of"):
        resize_vlm_input(model, processor, 60)


def _trained_linear(steps: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.1)
    for _ in range(steps):
        module(torch.ones(1, 4)).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    return module, optimizer


def test_a_checkpoint_resumes_at_its_step_with_its_weights(tmp_path):
    module, optimizer = _trained_linear(3)
    train.save_checkpoint(tmp_path, module, optimizer, step=3)
    fresh, fresh_optimizer = _trained_linear(0)
    assert train.load_checkpoint(tmp_path, fresh, fresh_optimizer) == 3
    assert torch.equal(fresh.weight, module.weight)


def test_a_checkpoint_torn_between_its_files_starts_the_stage_over(tmp_path):
    early, early_optimizer = _trained_linear(2)
    train.save_checkpoint(tmp_path / "early", early, early_optimizer, step=2)
    late, late_optimizer = _trained_linear(5)
    train.save_checkpoint(tmp_path, late, late_optimizer, step=5)
    # a stop after the weights of step 5 were replaced but before the moments were
    (tmp_path / "early" / "optimizer.safetensors").replace(tmp_path / "optimizer.safetensors")
    fresh, fresh_optimizer = _trained_linear(0)
    untouched = fresh.weight.detach().clone()
    assert train.load_checkpoint(tmp_path, fresh, fresh_optimizer) == 0
    assert torch.equal(fresh.weight, untouched)
