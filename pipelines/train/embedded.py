"""Train the embedded embedder, target VLM and draft VLM on the synthetic world, in stages, and ship them.

    python -m pipelines.train_embedded --out runs/embedded            # all stages, resumable
    python -m pipelines.train_embedded --out runs/embedded --ship     # also export to agentime/models/
    python -m pipelines.train_embedded --out runs/embedded --chain draft --ship   # one chain per process

Stages (each resumes from its last checkpoint and is skipped once done):
  embedder       SigLIP dual encoder: dense vision supervision (which colour x shape covers which patch,
                 caption digits/words, counts, background) plus the sigmoid contrastive loss
  target_frames  target VLM, vision tower copied from the embedder (trained at 0.3x the learning rate),
                 connector + text model on single-frame yes/no, description and reading
  draft_vision   the draft's 48 px vision tower with the same dense supervision
  draft_frames   draft VLM on single-frame tasks (mostly yes/no; vision at 0.5x the learning rate)
  target_clips   target VLM on single frames, sufficiency and multi-frame TAFR questions (2-16 frames),
                 vision frozen
  target_refresh (chain `refresh`) a target checkpoint with the vision tower of a longer-trained embedder,
                 trained again on single frames
  target_focus   (chain `target-focus`) an exported target folder trained again on single frames, mostly yes/no
                 with shape statements up-weighted, at a low learning rate; then target_focus_clips: single
                 frames mixed with sufficiency and multi-frame questions, vision frozen
  draft_focus    (chain `draft-focus`) the same single-frame focus for an exported draft folder
  target_long    (chain `target-long`) an exported target on single frames, sufficiency and mostly multi-frame
                 questions in large batches, vision at 0.1x: for an accelerator, e.g.
                 `--chain target-long --device cuda --workers 12 --minutes 8`
The chains that start from an exported VLM (target-focus, draft-focus, target-long) can also change its input
resolution first (`--image-size`): the vision tower's position embeddings are interpolated to the new patch
grid and the processor makes the new number of image tokens per frame; the other weights carry over.
Data is generated on the fly from fresh synthetic worlds; the stream of a stage is a pure function of
(seed, stage, step), so a resumed run sees the same data, whether batches are made in the training process or by
`--workers` forked processes. A plain PyTorch loop: AdamW, warmup + cosine, a
stage ends at `steps` or `minutes`, whichever comes first (the schedule follows the further of the two).
Checkpoints are safetensors (weights and optimizer moments) plus JSON; nothing is pickled.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from agentime.video.cache import atomic_write_json
from pipelines.train import embedded_data as data
from pipelines.train.embedded_batches import DenseHeads, dense_batch, pixel_batch, vlm_batch, vlm_loss_and_hits
from pipelines.train.embedded_models import (DRAFT, TARGET, build_embedder, build_tokenizer, build_vlm, copy_vision_tower,
                                       resize_vlm_input, save_folder)

MODELS_DIR = Path(__file__).resolve().parents[2] / "agentime" / "models"


@dataclass
class StageConfig:
    steps: int
    minutes: float
    batch: int
    lr: float
    eval_every: int = 100
    checkpoint_every: int = 100
    vision_lr_scale: float = 0.0  # VLM stages: 0 freezes the vision tower, else its learning rate multiplier


@dataclass
class TrainConfig:
    out: str = "runs/embedded"
    seed: int = 1234
    threads: int = 2
    device: str = "cpu"  # VLM chains (target-focus, draft-focus, target-long) may train on "cuda"
    workers: int = 0  # processes that generate batches ahead of the training step (0: in the training process)
    image_size: int = 0  # exported-VLM chains: train at this input resolution (0: the folder's own)
    long_modes: dict = field(default_factory=lambda: dict(LONG_MODES))  # target_long's batch kinds and weights
    warmup: int = 50
    weight_decay: float = 0.01
    stages: dict = field(default_factory=lambda: {
        "embedder": StageConfig(steps=3000, minutes=22, batch=32, lr=2e-3),
        "target_frames": StageConfig(steps=2500, minutes=20, batch=16, lr=1e-3, vision_lr_scale=0.3),
        "draft_vision": StageConfig(steps=3000, minutes=14, batch=32, lr=2e-3),
        "draft_frames": StageConfig(steps=4000, minutes=20, batch=16, lr=2e-3, vision_lr_scale=0.5),
        "target_clips": StageConfig(steps=3000, minutes=15, batch=8, lr=5e-4, eval_every=150),
        "target_refresh": StageConfig(steps=2000, minutes=13, batch=16, lr=7e-4, vision_lr_scale=0.3),
        "target_focus": StageConfig(steps=14000, minutes=60, batch=16, lr=3e-4, vision_lr_scale=0.2,
                                    eval_every=250, checkpoint_every=250),
        "target_focus_clips": StageConfig(steps=6000, minutes=30, batch=8, lr=2e-4, eval_every=250,
                                          checkpoint_every=250),
        "draft_focus": StageConfig(steps=20000, minutes=90, batch=16, lr=3e-4, vision_lr_scale=0.3,
                                   eval_every=500, checkpoint_every=250),
        "target_long": StageConfig(steps=6000, minutes=240, batch=32, lr=3e-4, vision_lr_scale=0.1,
                                   eval_every=1000, checkpoint_every=500),
    })


# ---- small utilities ----------------------------------------------------------------------------------------

def log(path: Path, record: dict) -> None:
    record = {"time": round(time.time(), 1), **record}
    print(json.dumps(record), flush=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def lr_at(step: int, progress: float, cfg: StageConfig, warmup: int) -> float:
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def save_checkpoint(folder: Path, module: nn.Module, optimizer, step: int, seconds: float = 0.0) -> None:
    """Weights, optimizer moments and progress; each file replaced whole, the step stamped in all three so a
    stop between two replacements is detected on resume."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = {"step": str(step)}
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, folder / "module.tmp", stamp)
    moments = {}
    for i, p in enumerate(trainable(module)):
        for key, value in optimizer.state.get(p, {}).items():
            value = value.detach().cpu().clone()
            moments[f"{i}.{key}"] = value.reshape(-1) if key == "step" else value
    save_file(moments, folder / "optimizer.tmp", stamp)
    (folder / "module.tmp").replace(folder / "module.safetensors")
    (folder / "optimizer.tmp").replace(folder / "optimizer.safetensors")
    atomic_write_json(folder / "state.json", {"step": step, "seconds": seconds})


