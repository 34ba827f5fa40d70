"""Turning examples into model inputs: dense-label batches for vision towers, chat batches for the VLMs.

VLM batches are rendered through the model's own processor and chat template (exactly as the hf backend does)
with the answer and the end-of-turn token appended; only answer tokens carry labels. Left padding puts every
answer at the end of its row, which keeps label masking and teacher-forced scoring simple. Also holds the
training-only dense heads that supervise vision towers. No training loop here.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from agentime.video.frames import Frame
from agentime.vlm.base import as_rgb
from pipelines.train.embedded_data import COMBOS, WORDS, Example, FrameTruth, dense_labels

END = "<|im_end|>"


def chat_text(processor, parts) -> tuple[str, list]:
    """The prompt text (with the generation prompt) and PIL images of prompt parts, as the hf backend renders."""
    content, images = [], []
    for part in parts:
        if isinstance(part, Frame):
            content.append({"type": "image"})
            images.append(Image.fromarray(as_rgb(part.image)))
        elif part:
            content.append({"type": "text", "text": part})
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                         tokenize=False)
    return text, images


def vlm_batch(processor, examples: list[Example], *, with_answers: bool = True) -> dict:
    """Processor inputs for a batch; with answers, `labels` mark the answer tokens (and their count per row)."""
    texts, images = [], []
    for ex in examples:
        text, imgs = chat_text(processor, ex.parts)
        texts.append(text + (ex.answer + END if with_answers else ""))
        images.append(imgs)
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    batch = dict(inputs)
    if with_answers:
        tok = processor.tokenizer
        labels = torch.full_like(inputs["input_ids"], -100)
        lengths = []
        for i, ex in enumerate(examples):
            n = len(tok(ex.answer + END, add_special_tokens=False)["input_ids"])
            labels[i, -n:] = inputs["input_ids"][i, -n:]
            lengths.append(n)
        batch["labels"] = labels
        batch["answer_lengths"] = torch.tensor(lengths)
    return batch


def vlm_loss_and_hits(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean answer-token loss, and per row whether greedy decoding would give exactly the answer."""
    inputs = {k: v.to(model.device) for k, v in batch.items() if k not in ("labels", "answer_lengths")}
    logits = model(**inputs).logits[:, :-1].float()
    targets = batch["labels"][:, 1:].to(model.device)
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    correct = (logits.argmax(-1) == targets) | (targets == -100)
    return loss, correct.all(dim=1)


def pixel_batch(image_processor, images: list[np.ndarray]) -> torch.Tensor:
    """(B, 3, H, W) pixels from the image processor (Idefics3 reads a flat list as one sample of B images)."""
    pixels = image_processor([Image.fromarray(im) for im in images], return_tensors="pt")["pixel_values"]
    return pixels.flatten(0, 1) if pixels.ndim == 5 else pixels


def dense_batch(truths: list[FrameTruth], grid: int) -> dict[str, torch.Tensor]:
    labels = [dense_labels(t, grid) for t in truths]
    return {key: torch.from_numpy(np.stack([lab[key] for lab in labels])) for key in labels[0]}


class DenseHeads(nn.Module):
    """Training-only heads on a vision tower's patch states: per-patch colour and shape, presence, caption, count,
    background."""

    def __init__(self, hidden: int, grid: int):
        super().__init__()
        self.grid = grid
        self.caption_rows = grid // 2
        self.patch = nn.Linear(hidden, len(COMBOS))
        self.patch_colour = nn.Linear(hidden, 9)
        self.patch_shape = nn.Linear(hidden, 7)
        self.count = nn.Linear(hidden, 5)
        self.background = nn.Linear(hidden, 6)
        self.caption = nn.Linear(hidden * self.caption_rows * grid, 3 + 3 * (len(WORDS) + 1))

    def forward(self, states: torch.Tensor, labels: dict) -> tuple[torch.Tensor, dict]:
        ce, bce = nn.functional.cross_entropy, nn.functional.binary_cross_entropy_with_logits
        patch = self.patch(states)
        presence = patch.max(dim=1).values
        pooled = states.mean(dim=1)
        caption = self.caption(states[:, : self.caption_rows * self.grid].flatten(1))
        kind, tens, units, word = caption.split([3, 11, 11, 11], dim=1)
        cap = labels["caption"]
        # Factorised per-patch classes (softmax, no class imbalance) carry most of the signal; presence of each
        # colour x shape is the max over patches, with positives up-weighted as they are rare.
        colour_weight = torch.ones(9)
        colour_weight[-1] = 0.05  # most patches show no object
        shape_weight = torch.ones(7)
        shape_weight[-1] = 0.05
        loss = (ce(self.patch_colour(states).flatten(0, 1), labels["patch_colour"].flatten(), weight=colour_weight)
                + ce(self.patch_shape(states).flatten(0, 1), labels["patch_shape"].flatten(), weight=shape_weight)
                + bce(presence, labels["presence"], pos_weight=torch.tensor(8.0)) * 2
                + ce(self.count(pooled), labels["count"]) + ce(self.background(pooled), labels["background"])
                + ce(kind, cap[:, 0]) + ce(tens, cap[:, 1]) + ce(units, cap[:, 2]) + ce(word, cap[:, 3]))
        with torch.no_grad():
            on_object = labels["patch_shape"] < 6
            stats = {
                "patch_shape_acc": (self.patch_shape(states).argmax(-1) == labels["patch_shape"])[on_object]
                .float().mean().item(),
                "presence_exact": ((presence > 0) == (labels["presence"] > 0.5)).all(1).float().mean().item(),
                "caption_exact": ((kind.argmax(1) == cap[:, 0]) & (tens.argmax(1) == cap[:, 1])
                                  & (units.argmax(1) == cap[:, 2]) & (word.argmax(1) == cap[:, 3])).float().mean().item(),
            }
        return loss, stats
