"""The `hf` backend: any local (or, with network, hub) VLM through transformers, in this process.

Loads a folder with `AutoModelForImageTextToText` + `AutoProcessor` (embedders with `AutoModel`), renders
prompt parts through the processor's chat template, and answers `generate`, `yes_probability` (from the
next-token logits) and `describe`. Frames go in as timestamped images, or for the families with a video path
(`frames_as="video"`, see `video_input.py`). It checks the folder before loading so users get an
actionable error, picks device and dtype, and passes `attn_implementation` through per part (vision,
text). It knows nothing of search strategies or HTTP; the server in `server.py` wraps it.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart
from agentime.vlm.base import (
    FrameGroup,
    Generation,
    as_rgb,
    batched,
    describe_parts,
    normalise_parts,
    yes_no_parts,
)
from agentime.vlm.batch_pixels import batch_pixels_for
from agentime.vlm.chat_render import ChatRenderer
from agentime.vlm.families import family_of
from agentime.vlm.video_input import VIDEO_ENCODERS
from agentime.vlm.prescale import Prescaler
from agentime.vlm.errors import (
    InvalidPromptError,
    ModelNotFoundError,
    ProcessorMissingError,
    PromptTooLongError,
    TrustRemoteCodeError,
    UnsupportedArchitectureError,
)
from agentime.errors import ConfigError, VLMError

PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "image_processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
ATTN_PART_KEYS = {"vision": "vision_config", "text": "text_config"}

# A chat turn for `generate_chat`: a role and its parts (text and frames).
ChatTurn = tuple[str, Sequence[PromptPart]]
InputHook = Callable[[object, list], None]
SPARSE_ATTENTION = "agentime_sparse"


@dataclass
class HFConfig:
    """Where the model is and how to run it. `attn_implementation` is a name or {"vision": .., "text": ..}."""

    path: str
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str | dict[str, str] | None = None
    max_batch: int = 8
    trust_remote_code: bool = False
    local_files_only: bool | None = None
    name: str | None = None
    sparse_attention: dict | None = None  # SparseAttentionConfig fields, used where a part's attention is sparse
    frames_as: str = "images"  # "video": runs of frames through the family's video path (see video_input)
    verbose: bool = False  # show transformers' load progress bars and config warnings


def hub_offline() -> bool:
    """True when the user asked transformers not to reach the hub (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags)


def _looks_like_hub_id(path: str) -> bool:
    if path.startswith((".", "/", "~")) or "\\" in path or os.path.isabs(path):
        return False
    pieces = path.split("/")
    return 1 <= len(pieces) <= 2 and all(pieces)


def resolve_model_source(path: str, local_files_only: bool | None = None) -> tuple[str, bool]:
    """Check a model location before loading: returns (source, local_files_only) or raises a VLMError."""
    offline = hub_offline() if local_files_only is None else local_files_only
    folder = Path(path).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise ModelNotFoundError(f"{folder} is a file; pass the model folder that holds config.json")
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"{folder} has no config.json: it is not a transformers model folder "
                "(save one with model.save_pretrained and processor.save_pretrained)"
            )
        return str(folder), True
    if _looks_like_hub_id(path):
        return path, offline
    raise ModelNotFoundError(
        f"model folder {folder} does not exist; pass a folder saved with save_pretrained, "
        "or a hub id such as Qwen/Qwen2.5-VL-3B-Instruct on a machine with network"
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VLMError(f"cannot read {path}: {exc}") from exc


def _check_safetensors(path: Path) -> None:
    """A safetensors file whose header lists more bytes than the file holds was cut short or is corrupted."""
    try:
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_size)) if 0 < header_size < 100_000_000 else None
    except (OSError, ValueError) as exc:
        raise VLMError(f"{path} is corrupted or truncated (unreadable header: {exc}); restore or re-save the "
                       "weights") from exc
    if not isinstance(header, dict):
        raise VLMError(f"{path} is corrupted or truncated (no valid header); restore or re-save the weights")
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed = 8 + header_size + max(ends, default=0)
    if path.stat().st_size < needed:
        raise VLMError(f"{path} is corrupted or truncated: it holds {path.stat().st_size} bytes, its header "
                       f"describes {needed}; restore or re-save the weights")


