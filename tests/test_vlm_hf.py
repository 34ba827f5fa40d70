"""The hf backend on tiny random models of real architectures: generation, yes-probabilities, prompts, errors."""

import json
import shutil

import numpy as np
import pytest
import torch

from agentime.video.frames import Frame
from agentime.video.tafr import build_prompt, format_timestamp
from agentime.vlm.base import yes_no_parts
from agentime.vlm.errors import (
    InvalidPromptError,
    ModelNotFoundError,
    ProcessorMissingError,
    TrustRemoteCodeError,
    UnsupportedArchitectureError,
)
from agentime.vlm.hf import HFConfig, HFVLM, HFEmbedder, frame_token_spans, select_device_dtype
from tiny_models import frames, tiny_model, tiny_vlm

ARCHS = ["llava", "idefics3", "qwen2_5_vl", "llava_onevision"]


def _own_next_token_logprobs(vlm, parts):
    """The model's own next-token distribution, computed without the backend's encode/score path."""
    from PIL import Image

    content = [{"type": "image"} if isinstance(p, Frame) else {"type": "text", "text": p} for p in parts]
    text = vlm.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                             tokenize=False)
    images = [Image.fromarray(p.image) for p in parts if isinstance(p, Frame)]
    inputs = vlm.processor(text=[text], images=[images], return_tensors="pt")
    with torch.inference_mode():
        logits = vlm.model(**inputs).logits[0, -1].float()
    return torch.log_softmax(logits, dim=-1), inputs


def _answer_ids(tokenizer, word):
    return [i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip().lower() == word]


@pytest.mark.parametrize("arch", ARCHS)
def test_yes_probability_matches_model_logits(arch):
    vlm = tiny_vlm(arch)
    clip = frames(3, seed=1)
    items = [clip[0], clip[1:3]]
    statement = "a red circle is visible"
    got = vlm.yes_probability(items, statement)
    assert got.shape == (2,)
    yes_ids, no_ids = _answer_ids(vlm.tokenizer, "yes"), _answer_ids(vlm.tokenizer, "no")
    assert yes_ids and no_ids
    for item, value in zip(items, got):
        logprobs, _ = _own_next_token_logprobs(vlm, yes_no_parts(item, statement))
        yes, no = torch.logsumexp(logprobs[yes_ids], 0), torch.logsumexp(logprobs[no_ids], 0)
        assert value == pytest.approx(float(torch.sigmoid(yes - no)), abs=2e-5)
    # A different statement or different frames change the score: it is read from the model, not constant.
    other = vlm.yes_probability(items, "the video shows a blue square at the top left")
    assert not np.allclose(got, other)


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_reports_the_models_own_greedy_tokens_and_logprobs(arch):
    vlm = tiny_vlm(arch)
    parts = build_prompt(frames(2, seed=2), "What happens?")
    out = vlm.generate(parts, max_new_tokens=4, top_logprobs=3)
    assert 1 <= len(out.tokens) <= 4 and len(out.logprobs) == len(out.tokens)
    assert out.finish_reason in ("stop", "length")
    logprobs, _ = _own_next_token_logprobs(vlm, parts)
    first = int(torch.argmax(logprobs))
    assert vlm.tokenizer.decode([first]) == out.tokens[0]
    assert out.logprobs[0] == pytest.approx(float(logprobs[first]), abs=1e-4)
    assert max(out.top_logprobs[0].values()) == pytest.approx(out.logprobs[0], abs=1e-6)
    assert out.token_ids[0] == first
    assert out.text == vlm.tokenizer.decode(out.token_ids, skip_special_tokens=True)
    assert isinstance(vlm.describe(frames(1), max_new_tokens=2), str)


@pytest.mark.parametrize("arch", ARCHS)
def test_multi_frame_prompt_binds_each_timestamp_to_its_frame(arch):
    vlm = tiny_vlm(arch)
    clip = frames(3, seed=3, start=61.0)
    parts = build_prompt(clip, "When does it change?")
    text, images = vlm.render([("user", parts)])
    assert len(images) == 3
    positions = [text.index(format_timestamp(f.t)) for f in clip]
    assert positions == sorted(positions)
    inputs = vlm.encode([[("user", parts)]])
    spans = vlm.frame_spans(inputs["input_ids"])[0]
    assert len(spans) == 3
    ids = inputs["input_ids"][0].tolist()
    for frame, (start, _end) in zip(clip, spans):
        before = vlm.tokenizer.decode(ids[max(0, start - 20):start])
        assert format_timestamp(frame.t) in before


