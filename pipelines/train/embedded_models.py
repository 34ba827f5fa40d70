"""Architectures of the embedded models: tokenizer, configs, processors, and saving them as model folders.

Three standard transformers models, small enough to train and run on a CPU:
  embedder  `SiglipModel` (64 px, patch 8, SigLIP vision 3x128, text 2x96, 128-d space)
  target    `Idefics3ForConditionalGeneration` (the SmolVLM architecture): the same 64 px vision tower, pixel
            shuffle 2 (16 tokens per frame) and a Llama text model 4x256
  draft     the same architecture at 48 px with a SigLIP-style tower 2x96 and a Llama 2x96 (9 tokens per frame)
These are the sizes a from-scratch run builds; `resize_vlm_input` changes a trained VLM's input resolution
(the shipped target and draft were trained further at a higher one: see their config.json and model cards).
The tokenizer is a byte-level BPE trained with `tokenizers` on the synthetic world's text, with digits split one
by one so numbers and timestamps are read and copied digit by digit. Nothing here trains or evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.synthetic.world import BACKGROUNDS, COLOURS, SHAPES, WORDS

SPECIAL_TOKENS = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<image>", "<fake_token_around_image>",
                  "<global-img>", "<end_of_utterance>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class VLMSize:
    """Size of one Idefics3 VLM: input resolution, vision tower and text model."""

    image_size: int
    patch: int
    vision_hidden: int
    vision_layers: int
    text_hidden: int
    text_layers: int
    scale_factor: int = 2
    resample: int = 1  # PIL filter of the image processor: 1 Lanczos (Idefics3's default), 0 nearest (cheapest)


TARGET = VLMSize(image_size=64, patch=8, vision_hidden=128, vision_layers=3, text_hidden=256, text_layers=4)
DRAFT = VLMSize(image_size=48, patch=8, vision_hidden=96, vision_layers=2, text_hidden=96, text_layers=2, resample=0)
EMBED_TEXT_HIDDEN = 96
EMBED_TEXT_LAYERS = 2
EMBED_MAX_TEXT = 16


def tokenizer_corpus() -> list[str]:
    """Text the tokenizer is trained on: prompts, answers and timestamps of the synthetic world's tasks."""
    from pipelines.train.embedded_data import corpus_lines

    return corpus_lines()


def build_tokenizer():
    """A left-padded byte-level BPE with single digits, trained on `tokenizer_corpus()`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=640, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, padding_side="left", pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>",
        extra_special_tokens={"image_token": "<image>"},
    )


def _vision_kwargs(size: VLMSize) -> dict:
    return dict(hidden_size=size.vision_hidden, intermediate_size=size.vision_hidden * 2,
                num_hidden_layers=size.vision_layers, num_attention_heads=4, image_size=size.image_size,
                patch_size=size.patch, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)


def build_vlm(tokenizer, size: VLMSize, seed: int = 0):
    """A randomly initialised Idefics3 model and its processor for `size`."""
    import torch
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil,
                              Idefics3Processor, Idefics3VisionConfig, LlamaConfig)

    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.text_hidden, intermediate_size=size.text_hidden * 2,
        num_hidden_layers=size.text_layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, tie_word_embeddings=False, rms_norm_eps=1e-6,
    )
    config = Idefics3Config(
        vision_config=Idefics3VisionConfig(**_vision_kwargs(size)), text_config=text,
        scale_factor=size.scale_factor, image_token_id=tokenizer.image_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": size.image_size}, resample=size.resample,
        max_image_size={"longest_edge": size.image_size},
    )
    tokens = (size.image_size // size.patch) ** 2 // size.scale_factor ** 2
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=tokens,
                                  chat_template=CHAT_TEMPLATE)
    return model, processor


def build_embedder(tokenizer, seed: int = 0):
    """A randomly initialised SigLIP dual encoder whose vision tower matches the target's."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=EMBED_TEXT_HIDDEN,
                         intermediate_size=EMBED_TEXT_HIDDEN * 2, num_hidden_layers=EMBED_TEXT_LAYERS,
                         num_attention_heads=4, max_position_embeddings=EMBED_MAX_TEXT,
                         projection_size=TARGET.vision_hidden, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None),
        vision_config=_vision_kwargs(TARGET),
    )
    torch.manual_seed(seed)
    model = SiglipModel(config)
    # Same resampling (PIL 1) and normalisation as the Idefics3 processors, so the towers see the same pixels.
    image_processor = SiglipImageProcessorPil(size={"height": TARGET.image_size, "width": TARGET.image_size},
                                              resample=1)
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return model, processor


def copy_vision_tower(siglip_vision, idefics3_vision) -> None:
    """Load a SigLIP vision transformer's weights (minus its pooling head) into an Idefics3 vision model."""
    state = {k: v for k, v in siglip_vision.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = idefics3_vision.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"vision towers differ: missing {missing}, unexpected {unexpected}")


def resize_vlm_input(model, processor, image_size: int) -> None:
    """Change a trained Idefics3 VLM's input resolution in place: the vision tower's position embeddings are
    interpolated (bicubic) to the new patch grid, and the processor resizes frames to `image_size` and expands
    each image to the new number of tokens. The patch, vision and connector weights are kept, so the model
    starts from what it knew; it still needs training at the new size."""
    import torch

    vision = model.model.vision_model
    embeddings = vision.embeddings
    patch = embeddings.patch_size
    scale = model.config.scale_factor
    if image_size % (patch * scale):
        raise ValueError(f"image_size {image_size} must be a multiple of patch x scale factor ({patch * scale})")
    old_side, new_side = embeddings.num_patches_per_side, image_size // patch
    table = embeddings.position_embedding.weight.detach()
    grid = table.reshape(old_side, old_side, -1).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
    embeddings.position_embedding = torch.nn.Embedding(new_side * new_side, table.shape[1]).to(table.device)
    embeddings.position_embedding.weight.data.copy_(resized[0].permute(1, 2, 0).reshape(new_side * new_side, -1))
    embeddings.image_size, embeddings.num_patches_per_side = image_size, new_side
    embeddings.num_patches = embeddings.num_positions = new_side * new_side
    model.config.vision_config.image_size = image_size
    processor.image_processor.size = {"longest_edge": image_size}
    processor.image_processor.max_image_size = {"longest_edge": image_size}
    processor.image_seq_len = new_side * new_side // scale ** 2


def save_folder(model, processor, folder: str | Path, *, dtype: str = "float16", card: str | None = None) -> Path:
    """`save_pretrained` the model (cast to `dtype`, safetensors) and its processor, plus an optional card."""
    import torch

    import shutil

    folder = Path(folder)
    card_path = folder / "README.md"
    old_card = card_path.read_text() if card is None and card_path.is_file() else card
    if folder.is_dir():
        shutil.rmtree(folder)  # no stale files from an earlier architecture
    folder.mkdir(parents=True)
    card = old_card
    cast = model.to(getattr(torch, dtype))
    cast.save_pretrained(folder, safe_serialization=True)
    model.float()
    processor.save_pretrained(folder)
    _drop_load_arguments(folder / "tokenizer_config.json")
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def _drop_load_arguments(path: Path) -> None:
    """A processor loaded from a folder saves how it was loaded ("is_local", ...): not part of the model."""
    import json

    if path.is_file():
        config = json.loads(path.read_text())
        for key in ("is_local", "local_files_only"):
            config.pop(key, None)
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


VOCAB = {"shapes": SHAPES, "colours": tuple(COLOURS), "backgrounds": tuple(BACKGROUNDS), "words": WORDS}