def _check_folder(folder: Path, *, embedder: bool, trust_remote_code: bool) -> dict:
    """Architecture and processor checks on a local folder; returns its config.json."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    config = _read_json(folder / "config.json")
    model_type = config.get("model_type", "")
    if model_type not in CONFIG_MAPPING_NAMES and "auto_map" in config and not trust_remote_code:
        raise TrustRemoteCodeError(
            f"{folder} uses custom model code (model_type {model_type!r}, auto_map in config.json); "
            "review that code and enable trust_remote_code in the backend config to run it"
        )
    supported = supported_model_types(embedder=embedder)
    if model_type in CONFIG_MAPPING_NAMES and model_type not in supported:
        what = "image/text embedder" if embedder else "image-text-to-text model"
        raise UnsupportedArchitectureError(
            f"{folder} holds a {model_type!r} model, which is not an {what}; supported model types: "
            + ", ".join(sorted(supported))
        )
    if model_type not in CONFIG_MAPPING_NAMES and "auto_map" not in config:
        raise UnsupportedArchitectureError(
            f"{folder}: unknown model_type {model_type!r} for this transformers version; supported: "
            + ", ".join(sorted(supported))
        )
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    if not weights:
        raise ModelNotFoundError(f"{folder} has no weights file (model.safetensors or model-*.safetensors); save the "
                                 "model there with model.save_pretrained(folder)")
    for path in folder.glob("*.safetensors"):
        _check_safetensors(path)
    if not any((folder / name).is_file() for name in PROCESSOR_FILES) or not any(
        (folder / name).is_file() for name in TOKENIZER_FILES
    ):
        raise ProcessorMissingError(
            f"{folder} has model weights but no processor files (tokenizer and image processor); "
            "save them next to the weights with processor.save_pretrained(folder)"
        )
    return config


def supported_model_types(*, embedder: bool = False) -> set[str]:
    """Model types the backend loads: image-text-to-text models, or dual encoders for embedders."""
    if embedder:
        return {"siglip", "siglip2", "clip", "chinese_clip", "align", "blip"} & _all_model_types()
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def _all_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return set(CONFIG_MAPPING_NAMES)


def select_device_dtype(device: str = "auto", dtype: str = "auto"):
    """CUDA with bf16 (fp16 on GPUs without bf16) when present, CPU with fp32 otherwise."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    if not hasattr(torch, dtype) or not isinstance(getattr(torch, dtype), torch.dtype):
        raise VLMError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return torch.device(device), getattr(torch, dtype)


def attn_implementation_argument(value: str | dict[str, str] | None):
    """`{"vision": a, "text": b}` (or a name) as transformers' per-sub-config `attn_implementation`."""
    if value is None or isinstance(value, str):
        return value
    mapped = {ATTN_PART_KEYS.get(key, key): impl for key, impl in value.items()}
    if "" not in mapped and "text_config" in mapped:
        mapped[""] = mapped["text_config"]
    return mapped


def processor_without_video(processor_class, image_processor, tokenizer, template, **kwargs):
    """Build a processor that declares a video processor, without one (video processors need torchvision).

    Frames are passed as images, so the video processor is never used; the base class only refuses a
    missing one in its type check, which is relaxed for this one instance.
    """
    processor = processor_class.__new__(processor_class)

    def relaxed_check(name, argument, _check=processor.check_argument_for_proper_class):
        if name == "video_processor" and argument is None:
            return None
        return _check(name, argument)

    processor.check_argument_for_proper_class = relaxed_check
    processor.__init__(image_processor, tokenizer, None, chat_template=template, **kwargs)
    del processor.check_argument_for_proper_class
    return processor


