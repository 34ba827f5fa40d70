"""Tiny, randomly initialised VLMs and embedders built from config, for tests and benchmarks.

Each builder writes a complete model folder (weights, config, tokenizer, processor, chat template) with
`save_pretrained`, so that it loads back through the `hf` backend exactly like a downloaded model. The
tokenizer is a real byte-level BPE trained offline with `tokenizers` on a small word list. Processors are
built from their PIL image processors, so nothing here needs torchvision. The weights are random: the
models answer nonsense, but their processors, chat templates and attention paths are the real ones.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "yes no is the a an of in on at to and or what when where which who how many there this that it "
    "frame frames video clip image picture scene shows show describe answer question statement true false "
    "red green blue yellow white black circle square triangle star digit number left right top bottom "
    "before after first last time second minute moment object person car dog cat ball box"
).split()

# One generic chat template for every tiny model; `IMAGE` is replaced per architecture by what its
# processor expands (a single placeholder token, or a start/placeholder/end triple).
_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}IMAGE"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_BASE_SPECIAL = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]


def chat_template(image_text: str) -> str:
    return _CHAT_TEMPLATE.replace("IMAGE", image_text)


def build_tokenizer(extra_special: list[str], *, image_token: str | None = None, vocab_size: int = 700):
    """A byte-level BPE tokenizer trained on `WORDS`, left-padded, with the given special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_BASE_SPECIAL + extra_special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(WORDS), " ".join(w.capitalize() for w in WORDS)] * 20 + [" " + w for w in WORDS] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    kwargs = {}
    if image_token is not None:
        kwargs["extra_special_tokens"] = {"image_token": image_token}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        padding_side="left",
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        **kwargs,
    )


def _qwen2_text(tokenizer, hidden: int, layers: int):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )


def _siglip_vision(image_size: int, patch: int, hidden: int, layers: int):
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
        vision_use_head=False,
    )


def save_model_folder(model, processor, folder: Path, seed: int) -> Path:
    """Save a model and its processor into `folder` as a loadable model folder (also without a video part)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if "video_processor" in type(processor).get_attributes() and processor.video_processor is None:
        # The processor was built without its video part; save only the parts it has.
        present = [a for a in type(processor).get_attributes() if getattr(processor, a, None) is not None]
        processor.get_attributes = lambda: present
        try:
            processor.save_pretrained(folder)
        finally:
            del processor.get_attributes
    else:
        processor.save_pretrained(folder)
    return folder


def build_llava(
    folder: str | Path,
    *,
    image_size: int = 32,
    patch: int = 8,
    vision_hidden: int = 32,
    vision_layers: int = 1,
    text_hidden: int = 64,
    text_layers: int = 2,
    seed: int = 0,
) -> Path:
    """LLaVA with a SigLIP vision tower and a Qwen2 language model."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, SiglipImageProcessorPil

    tokenizer = build_tokenizer(["<image>"], image_token="<image>")
    config = LlavaConfig(
        vision_config=_siglip_vision(image_size, patch, vision_hidden, vision_layers),
        text_config=_qwen2_text(tokenizer, text_hidden, text_layers),
        image_token_id=tokenizer.image_token_id,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="full",
        chat_template=chat_template("<image>"),
    )
    return save_model_folder(model, processor, Path(folder), seed)


def build_idefics3(folder: str | Path, *, image_size: int = 32, patch: int = 8, seed: int = 0) -> Path:
    """Idefics3 (the SmolVLM architecture) without image splitting."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    special = ["<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"]
    tokenizer = build_tokenizer(special, image_token="<image>")
    scale_factor = 2
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    vision = Idefics3VisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        image_size=image_size, patch_size=patch,
    )
    config = Idefics3Config(
        vision_config=vision, text_config=text, scale_factor=scale_factor,
        image_token_id=tokenizer.image_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": image_size},
        max_image_size={"longest_edge": image_size},
    )
    image_seq_len = (image_size // patch) ** 2 // scale_factor**2
    processor = Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=image_seq_len,
        chat_template=chat_template("<image>"),
    )
    return save_model_folder(model, processor, Path(folder), seed)


def build_qwen2_5_vl(folder: str | Path, *, image_size: int = 32, seed: int = 0) -> Path:
    """Qwen2.5-VL with a processor that has no video processor (torchvision is not needed)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessorPil,
    )

    special = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer = build_tokenizer(special, image_token="<|image_pad|>")
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in special}
    patch, merge = 8, 2
    text_hidden = 64
    vision = dict(
        depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=text_hidden,
        patch_size=patch, spatial_merge_size=merge, temporal_patch_size=2, window_size=32,
        fullatt_block_indexes=[0],
    )
    text = dict(
        vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    config = Qwen2_5_VLConfig(
        vision_config=vision, text_config=text,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    pixels = image_size * image_size
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=merge, temporal_patch_size=2,
        size={"shortest_edge": pixels, "longest_edge": pixels}, min_pixels=pixels, max_pixels=pixels,
    )
    processor = _processor_without_video(
        Qwen2_5_VLProcessor, image_processor, tokenizer,
        chat_template("<|vision_start|><|image_pad|><|vision_end|>"),
    )
    return save_model_folder(model, processor, Path(folder), seed)


def build_llava_onevision(folder: str | Path, *, image_size: int = 32, patch: int = 8, seed: int = 0) -> Path:
    """LLaVA-OneVision (SigLIP + Qwen2) with a single-tile grid so every image costs the same tokens."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        LlavaOnevisionProcessor,
    )

    tokenizer = build_tokenizer(["<image>", "<video>"], image_token="<image>")
    grid = [[image_size, image_size]]
    config = LlavaOnevisionConfig(
        vision_config=_siglip_vision(image_size, patch, 32, 1),
        text_config=_qwen2_text(tokenizer, 64, 2),
        image_token_id=tokenizer.image_token_id,
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=grid,
        vision_aspect_ratio="anyres_max_1",
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_grid_pinpoints=grid, crop_size=None,
    )
    processor = _processor_without_video(
        LlavaOnevisionProcessor, image_processor, tokenizer, chat_template("<image>"),
        num_image_tokens=(image_size // patch) ** 2, vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1",
    )
    return save_model_folder(model, processor, Path(folder), seed)


def build_siglip_embedder(folder: str | Path, *, image_size: int = 32, patch: int = 8, seed: int = 0) -> Path:
    """A SigLIP dual encoder (image and text towers projecting into one space)."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    tokenizer = build_tokenizer([])
    config = SiglipConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=32, projection_size=32,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            image_size=image_size, patch_size=patch,
        ),
    )
    torch.manual_seed(seed)
    model = SiglipModel(config).eval()
    processor = SiglipProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
    )
    return save_model_folder(model, processor, Path(folder), seed)


def _processor_without_video(processor_class, image_processor, tokenizer, template, **kwargs):
    """Instantiate a processor that declares a video processor without one (it would need torchvision)."""
    from agentime.vlm.hf import processor_without_video

    return processor_without_video(processor_class, image_processor, tokenizer, template, **kwargs)


BUILDERS = {
    "llava": build_llava,
    "idefics3": build_idefics3,
    "qwen2_5_vl": build_qwen2_5_vl,
    "llava_onevision": build_llava_onevision,
    "siglip": build_siglip_embedder,
}
