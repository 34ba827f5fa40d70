"""The shipped embedded models: they load with plain transformers, fit the size budget, and fail clearly."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agentime.errors import VLMError

from agentime.video.frames import Frame
from agentime.vlm.registry import MODELS_DIR, load_vlm

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("embedder", "draft", "target")


def test_shipped_weights_fit_the_size_budget():
    sizes = {name: sum(f.stat().st_size for f in (MODELS_DIR / name).glob("*.safetensors")) for name in NAMES}
    assert all(size > 100_000 for size in sizes.values()), sizes
    assert sum(sizes.values()) <= 25 * 1024 * 1024, sizes
    for name in NAMES:
        card = (MODELS_DIR / name / "README.md").read_text()
        assert "synthetic" in card and "seed" in card


def test_shipped_folders_load_with_plain_transformers_offline():
    code = f"""
import json, sys
from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor
out = {{}}
for name in ("draft", "target"):
    model = AutoModelForImageTextToText.from_pretrained({str(MODELS_DIR)!r} + "/" + name)
    out[name] = type(model).__name__
try:
    for name in ("draft", "target"):
        AutoProcessor.from_pretrained({str(MODELS_DIR)!r} + "/" + name)
    out["processor"] = "ok"
except Exception as exc:  # the video processor of Idefics3 needs torchvision on some versions
    out["processor"] = type(exc).__name__
out["embedder"] = type(AutoModel.from_pretrained({str(MODELS_DIR)!r} + "/embedder")).__name__
AutoProcessor.from_pretrained({str(MODELS_DIR)!r} + "/embedder")
print(json.dumps(out))
"""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["target"] == loaded["draft"] == "Idefics3ForConditionalGeneration"
    assert loaded["embedder"] == "SiglipModel"
    assert loaded["processor"] == "ok"


def test_missing_weights_error_names_the_file(tmp_path):
    folder = tmp_path / "draft"
    shutil.copytree(MODELS_DIR / "draft", folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(VLMError, match="no weights file .model.safetensors"):
        load_vlm(f"hf:{folder}")


def test_corrupted_weights_error_names_the_file(tmp_path):
    folder = tmp_path / "draft"
    shutil.copytree(MODELS_DIR / "draft", folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(VLMError, match="model.safetensors is corrupted or truncated"):
        load_vlm(f"hf:{folder}")


@pytest.fixture(scope="module")
def draft():
    return load_vlm("embedded:draft")


def test_non_rgb_frames_are_converted(draft):
    gray = np.full((240, 320), 90, np.uint8)
    rgba = np.zeros((240, 320, 4), np.uint8)
    for image in (gray, rgba, Image.fromarray(gray)):
        answer = draft.generate([image, "What text is shown on screen?"], max_new_tokens=4)
        assert isinstance(answer.text, str)
    assert Frame(0.0, np.zeros((240, 320, 3), np.uint8)).image.shape == (240, 320, 3)


def test_questions_outside_the_vocabulary_still_get_an_answer(draft):
    frame = Frame(3.0, np.full((240, 320, 3), 40, np.uint8))
    p = draft.yes_probability([frame], "a purple elephant plays the violin")
    assert p.shape == (1,) and 0.0 <= float(p[0]) <= 1.0
    answer = draft.generate([frame, "Qu'est-ce que c'est? 🙂"], max_new_tokens=8, top_logprobs=3)
    assert isinstance(answer.text, str)
    assert answer.logprobs is not None and all(lp <= 0.0 for lp in answer.logprobs)


def test_binding_negatives_cross_the_attributes_of_two_visible_objects():
    import random

    from pipelines.train import embedded_data as data

    rng = random.Random(3)
    crossed = {data.binding_negative(rng, {"blue diamond", "green square"}) for _ in range(50)}
    assert crossed == {"blue square", "green diamond"}
    assert data.binding_negative(rng, {"red circle"}) is None
    assert data.binding_negative(rng, {"red circle", "red square"}) is None  # every cross is visible
    examples = [data.yes_no_example(rng, data.random_frame(rng), kinds={"binding": 1}) for _ in range(200)]
    binding = [e for e in examples if e.extra.get("kind") == "binding"]
    assert binding and all(e.answer == "no" for e in binding)