def test_batched_scores_equal_single_scores():
    vlm = tiny_vlm("llava")
    clip = frames(5, seed=4)
    items = [clip[0], clip[1:4], clip[4], clip[0:2], clip[2], clip[3]]
    together = vlm.yes_probability(items, "a dog")
    alone = np.array([vlm.yes_probability([item], "a dog")[0] for item in items])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_frame_token_spans():
    ids = np.array([[5, 9, 9, 9, 1, 2, 9, 9, 3], [0, 0, 9, 1, 1, 1, 1, 1, 9]])
    assert frame_token_spans(ids, 9) == [[(1, 4), (6, 8)], [(2, 3), (8, 9)]]
    assert frame_token_spans(torch.tensor([9, 9, 1]), 9) == [(0, 2)]
    assert frame_token_spans([1, 2, 3], 9) == []


def test_odd_images_are_converted():
    vlm = tiny_vlm("llava")
    gray = np.arange(40 * 30, dtype=np.uint8).reshape(40, 30)
    rgba = np.full((20, 50, 4), 200, dtype=np.uint8)
    sliver = Frame(2.0, np.zeros((3, 90, 3), dtype=np.uint8))
    floats = np.random.default_rng(0).random((33, 17, 3))
    out = vlm.generate(["look", gray, rgba, sliver, floats, "what?"], max_new_tokens=2)
    assert out.tokens
    assert vlm.yes_probability([sliver], "a thing").shape == (1,)
    with pytest.raises(InvalidPromptError):
        vlm.generate([np.zeros((4, 4, 5), dtype=np.uint8), "bad channels"], max_new_tokens=1)


def test_bad_prompts_raise_clear_errors():
    vlm = tiny_vlm("llava")
    with pytest.raises(InvalidPromptError, match="empty"):
        vlm.generate([], max_new_tokens=2)
    with pytest.raises(InvalidPromptError, match="empty"):
        vlm.generate(["", "  "], max_new_tokens=2)
    with pytest.raises(InvalidPromptError, match="statement"):
        vlm.yes_probability(frames(1), " ")
    with pytest.raises(InvalidPromptError, match="takes at most"):
        vlm.generate(["yes " * (vlm.max_context + 10)], max_new_tokens=2)


def test_bad_model_folders_raise_actionable_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        HFVLM(HFConfig(str(tmp_path / "missing")))
    with pytest.raises(ModelNotFoundError, match="config.json"):
        HFVLM(HFConfig(str(tmp_path)))
    no_processor = tmp_path / "no_processor"
    no_processor.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(tiny_model("llava") / name, no_processor / name)
    with pytest.raises(ProcessorMissingError, match="processor"):
        HFVLM(HFConfig(str(no_processor)))
    text_only = tmp_path / "text_only"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    with pytest.raises(UnsupportedArchitectureError, match="llava"):
        HFVLM(HFConfig(str(text_only)))
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "my_vlm", "auto_map": {"AutoConfig": "a.B"}}))
    with pytest.raises(TrustRemoteCodeError, match="trust_remote_code"):
        HFVLM(HFConfig(str(remote)))
    with pytest.raises(ModelNotFoundError, match="offline"):
        HFVLM(HFConfig("nobody/not-a-model"))


def test_device_dtype_and_per_part_attention():
    device, dtype = select_device_dtype("auto", "auto")
    if not torch.cuda.is_available():
        assert (device.type, dtype) == ("cpu", torch.float32)
    assert select_device_dtype("cpu", "bfloat16")[1] == torch.bfloat16
    vlm = HFVLM(HFConfig(str(tiny_model("llava")), attn_implementation={"vision": "eager", "text": "sdpa"}))
    assert vlm.model.config.vision_config._attn_implementation == "eager"
    assert vlm.model.config.text_config._attn_implementation == "sdpa"
    assert vlm.model.model.vision_tower.config._attn_implementation == "eager"
    assert vlm.model.model.language_model.config._attn_implementation == "sdpa"
    assert vlm.yes_probability(frames(1), "x y").shape == (1,)


def test_input_hook_sees_frame_spans():
    vlm = HFVLM(HFConfig(str(tiny_model("qwen2_5_vl"))))
    seen = []
    vlm.input_hooks.append(lambda ids, spans: seen.append(spans))
    vlm.yes_probability([frames(2)], "a cat")
    assert len(seen) == 1 and len(seen[0][0]) == 2