def _checkpoint_step(folder: Path) -> int | None:
    """The step all three checkpoint files agree on, or None when any is missing, torn or from another step."""
    try:
        step = int(json.loads((folder / "state.json").read_text())["step"])
        for name in ("module.safetensors", "optimizer.safetensors"):
            with safe_open(folder / name, framework="pt") as handle:
                if (handle.metadata() or {}).get("step") != str(step):
                    return None
    except (OSError, ValueError, KeyError, TypeError, SafetensorError):
        return None
    return step


def load_weights(folder: Path, module: nn.Module) -> None:
    """The weights a finished stage left (used by the stages after it)."""
    module.load_state_dict(load_file(folder / "module.safetensors"))


def load_checkpoint(folder: Path, module: nn.Module, optimizer) -> int:
    if not (folder / "state.json").is_file():
        return 0
    step = _checkpoint_step(folder)
    if step is None:
        print(f"checkpoint in {folder} is incomplete or damaged: the stage starts over", flush=True)
        return 0
    module.load_state_dict(load_file(folder / "module.safetensors"))
    moments = load_file(folder / "optimizer.safetensors")
    for i, p in enumerate(trainable(module)):
        state = {key.split(".", 1)[1]: value for key, value in moments.items() if key.split(".", 1)[0] == str(i)}
        if state:
            state = {key: value.to(p.device) for key, value in state.items()}
            state["step"] = state["step"].reshape(())
            optimizer.state[p] = state
    return step