def load_processor(source: str, *, local_files_only: bool, trust_remote_code: bool):
    """AutoProcessor, or (without torchvision) the same processor rebuilt with no video processor."""
    import transformers
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    common = dict(local_files_only=local_files_only, trust_remote_code=trust_remote_code)
    try:
        return AutoProcessor.from_pretrained(source, **common)
    except (ImportError, ValueError, TypeError, OSError) as first_error:
        folder = Path(source)
        if not folder.is_dir():
            where = "offline (HF_HUB_OFFLINE=1): only models already in the cache load" if local_files_only else (
                "check the hub id and your network")
            raise ModelNotFoundError(f"cannot load {source!r}: {where}. Details: {first_error}") from first_error
        config_file = folder / "processor_config.json"
        if not config_file.is_file():
            raise ProcessorMissingError(f"cannot load the processor of {source}: {first_error}") from first_error
        processor_config = _read_json(config_file)
        class_name = processor_config.get("processor_class", "")
        processor_class = getattr(transformers, class_name, None)
        if processor_class is None or "video_processor" not in processor_class.get_attributes():
            raise ProcessorMissingError(f"cannot load the processor of {source}: {first_error}") from first_error
        image_processor = AutoImageProcessor.from_pretrained(source, **common)
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        template = None
        if (folder / "chat_template.jinja").is_file():
            template = (folder / "chat_template.jinja").read_text()
        extra = {
            key: value for key, value in processor_config.items()
            if key not in ("processor_class", "image_processor", "video_processor", "tokenizer", "chat_template")
            and not key.startswith("_")
        }
        import inspect

        accepted = inspect.signature(processor_class.__init__).parameters
        extra = {key: value for key, value in extra.items() if key in accepted}
        return processor_without_video(processor_class, image_processor, tokenizer, template, **extra)


def _prompt_lengths(inputs) -> list[int]:
    """Tokens of each prompt in a padded batch (the attention mask's ones)."""
    mask = inputs.get("attention_mask")
    if mask is None:
        return [int(inputs["input_ids"].shape[1])] * int(inputs["input_ids"].shape[0])
    return [int(n) for n in mask.sum(dim=1).tolist()]


def frame_token_spans(input_ids, image_token_id: int) -> list:
    """Half-open (start, end) token spans of each run of image tokens, i.e. of each frame.

    `input_ids` is one sequence (1-D) or a batch (2-D, tensor or array); a batch gives one list per row.
    Frames in a TAFR prompt are separated by their timestamp text, so each run is one frame.
    """
    ids = np.asarray(input_ids.cpu() if hasattr(input_ids, "cpu") else input_ids)
    if ids.ndim == 2:
        return [frame_token_spans(row, image_token_id) for row in ids]
    is_image = np.concatenate([[False], ids == image_token_id, [False]])
    edges = np.flatnonzero(is_image[1:] != is_image[:-1])
    return [(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2])]


def uses_sparse_attention(cfg: HFConfig) -> bool:
    """True when any model part is asked to run agentime's sparse attention."""
    names = cfg.attn_implementation.values() if isinstance(cfg.attn_implementation, dict) else [cfg.attn_implementation]
    return SPARSE_ATTENTION in names


def publish_frame_layout(input_ids, spans) -> None:
    """Input hook: hand each prompt's frame spans and text positions to the sparse attention kernel."""
    from agentime.attention import prompt_text_positions, publish_frame_boundaries

    length = int(input_ids.shape[1])
    publish_frame_boundaries(spans, [prompt_text_positions(row, length) for row in spans], seq_len=length)


def _load_model(auto_class, source: str, cfg: HFConfig, local_files_only: bool):
    device, dtype = select_device_dtype(cfg.device, cfg.dtype)
    kwargs = dict(dtype=dtype, local_files_only=local_files_only, trust_remote_code=cfg.trust_remote_code)
    attn = attn_implementation_argument(cfg.attn_implementation)
    if attn is not None:
        kwargs["attn_implementation"] = attn
    if uses_sparse_attention(cfg):
        from agentime.attention import SparseAttentionConfig, register_sparse_attention

        register_sparse_attention(SparseAttentionConfig.from_dict(cfg.sparse_attention or {}))
    try:
        model = auto_class.from_pretrained(source, **kwargs)
    except OSError as exc:
        where = "offline (HF_HUB_OFFLINE=1): only cached models load" if local_files_only else "check the id"
        raise ModelNotFoundError(f"cannot load model {source!r}: {where}. Details: {exc}") from exc
    except ValueError as exc:
        text = str(exc)
        if "trust_remote_code" in text:
            raise TrustRemoteCodeError(
                f"{source} needs custom code; enable trust_remote_code in the backend config to run it"
            ) from exc
        if "Unrecognized configuration class" in text or "Unrecognized model" in text:
            raise UnsupportedArchitectureError(
                f"{source} is not a supported model here: {text.splitlines()[0]}; supported model types: "
                + ", ".join(sorted(supported_model_types(embedder=auto_class.__name__ == "AutoModel")))
            ) from exc
        raise VLMError(f"cannot load model {source!r}: {exc}") from exc
    return model.to(device).eval(), device