def test_qwen_processor_loads_without_video_processor():
    vlm = tiny_vlm("qwen2_5_vl")
    assert type(vlm.processor).__name__ == "Qwen2_5_VLProcessor"
    assert getattr(vlm.processor, "video_processor", None) is None


def test_siglip_embedder_normalised_in_one_space():
    embedder = HFEmbedder(HFConfig(str(tiny_model("siglip"))))
    clip = frames(3, seed=5)
    images = embedder.embed_images(clip)
    texts = embedder.embed_texts(["a red car", "a blue ball"])
    assert images.shape == (3, embedder.dim) and texts.shape == (2, embedder.dim)
    assert images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    from PIL import Image

    inputs = embedder.processor(images=[Image.fromarray(f.image) for f in clip], return_tensors="pt")
    with torch.inference_mode():
        raw = embedder.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
    raw = (raw / raw.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(images, raw, atol=1e-5)
    assert not np.allclose(images[0], images[1])
    with pytest.raises(UnsupportedArchitectureError, match="siglip"):
        HFEmbedder(HFConfig(str(tiny_model("llava"))))


def test_processor_without_chat_template_falls_back_to_plain_prompt():
    vlm = HFVLM(HFConfig(str(tiny_model("llava"))))
    vlm.processor.chat_template = None
    vlm.tokenizer.chat_template = None
    parts = build_prompt(frames(2, seed=6), "Where is it?")
    text, images = vlm.render([("user", parts)])
    assert "<|im_start|>" not in text and text.count("<image>") == 2 and "Where is it?" in text
    assert len(vlm.frame_spans(vlm.encode([[("user", parts)]])["input_ids"])[0]) == 2
    out = vlm.generate(parts, max_new_tokens=2)
    assert out.tokens and out.prompt_tokens > 32


@pytest.mark.parametrize("arch", ARCHS)
def test_frames_shrunk_before_the_processor_score_exactly_as_full_frames(arch):
    vlm = tiny_vlm(arch)
    clip = frames(2, size=96, seed=11)
    wide = [Frame(f.t, np.ascontiguousarray(np.concatenate([f.image, f.image[:, :40]], axis=1))) for f in clip]
    statement = "a red circle is visible"
    got = vlm.yes_probability([wide[0], wide], statement)
    for item, value in zip([wide[0], wide], got):
        logprobs, _ = _own_next_token_logprobs(vlm, yes_no_parts(item, statement))
        yes_ids, no_ids = _answer_ids(vlm.tokenizer, "yes"), _answer_ids(vlm.tokenizer, "no")
        expected = torch.sigmoid(torch.logsumexp(logprobs[yes_ids], 0) - torch.logsumexp(logprobs[no_ids], 0))
        assert value == pytest.approx(float(expected), abs=2e-5)
    if arch == "idefics3":  # a PIL processor that starts with a resize: the shortcut is taken, not skipped
        assert vlm.prescale.active and vlm.prescale(wide[0].image).shape[:2] != wide[0].image.shape[:2]


def test_embedder_shrinks_frames_exactly():
    embedder = HFEmbedder(HFConfig(str(tiny_model("siglip"))))
    clip = frames(2, size=120, seed=12)
    from PIL import Image

    inputs = embedder.processor(images=[Image.fromarray(f.image) for f in clip], return_tensors="pt")
    with torch.inference_mode():
        raw = embedder.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
    np.testing.assert_allclose(embedder.embed_images(clip), (raw / raw.norm(dim=-1, keepdim=True)).numpy(), atol=1e-5)
    assert embedder.prescale(clip[0].image).shape[:2] != clip[0].image.shape[:2]


def test_prescaler_remembers_only_live_arrays_and_refuses_inexact_shortcuts():
    from agentime.vlm.prescale import Prescaler

    prescale = tiny_vlm("idefics3").prescale
    frame = frames(1, size=200, seed=13)[0]
    small = prescale(frame.image, frame)
    assert prescale(frame.image, frame) is small  # the frame scored again (another statement): not shrunk again
    buffer = frame.image.copy()
    assert np.array_equal(prescale(buffer), small)
    buffer[:] = 255 - buffer  # a bare array refilled in place (a capture buffer) is shrunk anew, never remembered
    refilled = prescale(buffer)
    assert not np.array_equal(refilled, small)
    fresh = Frame(frame.t, buffer.copy())
    assert np.array_equal(refilled, prescale(fresh.image, fresh))
    small_frame = frames(1, size=20, seed=16)[0]  # the processor enlarges it: left to the processor
    assert prescale(small_frame.image, small_frame) is small_frame.image

    class PilBackend:  # stands for transformers' PIL image processors, which the shortcut requires
        pass

    class WholeImageMean(PilBackend):
        """Claims a first resize, then looks at the full image: shrinking first would change its output."""
        do_resize, size, resample = True, {"height": 8, "width": 8}, 0

        def resize(self, image, size, resample):
            return np.zeros((image.shape[0], 8, 8), np.uint8)

        def __call__(self, images, return_tensors=None):
            return {"pixel_values": np.array([float(np.mean(image)) + image.shape[0] for image in images])}

    odd = Prescaler(WholeImageMean())
    assert odd.active
    assert odd(buffer) is buffer  # the check failed: frames of that shape go to the processor unchanged


def test_batch_pixels_equal_the_image_processor_and_fall_back_when_they_would_not():
    from PIL import Image

    from agentime.vlm.batch_pixels import BatchPixels, batch_pixels_for
    from agentime.vlm.hf import load_processor

    def fresh():  # the model's own image processor, as AutoProcessor builds it
        return load_processor(str(tiny_model("idefics3")), local_files_only=True, trust_remote_code=False).image_processor

    real = fresh()
    pixels = batch_pixels_for(fresh())
    assert isinstance(pixels, BatchPixels)
    rng = np.random.default_rng(14)
    pictures = [Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)) for _ in range(5)]
    options = {"return_row_col_info": True, "return_tensors": "pt"}
    for batch in ([[pictures[0], pictures[1]], [pictures[2]]], [[pictures[3]], [pictures[4], pictures[0]]]):
        got, want = pixels(batch, **options), real(batch, **options)
        assert set(got.keys()) == set(want.keys()) and got["rows"] == want["rows"]
        for key in ("pixel_values", "pixel_attention_mask"):
            assert torch.equal(got[key], want[key])
    assert list(pixels._verdicts.values()) == [True]  # the second batch of that kind was made by the fast path

    class Off(BatchPixels):  # a fast path that would differ from the processor
        def _pixels(self, nested, **kwargs):
            out = super()._pixels(nested, **kwargs)
            out["pixel_values"] = out["pixel_values"] + 1e-3
            return out

    off = Off(fresh())
    for _ in range(2):
        assert torch.equal(off([[pictures[0]]], **options)["pixel_values"], real([[pictures[0]]], **options)["pixel_values"])
    assert list(off._verdicts.values()) == [False]
    # options it does not handle (image splitting) go to the processor itself
    split = pixels([[pictures[1]]], do_image_splitting=True, **options)
    assert torch.equal(split["pixel_values"], real([[pictures[1]]], do_image_splitting=True, **options)["pixel_values"])
    assert batch_pixels_for(tiny_vlm("llava").processor.image_processor) is None


