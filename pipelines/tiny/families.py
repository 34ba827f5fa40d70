"""Tiny random models of the families users run, built offline from each family's published configuration.

Each builder writes a model folder the way the family's checkpoints ship: the real architecture and
model_type, the real special tokens (and the config's ids pointing at them), the real preprocessor
settings (normalisation, resampling, patch and merge sizes, tiling), the family's chat template layout,
and `processor.save_pretrained` files, so it loads through the hf backend like the real folder would.
Only the sizes shrink (a few hundred thousand parameters) and the tokenizer is a small byte-level BPE that
carries the family's special tokens. The chat templates are written here to render the same layout as the
family's own template (roles, turn markers, default system turn, image placeholder, order of items).
Weights are random: these models check wiring (prompts, processors, attention, scoring), not quality.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.tiny.vlms import WORDS, save_model_folder

CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]

# ---- chat templates (same layout as each family's shipped template) ------------------------------------

_CHATML_QWEN = (
    "{% set image_count = namespace(value=0) %}"
    "{% if DEFAULT_SYSTEM and messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nDEFAULT_SYSTEM<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN2_5_VL_TEMPLATE = _CHATML_QWEN.replace("DEFAULT_SYSTEM and", "true and").replace(
    "DEFAULT_SYSTEM", "You are a helpful assistant.")
QWEN3_VL_TEMPLATE = _CHATML_QWEN.replace("DEFAULT_SYSTEM and", "false and").replace("DEFAULT_SYSTEM", "")

INTERNVL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif part['type'] == 'video' %}<video>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# LLaVA-OneVision's template writes every image of a turn, then every video, then each text item after a
# newline: the order of text and images inside a turn is not kept.
LLAVA_ONEVISION_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ '\n' + message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] if part['type'] == 'image' %}<image>{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'video' %}<video>{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'text' %}{{ '\n' + part['text'] }}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# SmolVLM: one <|im_start|> for the conversation, "Role:" (no space when the turn opens with an image).
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}{{ ':' if message['content'][0]['type'] == 'image' else ': ' }}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}<image>{% elif part['type'] == 'video' %}<video>{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

# Gemma 3: BOS first, the system text folded into the first user turn, "model" for the assistant, and
# every text item trimmed.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{% set prefix = namespace(text='') %}{% set turns = messages %}"
    "{% if messages[0]['role'] == 'system' %}{% set turns = messages[1:] %}"
    "{% if messages[0]['content'] is string %}{% set prefix.text = messages[0]['content'] + '\n\n' %}"
    "{% else %}{% set prefix.text = messages[0]['content'][0]['text'] + '\n\n' %}{% endif %}{% endif %}"
    "{% for message in turns %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ prefix.text if loop.first else '' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<start_of_image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


# ---- tokenizer --------------------------------------------------------------------------------------------

def family_tokenizer(special: list[str], *, named: dict[str, str] | None = None, bos: str | None = None,
                     eos: str, pad: str, unk: str | None = None, padding_side: str = "right",
                     vocab_size: int = 700):
    """A small byte-level BPE that carries a family's special tokens (`named` become tokenizer attributes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    ordered = list(dict.fromkeys([t for t in (unk, pad, bos, eos) if t] + special))
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=ordered,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = [" ".join(WORDS), " ".join(w.capitalize() for w in WORDS)] * 20 + [" " + w for w in WORDS] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    kwargs = {"extra_special_tokens": dict(named)} if named else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side=padding_side, pad_token=pad, eos_token=eos,
                                   bos_token=bos, unk_token=unk, **kwargs)


def _ids(tokenizer, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _processor_without_video(processor_class, image_processor, tokenizer, template, **kwargs):
    from agentime.vlm.hf import processor_without_video

    return processor_without_video(processor_class, image_processor, tokenizer, template, **kwargs)


def _finish(model_class, config, processor, folder, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    model = model_class(config).eval()
    return save_model_folder(model, processor, Path(folder), seed)


# ---- builders ---------------------------------------------------------------------------------------------

_QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]


def _qwen_tokenizer():
    return family_tokenizer(_QWEN_SPECIAL, eos="<|im_end|>", pad="<|endoftext|>")


def _qwen_config(config_class, tokenizer, vision: dict, text: dict, **kwargs):
    """A Qwen-VL config: the shared tiny text model plus `text`, the vision tower `vision`, the Qwen token ids."""
    start, end, image, video = _ids(tokenizer, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    return config_class(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           spatial_merge_size=2, temporal_patch_size=2, **vision),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         rms_norm_eps=1e-6, hidden_act="silu", bos_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **text),
        image_token_id=image, video_token_id=video, vision_start_token_id=start, vision_end_token_id=end, **kwargs,
    )