@contextmanager
def quiet_transformers(verbose: bool):
    """Hide transformers' per-load progress bars and warnings (users read answers, not load logs) unless verbose.

    transformers builds a default text config while logging a loaded one, and SigLIP's default carries token ids
    outside its own default vocabulary: that warning says nothing about the folder being loaded.
    """
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load(cfg: HFConfig, auto_class, *, embedder: bool):
    """(name, processor, model, device) of the model `cfg` names, after the folder checks."""
    source, local_files_only = resolve_model_source(cfg.path, cfg.local_files_only)
    if Path(source).is_dir():
        _check_folder(Path(source), embedder=embedder, trust_remote_code=cfg.trust_remote_code)
    with quiet_transformers(cfg.verbose):
        processor = load_processor(source, local_files_only=local_files_only, trust_remote_code=cfg.trust_remote_code)
        model, device = _load_model(auto_class, source, cfg, local_files_only)
    return cfg.name or Path(source).name or source, processor, model, device


class HFVLM:
    """A transformers image-text-to-text model behind the `VLM` protocol."""

    def __init__(self, cfg: HFConfig):
        import torch
        from transformers import AutoModelForImageTextToText

        self.config = cfg
        self.name, self.processor, self.model, self.device = _load(cfg, AutoModelForImageTextToText, embedder=False)
        self.max_batch = max(1, int(cfg.max_batch))
        self.tokenizer = self.processor.tokenizer
        image_processor = getattr(self.processor, "image_processor", None)
        self.family = family_of(getattr(self.model.config, "model_type", None))
        for setting, value in self.family.frame_settings if self.family and image_processor is not None else ():
            setattr(image_processor, setting, value)
        self.prescale = Prescaler(image_processor)
        if cfg.frames_as not in ("images", "video"):
            raise ConfigError(f"frames_as must be 'images' or 'video', got {cfg.frames_as!r}")
        if cfg.frames_as == "video" and getattr(self.model.config, "model_type", None) not in VIDEO_ENCODERS:
            raise ConfigError(
                f"frames_as='video' runs in process for {', '.join(VIDEO_ENCODERS)} only; {self.name} is a "
                f"{getattr(self.model.config, 'model_type', '?')!r} model: use frames_as='images' (timestamped "
                "frames), or serve it with vLLM and use the openai backend's frames_as='video'")
        pixels = batch_pixels_for(image_processor)
        if pixels is not None:
            self.processor.image_processor = pixels
        self.image_token_id = getattr(self.model.config, "image_token_id", None)
        if self.image_token_id is None:
            self.image_token_id = getattr(self.model.config, "image_token_index", None)
        text_config = self.model.config.get_text_config()
        self.max_context = int(getattr(text_config, "max_position_embeddings", 0) or 0) or None
        self.input_hooks: list[InputHook] = [publish_frame_layout] if uses_sparse_attention(cfg) else []
        self._yes_ids, self._no_ids = self._answer_token_ids()
        # Scores and generations read the last position of each row: every batch is left-padded, whatever
        # side the tokenizer ships with (many ship "right", which suits training, not batched inference).
        self.tokenizer.padding_side = "left"
        self._chat_renderer: ChatRenderer | None = None
        self._lock = threading.RLock()
        self._torch = torch

    # ---- prompt rendering -------------------------------------------------------------------------

    @property
    def chat_renderer(self) -> ChatRenderer | None:
        """The renderer of the current chat template (None without one); rebuilt when the template changes."""
        template = getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        if not template:
            return None
        if self._chat_renderer is None or self._chat_renderer.template != template:
            self._chat_renderer = ChatRenderer(self.processor, self.tokenizer, template)
        return self._chat_renderer

    def render(self, chat: Sequence[ChatTurn]) -> tuple[str, list]:
        """Chat turns as the model's prompt text and its images (PIL), in order."""
        from PIL import Image

        images = [Image.fromarray(self.prescale(as_rgb(part.image), part))
                  for _role, parts in chat for part in parts if isinstance(part, Frame)]
        renderer = self.chat_renderer
        if renderer is not None:
            text = renderer.render(chat)
        else:
            image_token = getattr(self.processor, "image_token", "<image>")
            pieces = []
            for role, parts in chat:
                pieces.append("".join(image_token if isinstance(p, Frame) else p for p in parts))
            text = "\n".join(pieces) + "\n"
        return text, images

    def encode(self, chats: Sequence[Sequence[ChatTurn]], reserve: int = 0):
        """Tokenise a batch of chats (left-padded) with their images, on the model's device."""
        if self.config.frames_as == "video":
            inputs = VIDEO_ENCODERS[self.model.config.model_type](self, chats)
        else:
            inputs = self.encode_images(chats)
        length = int(inputs["input_ids"].shape[1])
        if self.max_context and length + reserve > self.max_context:
            raise PromptTooLongError(
                f"the prompt has {length} tokens (+{reserve} to generate) but {self.name} takes at most "
                f"{self.max_context}; use fewer or smaller frames, or a shorter text", length + reserve,
                self.max_context)
        inputs = inputs.to(self.device)
        for key, value in inputs.items():
            if hasattr(value, "is_floating_point") and value.is_floating_point():
                inputs[key] = value.to(self.model.dtype)
        return inputs

    def encode_images(self, chats: Sequence[Sequence[ChatTurn]]):
        """A batch of chats through the chat template and the processor, frames as images (not moved)."""
        texts, images = [], []
        for chat in chats:
            text, chat_images = self.render(chat)
            texts.append(text)
            images.append(chat_images)
        kwargs = dict(text=texts, return_tensors="pt", padding=True)
        if any(images):
            if not all(images):
                raise InvalidPromptError("in one batch, either every prompt has frames or none has")
            kwargs["images"] = images
        try:
            return self.processor(**kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            raise InvalidPromptError(f"the processor of {self.name} rejected the prompt: {exc}") from exc

    def frame_spans(self, input_ids) -> list:
        """Token spans of each frame in a batch of input ids (see `frame_token_spans`)."""
        if self.image_token_id is None:
            return [[] for _ in range(len(input_ids))]
        return frame_token_spans(input_ids, int(self.image_token_id))

    def _run_hooks(self, inputs) -> None:
        if self.input_hooks:
            spans = self.frame_spans(inputs["input_ids"])
            for hook in self.input_hooks:
                hook(inputs["input_ids"], spans)

    # ---- scoring ----------------------------------------------------------------------------------

    def _answer_token_ids(self) -> tuple[list[int], list[int]]:
        """Every vocabulary token that reads "yes" / "no" once spaces and case are ignored."""
        yes, no = [], []
        for token, index in self.tokenizer.get_vocab().items():
            if len(token) > 8 or not any(w in token.lower() for w in ("yes", "no")):
                continue
            text = self.tokenizer.decode([index]).strip().lower()
            if text == "yes":
                yes.append(index)
            elif text == "no":
                no.append(index)
        if not yes or not no:
            raise VLMError(f"the tokenizer of {self.name} has no single token for 'yes' or 'no'")
        return sorted(yes), sorted(no)

    def next_token_logprobs(self, chats: Sequence[Sequence[ChatTurn]]):
        """Log-softmax of the next-token logits for each chat (a float32 tensor, batch x vocab)."""
        return self._next_token_logprobs(chats)[0]

    def _next_token_logprobs(self, chats: Sequence[Sequence[ChatTurn]]):
        """The next-token log-softmax of each chat, and each chat's prompt length in tokens (padding excluded)."""
        torch = self._torch
        outputs, lengths = [], []
        with self._lock:
            for chunk in batched(list(chats), self.max_batch):
                inputs = self.encode(chunk, reserve=1)
                self._run_hooks(inputs)
                with torch.inference_mode():
                    logits = self.model(**inputs, logits_to_keep=1).logits[:, -1, :]
                outputs.append(torch.log_softmax(logits.float(), dim=-1).cpu())
                lengths.extend(_prompt_lengths(inputs))
        return torch.cat(outputs, dim=0), lengths

    def yes_probability_chats(self, chats: Sequence[Sequence[ChatTurn]]) -> np.ndarray:
        torch = self._torch
        logprobs = self.next_token_logprobs(chats)
        yes = torch.logsumexp(logprobs[:, self._yes_ids], dim=-1)
        no = torch.logsumexp(logprobs[:, self._no_ids], dim=-1)
        return torch.sigmoid(yes - no).double().numpy()

    def yes_probability(self, frames_batch: Sequence[FrameGroup], statement: str) -> np.ndarray:
        """P(yes) / (P(yes) + P(no)) of the next token after the yes/no prompt, for each item."""
        if isinstance(frames_batch, Frame):
            frames_batch = [frames_batch]
        chats = [[("user", normalise_parts(yes_no_parts(item, statement)))] for item in frames_batch]
        if not chats:
            return np.zeros(0, dtype=np.float64)
        return self.yes_probability_chats(chats)

    def first_token_generations(self, chats: Sequence[Sequence[ChatTurn]], top_logprobs: int = 0) -> list[Generation]:
        """Greedy one-token answers for a batch of chats in one forward pass (what the server batches)."""
        torch = self._torch
        chats = [[(role, normalise_parts(parts)) for role, parts in chat] for chat in chats]
        logprobs, prompt_lengths = self._next_token_logprobs(chats)
        eos_ids = self._eos_ids()
        results = []
        for row, prompt_length in zip(logprobs, prompt_lengths):
            index = int(torch.argmax(row))
            top = None
            if top_logprobs > 0:
                top = [self._top_entry(row, top_logprobs)]
            stopped = index in eos_ids
            ids = [] if stopped else [index]
            results.append(Generation(
                text=self.tokenizer.decode(ids, skip_special_tokens=True),
                tokens=[self.tokenizer.decode([i]) for i in ids],
                logprobs=[float(row[index])] if ids else [],
                top_logprobs=top if ids else ([] if top is not None else None),
                finish_reason="stop" if stopped else "length",
                token_ids=ids,
                prompt_tokens=prompt_length,
            ))
        return results

    def _top_entry(self, row, k: int) -> dict[str, float]:
        """The k most likely next tokens as text -> logprob (tokens that decode alike are pooled)."""
        torch = self._torch
        values, indices = torch.topk(row, min(int(k), row.shape[-1]))
        entry: dict[str, float] = {}
        for value, index in zip(values.tolist(), indices.tolist()):
            text = self.tokenizer.decode([index])
            entry[text] = float(np.logaddexp(entry[text], value)) if text in entry else float(value)
        return entry

    # ---- generation -------------------------------------------------------------------------------

    def generate_chat(
        self, chat: Sequence[ChatTurn], max_new_tokens: int = 64, *, temperature: float = 0.0,
        top_logprobs: int = 0, max_time_s: float | None = None,
    ) -> Generation:
        """Answer a chat (system/user/assistant turns of text and frames); `max_time_s` stops generating
        after that many seconds (finish_reason "length")."""
        return self.generate_chats([chat], [max_new_tokens], temperature=temperature, top_logprobs=top_logprobs,
                                   max_time_s=max_time_s)[0]

    def generate_chats(
        self, chats: Sequence[Sequence[ChatTurn]], max_new_tokens: Sequence[int], *, temperature: float = 0.0,
        top_logprobs: int = 0, max_time_s: float | None = None,
    ) -> list[Generation]:
        """Answer several chats in one batched `generate` call, each up to its own `max_new_tokens`.

        Greedy answers equal what each chat gets alone (a row's first tokens do not depend on how long the
        batch keeps generating); the server uses this so that concurrent requests share the model."""
        torch = self._torch
        limits = [int(n) for n in max_new_tokens]
        if len(limits) != len(chats) or any(n < 1 for n in limits):
            raise InvalidPromptError(f"max_new_tokens must be >= 1 for each chat, got {limits}")
        chats = [[(role, normalise_parts(parts)) for role, parts in chat] for chat in chats]
        eos_ids = self._eos_ids()
        kwargs = dict(
            max_new_tokens=max(limits), return_dict_in_generate=True, output_logits=True,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=eos_ids or None,
        )
        if max_time_s is not None:
            kwargs["max_time"] = max(0.001, float(max_time_s))
        if temperature and temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature), top_k=0, top_p=1.0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        with self._lock:
            inputs = self.encode(chats, reserve=max(limits))
            self._run_hooks(inputs)
            with torch.inference_mode():
                out = self.model.generate(**inputs, **kwargs)
        start = inputs["input_ids"].shape[1]
        steps = torch.log_softmax(torch.stack(out.logits, dim=0).float(), dim=-1).cpu()
        return [self._generation(out.sequences[row, start:].tolist()[:limit], steps[:, row, :], eos_ids,
                                 top_logprobs, prompt_length)
                for row, (limit, prompt_length) in enumerate(zip(limits, _prompt_lengths(inputs)))]

    def _generation(self, new_ids: list[int], steps, eos_ids: list[int], top_logprobs: int,
                    prompt_tokens: int) -> Generation:
        """One row of a `generate` output as a Generation, cut at its first end-of-sequence token."""
        finish_reason = "length"
        for k, token_id in enumerate(new_ids):
            if token_id in eos_ids:
                new_ids, finish_reason = new_ids[:k], "stop"
                break
        tokens = [self.tokenizer.decode([i]) for i in new_ids]
        logprobs = [float(steps[k, i]) for k, i in enumerate(new_ids)]
        top = [self._top_entry(steps[k], top_logprobs) for k in range(len(new_ids))] if top_logprobs > 0 else None
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        return Generation(text=text, tokens=tokens, logprobs=logprobs, top_logprobs=top, finish_reason=finish_reason,
                          token_ids=new_ids, prompt_tokens=prompt_tokens)

    def generate(
        self, parts: Sequence[PromptPart], max_new_tokens: int = 64, *, temperature: float = 0.0,
        top_logprobs: int = 0,
    ) -> Generation:
        return self.generate_chat([("user", normalise_parts(parts))], max_new_tokens, temperature=temperature,
                                  top_logprobs=top_logprobs)

    def describe(self, frames: Sequence[Frame], max_new_tokens: int = 64) -> str:
        return self.generate(describe_parts(frames), max_new_tokens).text.strip()

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        if ids is None:
            ids = self.tokenizer.eos_token_id
        if ids is None:
            return []
        return [int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])]