_BATCHES = None  # (batch_fn, seed, stage name) of the running stage, inherited by forked batch workers


def _batch_at(step: int):
    batch_fn, seed, name = _BATCHES
    return batch_fn(random.Random(f"{seed}-{name}-{step}"))


def _quiet_worker() -> None:
    torch.set_num_threads(1)


def batch_stream(name: str, cfg: TrainConfig, batch_fn, first: int, last: int):
    """The batches of steps first..last-1, each `batch_fn(rng)` with the rng of (seed, stage, step), so the data
    is the same whether it is made here or, with `cfg.workers`, by forked processes a few steps ahead."""
    global _BATCHES
    _BATCHES = (batch_fn, cfg.seed, name)
    if cfg.workers <= 0:
        for step in range(first, last):
            yield _batch_at(step)
        return
    with multiprocessing.get_context("fork").Pool(cfg.workers, initializer=_quiet_worker) as pool:
        ahead = 2 * cfg.workers
        pending = [pool.apply_async(_batch_at, (step,)) for step in range(first, min(last, first + ahead))]
        for step in range(first, last):
            batch = pending.pop(0).get()
            if step + ahead < last:
                pending.append(pool.apply_async(_batch_at, (step + ahead,)))
            yield batch


def run_stage(name: str, cfg: TrainConfig, module: nn.Module, batch_fn, loss_fn, eval_fn) -> None:
    """The loop shared by every stage: `batch_fn(rng) -> batch`, `loss_fn(batch) -> (loss, stats)`, `eval_fn() ->
    dict` of held-out numbers."""
    out = Path(cfg.out)
    stage = cfg.stages[name]
    folder = out / name
    if (folder / "done.json").is_file():
        return
    logfile = out / "log.jsonl"
    if hasattr(module, "set_vision_trainable"):
        module.set_vision_trainable(stage.vision_lr_scale > 0)
    groups = module.param_groups(stage.vision_lr_scale) if hasattr(module, "param_groups") else [
        {"params": trainable(module)}]
    optimizer = torch.optim.AdamW(groups, lr=stage.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    step = load_checkpoint(folder, module, optimizer)
    spent = json.loads((folder / "state.json").read_text()).get("seconds", 0.0) if step else 0.0
    log(logfile, {"stage": name, "event": "start", "step": step, "device": cfg.device, "workers": cfg.workers,
                  "params": sum(p.numel() for p in trainable(module))})
    start, last = time.time() - spent, time.time()
    module.train()
    for batch in batch_stream(name, cfg, batch_fn, step, stage.steps):
        if time.time() - start >= stage.minutes * 60:
            break
        progress = max(step / stage.steps, (time.time() - start) / (stage.minutes * 60))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, progress, stage, cfg.warmup) * group.get("scale", 1.0)
        loss, stats = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(trainable(module), 1.0)
        optimizer.step()
        step += 1
        if step % 20 == 0:
            log(logfile, {"stage": name, "step": step, "loss": round(loss.item(), 4),
                          "steps_per_s": round(20 / (time.time() - last), 3), **stats})
            last = time.time()
        if step % stage.eval_every == 0:
            module.eval()
            log(logfile, {"stage": name, "step": step, "eval": eval_fn()})
            module.train()
        if step % stage.checkpoint_every == 0:
            save_checkpoint(folder, module, optimizer, step, time.time() - start)
    module.eval()
    final = eval_fn()
    save_checkpoint(folder, module, optimizer, step, time.time() - start)
    (folder / "done.json").write_text(json.dumps({"step": step, "seconds": round(time.time() - start), "eval": final}))
    log(logfile, {"stage": name, "event": "done", "step": step, "eval": final})