def test_nearest_neighbour_shrinks_pick_the_pixels_pil_picks():
    from PIL import Image

    from agentime.vlm.hf import load_processor
    from agentime.vlm.prescale import Prescaler

    image_processor = load_processor(str(tiny_model("idefics3")), local_files_only=True,
                                     trust_remote_code=False).image_processor
    image_processor.resample = 0  # nearest, as the embedded draft's processor
    prescale = Prescaler(image_processor)
    for shape in ((240, 320, 3), (333, 517, 3)):
        image = np.random.default_rng(15).integers(0, 256, shape, dtype=np.uint8)
        small = prescale(image)
        assert shape in prescale._picks  # taken by indexing, not by PIL
        expected = Image.fromarray(image).resize(small.shape[1::-1], resample=Image.Resampling.NEAREST)
        assert np.array_equal(small, np.asarray(expected))


def test_remembered_shrinks_are_bounded_in_bytes(monkeypatch):
    import agentime.vlm.prescale as prescale_module

    prescale = prescale_module.Prescaler(tiny_vlm("idefics3").processor.image_processor._real)
    clip = frames(6, size=200, seed=17)
    one = prescale(clip[0].image, clip[0]).nbytes
    monkeypatch.setattr(prescale_module, "_REMEMBERED_BYTES", 3 * one)
    shrunk = [prescale(f.image, f) for f in clip]
    assert len(prescale._shrunk) == 3 and prescale._shrunk_bytes == 3 * one  # the oldest were dropped
    assert prescale(clip[-1].image, clip[-1]) is shrunk[-1] and prescale(clip[0].image, clip[0]) is not shrunk[0]