def _qwen_image_processor(patch: int, side: int, mean, std):
    """A Qwen2-VL image processor that resizes every frame to `side` x `side` pixels (min = max pixels)."""
    from transformers import Qwen2VLImageProcessorPil

    pixels = side * side
    return Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=2, temporal_patch_size=2, image_mean=mean, image_std=std,
        size={"shortest_edge": pixels, "longest_edge": pixels},
    )


def build_qwen2_5_vl(folder: str | Path, *, seed: int = 0) -> Path:
    """Qwen2.5-VL: windowed ViT (patch 14, 2x2 merge, 2-frame temporal patches), M-RoPE text, CLIP norm."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    tokenizer = _qwen_tokenizer()
    config = _qwen_config(
        Qwen2_5_VLConfig, tokenizer,
        vision=dict(patch_size=14, window_size=112, fullatt_block_indexes=[1], tokens_per_second=2,
                    hidden_act="silu"),
        text=dict(tie_word_embeddings=False,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}),
    )
    # min_pixels = max_pixels: every frame is 4x4 patches, 4 tokens after the 2x2 merge
    image_processor = _qwen_image_processor(14, 56, CLIP_MEAN, CLIP_STD)
    processor = _processor_without_video(Qwen2_5_VLProcessor, image_processor, tokenizer, QWEN2_5_VL_TEMPLATE)
    return _finish(Qwen2_5_VLForConditionalGeneration, config, processor, folder, seed)


def build_qwen3_vl(folder: str | Path, *, seed: int = 0) -> Path:
    """Qwen3-VL: patch-16 ViT with DeepStack features into early text layers, interleaved M-RoPE, 0.5 norm."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    tokenizer = _qwen_tokenizer()
    config = _qwen_config(
        Qwen3VLConfig, tokenizer,
        vision=dict(patch_size=16, num_position_embeddings=16, deepstack_visual_indexes=[0],
                    hidden_act="gelu_pytorch_tanh"),
        text=dict(head_dim=16, tie_word_embeddings=True,
                  rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                   "mrope_section": [2, 3, 3], "mrope_interleaved": True}),
        tie_word_embeddings=True,
    )
    image_processor = _qwen_image_processor(16, 64, HALF, HALF)
    processor = _processor_without_video(Qwen3VLProcessor, image_processor, tokenizer, QWEN3_VL_TEMPLATE)
    return _finish(Qwen3VLForConditionalGeneration, config, processor, folder, seed)


def build_internvl3(folder: str | Path, *, seed: int = 0) -> Path:
    """InternVL3 (the -hf layout): InternViT with pixel shuffle (0.5), Qwen2 text, ImageNet norm, 448-px tiles."""
    from transformers import (GotOcr2ImageProcessorPil, InternVLConfig, InternVLForConditionalGeneration,
                              InternVLProcessor)

    named = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}
    tokenizer = family_tokenizer(_QWEN_SPECIAL[:3] + list(named.values()), named=named, eos="<|im_end|>",
                                 pad="<|endoftext|>")
    image_size, patch = 56, 14  # real: 448 / 14 with a 0.5 downsample -> 256 tokens; here 4 tokens a tile
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=[image_size, image_size], patch_size=[patch, patch], use_qk_norm=False,
                           norm_type="layer_norm", use_mean_pooling=True, layer_scale_init_value=0.1),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"), downsample_ratio=0.5,
        projector_hidden_act="gelu", vision_feature_layer=-1, vision_feature_select_strategy="default",
        image_seq_length=(image_size // patch) ** 2 // 4,
    )
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size}, crop_to_patches=False, min_patches=1, max_patches=12,
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    )
    processor = _processor_without_video(InternVLProcessor, image_processor, tokenizer, INTERNVL_TEMPLATE,
                                         image_seq_length=config.image_seq_length)
    return _finish(InternVLForConditionalGeneration, config, processor, folder, seed)