# ---- stage 1: embedder (dense vision supervision + contrastive) ---------------------------------------------

class EmbedderTrainer(nn.Module):
    def __init__(self, model, processor):
        super().__init__()
        self.model = model
        self.heads = DenseHeads(TARGET.vision_hidden, TARGET.image_size // TARGET.patch)
        self.processor = processor

    def texts(self, texts: list[str]) -> torch.Tensor:
        # Exactly the backend's text path: padded to max_length, no attention mask.
        tok = self.processor(text=texts, padding="max_length", truncation=True,
                             max_length=self.model.config.text_config.max_position_embeddings, return_tensors="pt")
        return self.model.get_text_features(input_ids=tok["input_ids"]).pooler_output

    def forward(self, truths, texts, keys):
        pixels = pixel_batch(self.processor.image_processor, [t.image for t in truths])
        vision = self.model.vision_model(pixel_values=pixels)
        dense_loss, stats = self.heads(vision.last_hidden_state, dense_batch(truths, self.heads.grid))
        image = nn.functional.normalize(vision.pooler_output, dim=-1)
        text = nn.functional.normalize(self.texts(texts), dim=-1)
        logits = image @ text.T * self.model.logit_scale.exp() + self.model.logit_bias
        positive = torch.tensor([[key in data.frame_keys(t) for key in keys] for t in truths], dtype=torch.float32)
        contrastive = -nn.functional.logsigmoid((2 * positive - 1) * logits).sum(1).mean()
        stats["retrieval_top1"] = positive[torch.arange(len(keys)), logits.argmax(1)].float().mean().item()
        return dense_loss + contrastive * 0.5, stats


def embedder_batch(rng: random.Random, size: int):
    truths = [data.random_frame(rng) for _ in range(size)]
    pairs = [data.contrastive_text(rng, t) for t in truths]
    return truths, [p[0] for p in pairs], [p[1] for p in pairs]


# ---- VLM stages --------------------------------------------------------------------------------------------

def single_frame_example(rng: random.Random, weights: dict[str, float],
                         kinds: dict[str, float] = data.YES_NO_KINDS) -> data.Example:
    task = rng.choices(list(weights), list(weights.values()))[0]
    truth = data.random_frame(rng)
    if task == "yes_no":
        return data.yes_no_example(rng, truth, kinds=kinds)
    if task == "describe":
        return data.describe_example(truth)
    return data.read_example(truth)


CLIP_FRAMES = [2, 3, 4, 4, 6, 8, 8, 12, 16]


CLIP_MODES = {"single": 3, "sufficiency": 2, "multi": 5}
LONG_MODES = {"single": 3, "sufficiency": 2, "multi": 5}  # target_long's default (`--long-mix` changes it)
# Focus stages: statements about shapes are the slowest to learn (colour alone is learned in a few hundred
# steps), so they are up-weighted, and single frames are mostly yes/no, the signal the searches run on.
# "binding" statements cross the colour of one visible object with the shape of another (answer no).
FOCUS_KINDS = {"object": 5, "colour": 1.5, "shape": 2.5, "text": 1, "binding": 2.5}
FOCUS_MIX = {"yes_no": 0.7, "describe": 0.2, "read": 0.1}


def clip_stage_batch(rng: random.Random, size: int, modes: dict[str, float] = CLIP_MODES,
                     single: dict[str, float] | None = None, kinds: dict[str, float] = data.YES_NO_KINDS
                     ) -> list[data.Example]:
    """One task per batch, so all rows have the same number of frames (no image padding)."""
    mode = rng.choices(list(modes), list(modes.values()))[0]
    if mode == "single":
        single = single or {"yes_no": 0.5, "describe": 0.25, "read": 0.25}
        return [single_frame_example(rng, single, kinds) for _ in range(size)]
    frames = rng.choice(CLIP_FRAMES)
    if mode == "sufficiency":
        return [data.sufficiency_example(rng, data.random_clip(rng, min(frames, 8))) for _ in range(size)]
    return [data.clip_example(rng, frames) for _ in range(size)]


def validation_sets(seed: int, kind: str) -> dict[str, list[data.Example]]:
    rng = random.Random(f"{seed}-validation-{kind}")
    sets = {
        "yes_no": [data.yes_no_example(rng, data.random_frame(rng), objects_only=True) for _ in range(96)],
        "describe": [data.describe_example(data.random_frame(rng)) for _ in range(32)],
        "read": [data.read_example(data.random_frame(rng)) for _ in range(32)],
    }
    if kind == "clips":
        sets["sufficiency"] = [data.sufficiency_example(rng, data.random_clip(rng, 4)) for _ in range(24)]
        for q in data.CLIP_KINDS:
            sets[q] = [data.clip_example(rng, 6, kinds=(q,)) for _ in range(12)]
    return sets


def vlm_eval(model, processor, sets) -> dict[str, float]:
    out = {}
    with torch.no_grad():
        for task, examples in sets.items():
            hits = []
            for i in range(0, len(examples), 16):
                _, h = vlm_loss_and_hits(model, vlm_batch(processor, examples[i:i + 16]))
                hits.append(h)
            out[task] = round(torch.cat(hits).float().mean().item(), 3)
    return out


def prepare_vlm(model, vision_source=None):
    """Freeze the vision tower (copied from `vision_source` when given); scale the connector's output down."""
    vision = model.model.vision_model
    if vision_source is not None:
        copy_vision_tower(vision_source, vision)
    for p in vision.parameters():
        p.requires_grad_(False)
    proj = model.model.connector.modality_projection.proj
    nn.init.normal_(proj.weight, std=0.1 / math.sqrt(proj.weight.shape[1]))
    return model


class VLMTrainer(nn.Module):
    """Holds a VLM for `run_stage`: the vision tower frozen, or trained at a scaled learning rate."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def set_vision_trainable(self, flag: bool) -> None:
        for p in self.model.model.vision_model.parameters():
            p.requires_grad_(flag)

    def param_groups(self, vision_scale: float) -> list[dict]:
        vision = {id(p) for p in self.model.model.vision_model.parameters()}
        rest = [p for p in trainable(self) if id(p) not in vision]
        groups = [{"params": rest, "scale": 1.0}]
        if vision_scale > 0:
            groups.append({"params": [p for p in trainable(self) if id(p) in vision], "scale": vision_scale})
        return groups


def vlm_stage(name: str, cfg: TrainConfig, trainer: "VLMTrainer", processor, make_examples, sets: dict,
              ship_as: str | None) -> None:
    """Run stage `name` on batches `make_examples(rng, batch_size)`, keep its final weights in the model and,
    when `ship_as` is given, export the model to agentime/models/<ship_as>."""
    model, batch = trainer.model, cfg.stages[name].batch

    def step(inputs):
        loss, hits = vlm_loss_and_hits(model, inputs)
        return loss, {"train_exact": round(hits.float().mean().item(), 3)}

    run_stage(name, cfg, trainer, lambda rng: vlm_batch(processor, make_examples(rng, batch)), step,
              lambda: vlm_eval(model, processor, sets))
    load_weights(Path(cfg.out) / name, trainer)
    if ship_as:
        save_folder(model, processor, MODELS_DIR / ship_as)


def single_frames(weights: dict[str, float], kinds: dict[str, float] = data.YES_NO_KINDS):
    """`make_examples` for `vlm_stage`: single-frame examples of the tasks in `weights`."""
    return lambda rng, size: [single_frame_example(rng, weights, kinds) for _ in range(size)]


# ---- main --------------------------------------------------------------------------------------------------

def train_embedder(cfg: TrainConfig, tokenizer, ship: bool):
    """Stage embedder; returns the trained SiglipModel."""
    out = Path(cfg.out)
    embedder, embed_proc = build_embedder(tokenizer, seed=cfg.seed)
    trainer = EmbedderTrainer(embedder, embed_proc)
    stage = cfg.stages["embedder"]
    val_rng = random.Random(f"{cfg.seed}-validation-embedder")
    val = [embedder_batch(val_rng, 64) for _ in range(2)]

    def embedder_eval():
        with torch.no_grad():
            stats = [trainer(*batch)[1] for batch in val]
        return {k: round(sum(s[k] for s in stats) / len(stats), 3) for k in stats[0]}

    run_stage("embedder", cfg, trainer, lambda rng: embedder_batch(rng, stage.batch), lambda b: trainer(*b),
              embedder_eval)
    load_weights(out / "embedder", trainer)
    if ship:
        save_folder(embedder, embed_proc, MODELS_DIR / "embedder")
    return embedder


def train_embedder_and_target(cfg: TrainConfig, tokenizer, ship: bool) -> None:
    """Stages embedder -> target_frames -> target_clips (the target's vision tower starts as the embedder's)."""
    embedder = train_embedder(cfg, tokenizer, ship)
    target, target_proc = build_vlm(tokenizer, TARGET, seed=cfg.seed)
    prepare_vlm(target, embedder.vision_model)
    target_trainer = VLMTrainer(target)
    ship_as = "target" if ship else None
    vlm_stage("target_frames", cfg, target_trainer, target_proc, single_frames({"yes_no": 0.5, "describe": 0.25,
              "read": 0.25}), validation_sets(cfg.seed, "frames"), ship_as)
    vlm_stage("target_clips", cfg, target_trainer, target_proc, clip_stage_batch, validation_sets(cfg.seed, "clips"),
              ship_as)


def train_draft(cfg: TrainConfig, tokenizer, ship: bool) -> None:
    """Stages draft_vision -> draft_frames."""
    out = Path(cfg.out)
    draft, draft_proc = build_vlm(tokenizer, DRAFT, seed=cfg.seed + 1)
    grid = DRAFT.image_size // DRAFT.patch
    draft_vision = VLMVisionTrainer(draft.model.vision_model, draft_proc.image_processor, grid, DRAFT.vision_hidden)
    val_rng = random.Random(f"{cfg.seed}-validation-draft-vision")
    dv_val = [[data.random_frame(val_rng) for _ in range(64)] for _ in range(2)]

    def draft_vision_eval():
        with torch.no_grad():
            stats = [draft_vision(batch)[1] for batch in dv_val]
        return {k: round(sum(s[k] for s in stats) / len(stats), 3) for k in stats[0]}

    batch = cfg.stages["draft_vision"].batch
    run_stage("draft_vision", cfg, draft_vision, lambda rng: [data.random_frame(rng) for _ in range(batch)],
              draft_vision, draft_vision_eval)
    load_weights(out / "draft_vision", draft_vision)
    prepare_vlm(draft)
    vlm_stage("draft_frames", cfg, VLMTrainer(draft), draft_proc,
              single_frames({"yes_no": 0.7, "describe": 0.15, "read": 0.15}), validation_sets(cfg.seed, "frames"),
              "draft" if ship else None)


def refresh_target(cfg: TrainConfig, tokenizer, ship: bool, start_from: Path, vision_from: Path) -> None:
    """Stage target_refresh: the target of `start_from` (a target_frames or target_clips checkpoint) with the
    vision tower of a longer-trained embedder checkpoint (`vision_from`), trained again on single frames."""
    embedder, embed_proc = build_embedder(tokenizer, seed=cfg.seed)
    load_weights(vision_from, EmbedderTrainer(embedder, embed_proc))
    target, target_proc = build_vlm(tokenizer, TARGET, seed=cfg.seed)
    trainer = VLMTrainer(target)
    load_weights(start_from, trainer)
    copy_vision_tower(embedder.vision_model, target.model.vision_model)
    vlm_stage("target_refresh", cfg, trainer, target_proc, single_frames({"yes_no": 0.6, "describe": 0.3,
              "read": 0.1}), validation_sets(cfg.seed, "frames"), "target" if ship else None)


def load_exported(folder: Path, device: str, image_size: int = 0):
    """An exported VLM folder and its processor, in float32 on `device` (loaded in the dtype it was saved in, so
    every sub-config keeps it); with `image_size`, changed to that input resolution (`resize_vlm_input`)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(folder, dtype="auto").float()
    processor = AutoProcessor.from_pretrained(folder)
    if image_size and image_size != model.config.vision_config.image_size:
        resize_vlm_input(model, processor, image_size)
    return model.to(device), processor


def focus_vlm(cfg: TrainConfig, which: str, ship: bool, start_from: Path) -> None:
    """Stage `{which}_focus`: an exported VLM folder (`start_from`, e.g. the shipped model) trained again on
    single frames, mostly yes/no with shape statements up-weighted, at a low learning rate; for the target then
    `target_focus_clips`: sufficiency and multi-frame questions mixed with single frames, vision frozen."""
    model, processor = load_exported(start_from, cfg.device, cfg.image_size)
    trainer = VLMTrainer(model)
    ship_as = which if ship else None
    vlm_stage(f"{which}_focus", cfg, trainer, processor, single_frames(FOCUS_MIX, FOCUS_KINDS),
              validation_sets(cfg.seed, "frames"), ship_as)
    if which == "target":
        modes = {"single": 5, "sufficiency": 2, "multi": 3}
        vlm_stage("target_focus_clips", cfg, trainer, processor,
                  lambda rng, size: clip_stage_batch(rng, size, modes, FOCUS_MIX, FOCUS_KINDS),
                  validation_sets(cfg.seed, "clips"), ship_as)


def long_target(cfg: TrainConfig, ship: bool, start_from: Path) -> None:
    """Stage `target_long`: an exported target trained on single frames, sufficiency and (mostly) multi-frame
    questions together, the vision tower at a low learning rate, in large batches. Meant for an accelerator with
    `--workers` making the batches (multi-frame batches cost more to generate than to train on); on this CPU
    it would take many hours."""
    model, processor = load_exported(start_from, cfg.device, cfg.image_size)
    vlm_stage("target_long", cfg, VLMTrainer(model), processor,
              lambda rng, size: clip_stage_batch(rng, size, cfg.long_modes, FOCUS_MIX, FOCUS_KINDS),
              validation_sets(cfg.seed, "clips"), "target" if ship else None)


def train(cfg: TrainConfig, ship: bool, chains: list[str], start_from=None, vision_from=None) -> None:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    tokenizer = build_tokenizer()
    if "target" in chains:
        train_embedder_and_target(cfg, tokenizer, ship)
    elif "embedder" in chains:
        train_embedder(cfg, tokenizer, ship)
    if "refresh" in chains:
        refresh_target(cfg, tokenizer, ship, Path(start_from), Path(vision_from))
    if "draft" in chains:
        train_draft(cfg, tokenizer, ship)
    for which in ("target", "draft"):
        if f"{which}-focus" in chains:
            focus_vlm(cfg, which, ship, Path(start_from or MODELS_DIR / which))
    if "target-long" in chains:
        long_target(cfg, ship, Path(start_from or MODELS_DIR / "target"))


class VLMVisionTrainer(nn.Module):
    """Dense supervision of an Idefics3 vision tower (used for the draft)."""

    def __init__(self, vision, image_processor, grid: int, hidden: int):
        super().__init__()
        self.vision = vision
        self.heads = DenseHeads(hidden, grid)
        self.image_processor = image_processor

    def forward(self, truths):
        pixels = pixel_batch(self.image_processor, [t.image for t in truths])
        states = self.vision(pixel_values=pixels).last_hidden_state
        return self.heads(states, dense_batch(truths, self.heads.grid))


def parse_mix(parser, text: str) -> dict[str, float]:
    """`single=5,sufficiency=1,multi=4` -> weights of target_long's batch kinds (unknown kinds are an error)."""
    mix = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            parser.error(f"--long-mix: {item!r} is not kind=weight")
    unknown = set(mix) - set(LONG_MODES)
    if unknown or not any(w > 0 for w in mix.values()) or any(w < 0 for w in mix.values()):
        parser.error(f"--long-mix needs non-negative weights of {', '.join(LONG_MODES)} (got {text!r})")
    return mix


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/embedded")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda; other than cpu only for the chains that "
                        "train an exported VLM (target-focus, draft-focus, target-long)")
    parser.add_argument("--workers", type=int, default=0, help="processes generating batches ahead of training")
    parser.add_argument("--minutes", type=float, default=None, help="override every stage's time limit")
    parser.add_argument("--batch", type=int, default=None, help="override every stage's batch size")
    parser.add_argument("--ship", action="store_true", help="export each trained model to agentime/models/")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every stage's steps and minutes")
    parser.add_argument("--vision-lr-scale", type=float, default=None,
                        help="override the vision tower's learning-rate multiplier of stages that train it")
    parser.add_argument("--start-from", default=None, help="refresh: target checkpoint folder to start from; "
                        "target-focus/draft-focus: an exported model folder (default: the shipped one)")
    parser.add_argument("--image-size", type=int, default=0, help="target-focus, draft-focus, target-long: train "
                        "the exported model at this input resolution (its position embeddings interpolated)")
    parser.add_argument("--long-mix", default=None, help="target-long: weights of its batch kinds, e.g. "
                        "single=5,sufficiency=1,multi=4 (default: single=3,sufficiency=2,multi=5)")
    parser.add_argument("--vision-from", default=None, help="refresh: embedder checkpoint folder for the vision")
    parser.add_argument("--chain", choices=["all", "target", "draft", "embedder", "refresh", "target-focus",
                                            "draft-focus", "target-long"], default="all",
                        help="target: embedder and target stages; draft: draft stages (two processes can share "
                             "work); embedder: the embedder stage alone (e.g. to train it longer); refresh: "
                             "target_refresh (see --start-from, --vision-from); target-focus, draft-focus: "
                             "the focus stages; target-long: the target_long stage (see --device, --workers)")
    args = parser.parse_args(argv)
    if args.device != "cpu" and args.chain not in ("target-focus", "draft-focus", "target-long"):
        parser.error(f"--device {args.device} is only supported by the target-focus, draft-focus and target-long "
                     "chains")
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    if args.image_size < 0:
        parser.error("--image-size must be positive")
    if args.image_size and args.chain not in ("target-focus", "draft-focus", "target-long"):
        parser.error("--image-size applies to the chains that start from an exported model: target-focus, "
                     "draft-focus, target-long")
    if args.long_mix and args.chain != "target-long":
        parser.error("--long-mix applies to the target-long chain only")
    cfg = TrainConfig(out=args.out, seed=args.seed, threads=args.threads, device=args.device, workers=args.workers,
                      image_size=args.image_size)
    if args.long_mix:
        cfg.long_modes = parse_mix(parser, args.long_mix)
    for stage in cfg.stages.values():
        stage.steps = max(1, int(stage.steps * args.scale))
        stage.minutes = (args.minutes if args.minutes is not None else stage.minutes) * args.scale
        stage.batch = args.batch or stage.batch
        if args.vision_lr_scale is not None and stage.vision_lr_scale > 0:
            stage.vision_lr_scale = args.vision_lr_scale
    train(cfg, args.ship, ["target", "draft"] if args.chain == "all" else [args.chain], args.start_from,
          args.vision_from)


if __name__ == "__main__":
    main()