class HFEmbedder:
    """A dual encoder (SigLIP, CLIP) behind the `Embedder` protocol: L2-normalised float32 rows."""

    def __init__(self, cfg: HFConfig):
        import torch
        from transformers import AutoModel

        self.config = cfg
        self.name, self.processor, self.model, self.device = _load(cfg, AutoModel, embedder=True)
        self.max_batch = max(1, int(cfg.max_batch))
        self.prescale = Prescaler(getattr(self.processor, "image_processor", self.processor))
        self._torch = torch
        self._siglip = self.model.config.model_type.startswith("siglip")
        text_config = self.model.config.get_text_config()
        self._max_text = int(getattr(text_config, "max_position_embeddings", 64))
        self.dim = int(self.embed_texts(["probe"]).shape[1])

    @staticmethod
    def _features(output):
        return output if hasattr(output, "norm") else output.pooler_output

    def _normalise(self, rows) -> np.ndarray:
        rows = rows.float()
        rows = rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return rows.cpu().numpy().astype(np.float32)

    def embed_images(self, frames: Sequence[Frame]) -> np.ndarray:
        from PIL import Image

        torch = self._torch
        out = []
        for chunk in batched(list(frames), self.max_batch):
            images = [Image.fromarray(self.prescale(as_rgb(f.image), f) if isinstance(f, Frame)
                                      else self.prescale(as_rgb(f))) for f in chunk]
            inputs = self.processor(images=images, return_tensors="pt").to(self.device)
            pixels = inputs["pixel_values"].to(self.model.dtype)
            with torch.inference_mode():
                out.append(self._normalise(self._features(self.model.get_image_features(pixel_values=pixels))))
        if not out:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        if isinstance(texts, str):
            texts = [texts]
        out = []
        padding = "max_length" if self._siglip else True
        for chunk in batched(list(texts), self.max_batch):
            inputs = self.processor(
                text=list(chunk), padding=padding, truncation=True, max_length=self._max_text, return_tensors="pt"
            ).to(self.device)
            kwargs = {"input_ids": inputs["input_ids"]}
            if "attention_mask" in inputs and not self._siglip:
                kwargs["attention_mask"] = inputs["attention_mask"]
            with torch.inference_mode():
                out.append(self._normalise(self._features(self.model.get_text_features(**kwargs))))
        if not out:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return np.concatenate(out, axis=0)