def build_llava_onevision_family(folder: str | Path, *, seed: int = 0) -> Path:
    """LLaVA-OneVision: SigLIP (patch 14, no CLS: 'full' features) + Qwen2, anyres tiling, images-first template."""
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor)

    tokenizer = family_tokenizer(_QWEN_SPECIAL[:3] + ["<image>", "<video>"],
                                 named={"image_token": "<image>", "video_token": "<video>"},
                                 eos="<|im_end|>", pad="<|endoftext|>")
    image_size, patch = 28, 14
    grid = [[image_size, image_size]]
    config = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2, image_size=image_size, patch_size=patch,
                           vision_use_head=False),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, tie_word_embeddings=True,
                         bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        image_token_id=tokenizer.image_token_id, video_token_id=tokenizer.video_token_id,
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=grid,
        vision_aspect_ratio="anyres_max_9", projector_hidden_act="gelu",
    )
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_grid_pinpoints=grid, crop_size=None,
        image_mean=HALF, image_std=HALF, do_pad=True,
    )
    processor = _processor_without_video(
        LlavaOnevisionProcessor, image_processor, tokenizer, LLAVA_ONEVISION_TEMPLATE,
        num_image_tokens=(image_size // patch) ** 2, vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
    )
    return _finish(LlavaOnevisionForConditionalGeneration, config, processor, folder, seed)


def build_smolvlm2(folder: str | Path, *, seed: int = 0) -> Path:
    """SmolVLM2: SigLIP-style tower (patch 16), pixel shuffle x4, Llama text, image splitting as shipped."""
    from transformers import (SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessorPil,
                              SmolVLMProcessor)

    rows_cols = [f"<row_{r}_col_{c}>" for r in range(1, 5) for c in range(1, 5)]
    special = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<global-img>", "<image>",
               "<video>"] + rows_cols
    tokenizer = family_tokenizer(special, named={"image_token": "<image>"}, bos="<|im_start|>",
                                 eos="<end_of_utterance>", pad="<|im_end|>", unk="<unk>")
    image_size, patch, scale = 64, 16, 2  # real: 512 / 16 with a x4 shuffle -> 64 tokens
    config = SmolVLMConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=patch),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        scale_factor=scale, image_token_id=tokenizer.image_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    image_processor = SmolVLMImageProcessorPil(
        do_image_splitting=True, size={"longest_edge": 2 * image_size},
        max_image_size={"longest_edge": image_size}, image_mean=HALF, image_std=HALF, resample=1,
    )
    processor = _processor_without_video(SmolVLMProcessor, image_processor, tokenizer, SMOLVLM_TEMPLATE,
                                         image_seq_len=(image_size // patch) ** 2 // scale**2)
    return _finish(SmolVLMForConditionalGeneration, config, processor, folder, seed)


def build_gemma3(folder: str | Path, *, seed: int = 0) -> Path:
    """Gemma 3: SigLIP tower (patch 14, 0.5 norm) average-pooled to a square of soft tokens, BOS first."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    named = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = family_tokenizer(["<start_of_turn>", "<end_of_turn>"] + list(named.values()), named=named,
                                 bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>", padding_side="left")
    image_size, patch, tokens = 56, 14, 4  # real: 896 / 14 -> 64x64 patches pooled to 256 tokens
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    config = Gemma3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=patch, vision_use_head=False),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
                         sliding_window=64, layer_types=["sliding_attention", "full_attention"],
                         max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=[tokenizer.eos_token_id, end_of_turn], pad_token_id=tokenizer.pad_token_id),
        mm_tokens_per_image=tokens, boi_token_index=tokenizer.boi_token_id, eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_of_turn],
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size}, image_mean=HALF,
                                              image_std=HALF, resample=2, do_pan_and_scan=False)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=GEMMA3_TEMPLATE,
                                image_seq_length=tokens)
    folder = _finish(Gemma3ForConditionalGeneration, config, processor, folder, seed)
    _set_generation_eos(folder, [tokenizer.eos_token_id, end_of_turn])
    return folder


def _set_generation_eos(folder: Path, eos_ids: list[int]) -> None:
    """Gemma 3's generation_config.json stops on <eos> and <end_of_turn>, as the released checkpoints do."""
    from transformers import GenerationConfig

    generation = GenerationConfig.from_pretrained(folder)
    generation.eos_token_id = eos_ids
    generation.save_pretrained(folder)


FAMILY_BUILDERS = {
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "internvl": build_internvl3,
    "llava_onevision": build_llava_onevision_family,
    "smolvlm": build_smolvlm2,
    "gemma3": build_gemma3,
}
