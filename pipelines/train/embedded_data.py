"""Training and evaluation examples for the embedded models, generated on the fly from the synthetic world.

Single frames are rendered by `World.render` from one-scene worlds built here with 0-3 objects and an optional
caption (same sizes and placement rules as `generate_world`); clips are 1-fps samples of fresh
`generate_world` timelines. Every example is (prompt parts, answer text) with the prompt built by the same
functions the VLM backends use (`yes_no_parts`, `describe_parts`, `timestamped_frames`), so training prompts
equal inference prompts. Dense labels (which colour x shape covers which patch, caption digits, counts) feed
the vision pretraining. This module renders and labels; it holds no model code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from agentime.search.prompts import ANSWER_INSTRUCTION, READ_INSTRUCTION, relevance_statement, sufficiency_statement
from agentime.video.frames import Frame
from agentime.video.tafr import build_prompt, format_timestamp, timestamped_frames
from agentime.vlm.base import YES_NO_INSTRUCTION, describe_parts, yes_no_parts
from pipelines.synthetic.world import (BACKGROUNDS, COLOURS, SHAPES, WORDS, Appearance, Caption, Scene, World,
                                       WorldConfig, draw_shape, generate_world)

COMBOS = [f"{c} {s}" for c in COLOURS for s in SHAPES]
COMBO_INDEX = {name: i for i, name in enumerate(COMBOS)}
BACKGROUND_NAMES = list(BACKGROUNDS)
WIDTH, HEIGHT = 320, 240
READ_QUESTION = READ_INSTRUCTION  # the reading task the target is trained on is the one grounding asks
SUFFICIENCY_INSTRUCTION = "Can the question be answered from these frames?"
LETTER_INSTRUCTION = "Answer with the letter."
NO_TEXT = "none"
NOTHING = "nothing"
STATEMENT_TEMPLATES = ("a {o} is visible", "there is a {o}", "the {o} is on screen", "Is there a {o}?",
                       "a {o} is shown")


@dataclass
class FrameTruth:
    """A rendered frame and what is on it."""

    image: np.ndarray
    t: float
    objects: list[str]
    caption: str | None
    background: str
    appearances: list[Appearance] = field(default_factory=list)

    @property
    def frame(self) -> Frame:
        return Frame(self.t, self.image)

    @property
    def names(self) -> set[str]:
        return set(self.objects)


def article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def description(objects, caption: str | None) -> str:
    """Canonical description: objects in vocabulary order, then the on-screen text."""
    names = sorted(set(objects), key=lambda n: COMBO_INDEX[n])
    text = ", ".join(names) if names else NOTHING
    return f"{text}; text: {caption}" if caption else text


def random_appearance(rng: random.Random, shape: str, colour: str, t: float) -> Appearance:
    """A still object on screen around time `t` (short, so `World.visible_at` finds it)."""
    size = rng.randint(int(HEIGHT * 0.24), int(HEIGHT * 0.36))
    margin = size / 2 + 2
    top = HEIGHT * 0.36 + margin
    x, y = rng.uniform(margin, WIDTH - margin), rng.uniform(top, HEIGHT - margin)
    return Appearance(shape, colour, max(0.0, t - 1.0), t + 1.0, size, x, y, x, y)


def random_caption(rng: random.Random) -> str:
    return rng.choice(WORDS) if rng.random() < 0.4 else str(rng.randint(10, 99))


def random_frame(rng: random.Random, t: float | None = None) -> FrameTruth:
    """One frame of a one-scene world: 0-3 objects (repeats allowed), a caption half of the time."""
    t = round(rng.uniform(0, 3600), 1) if t is None else t
    count = rng.choices([0, 1, 2, 3], weights=[1, 4, 3, 2])[0]
    apps = []
    for _ in range(count):
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        apps.append(random_appearance(rng, shape, colour, t))
    caption = random_caption(rng) if rng.random() < 0.5 else None
    background = rng.choice(BACKGROUND_NAMES)
    world = World(0, 1e6 + 1, 1.0, WIDTH, HEIGHT, [Scene(0.0, 1e6 + 1, background)], apps,
                  [Caption(caption, 0.0, 1e6)] if caption else [])
    truth = FrameTruth(world.render(t), t, [a.name for a in apps], caption, background, apps)
    assert len(world.visible_at(t)) == count
    return truth


def world_frame(world: World, t: float) -> FrameTruth:
    visible = world.visible_at(t)
    captions = world.captions_at(t)
    return FrameTruth(world.render(t), t, [a.name for a in visible], captions[-1].text if captions else None,
                      world.scene_at(t).background, visible)


# ---- dense labels for vision pretraining ---------------------------------------------------------------

def dense_labels(truth: FrameTruth, grid: int) -> dict[str, np.ndarray]:
    """Per-patch colour and shape of the object on top (or none), presence, count, caption classes, background."""
    import cv2

    colour = np.full(grid * grid, len(COLOURS), np.int64)  # "none" is the last class
    shape = np.full(grid * grid, len(SHAPES), np.int64)
    for app in truth.appearances:  # in drawing order, so the object on top wins its patches
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        draw_shape(mask, app.shape, (255,), app.position(truth.t), app.size)
        small = cv2.resize(mask.astype(np.float32) / 255.0, (grid, grid), interpolation=cv2.INTER_AREA).reshape(-1)
        colour[small >= 0.2] = list(COLOURS).index(app.colour)
        shape[small >= 0.2] = SHAPES.index(app.shape)
    presence = np.zeros(len(COMBOS), np.float32)
    for name in truth.objects:
        presence[COMBO_INDEX[name]] = 1.0
    text = truth.caption
    kind = 0 if text is None else (1 if text.isdigit() else 2)
    tens = int(text[0]) if kind == 1 else 10
    units = int(text[1]) if kind == 1 else 10
    word = WORDS.index(text) if kind == 2 else 10
    return {
        "patch_colour": colour, "patch_shape": shape, "presence": presence,
        "count": np.int64(min(len(truth.objects), 4)),
        "caption": np.array([kind, tens, units, word], np.int64),
        "background": np.int64(BACKGROUND_NAMES.index(truth.background)),
    }


def contrastive_text(rng: random.Random, truth: FrameTruth) -> tuple[str, str]:
    """A query text for the frame and the key that decides which frames match it."""
    if truth.objects:
        name = rng.choice(truth.objects)
        form = rng.random()
        if form < 0.6:
            text = name
        elif form < 0.8:
            text = f"{article(name)} {name}"
        else:
            text = rng.choice([f"When does the {name} first appear?", f"the {name} is on screen",
                               f"How many times does {article(name)} {name} appear?"])
        return text, "obj:" + name
    if truth.caption:
        kind = "number" if truth.caption.isdigit() else "word"
        return f"the {kind} {truth.caption}", "cap:" + truth.caption
    return f"an empty {truth.background} scene", "empty:" + truth.background


def frame_keys(truth: FrameTruth) -> set[str]:
    keys = {"obj:" + n for n in truth.objects}
    if truth.caption:
        keys.add("cap:" + truth.caption)
    if not truth.objects and not truth.caption:
        keys.add("empty:" + truth.background)
    return keys


# ---- single-frame tasks -----------------------------------------------------------------------------------

@dataclass
class Example:
    """A prompt (parts as the backends build them), its answer text, the task name and, for scoring, extras."""

    parts: list
    answer: str
    task: str
    options: list[str] | None = None
    extra: dict = field(default_factory=dict)


def negative_object(rng: random.Random, present: set[str]) -> str:
    """An absent colour x shape, usually a hard negative sharing the colour or shape of a present one."""
    if present and rng.random() < 0.8:
        colour, shape = rng.choice(sorted(present)).split()
        if rng.random() < 0.5:
            options = [f"{colour} {s}" for s in SHAPES]
        else:
            options = [f"{c} {shape}" for c in COLOURS]
        options = [o for o in options if o not in present]
        if options:
            return rng.choice(options)
    return rng.choice([c for c in COMBOS if c not in present])


def binding_negative(rng: random.Random, present: set[str]) -> str | None:
    """An absent colour x shape made of the colour of one visible object and the shape of another (a green
    diamond where a blue diamond and a green square are shown), or None when the frame has no such pair."""
    pairs = [f"{a.split()[0]} {b.split()[1]}" for a in present for b in present if a != b]
    options = sorted({p for p in pairs if p not in present})
    return rng.choice(options) if options else None


def object_statement(rng: random.Random, name: str) -> str:
    """Half the time the search's own relevance statement ("There is a red triangle."), else a paraphrase."""
    if rng.random() < 0.5:
        return relevance_statement(name)
    return rng.choice(STATEMENT_TEMPLATES).format(o=name)


YES_NO_KINDS = {"object": 7, "colour": 1, "shape": 1, "text": 1}


def yes_no_example(rng: random.Random, truth: FrameTruth, *, objects_only: bool = False,
                   kinds: dict[str, float] = YES_NO_KINDS) -> Example:
    """A yes/no statement about an object (mostly), a colour, a shape or the text, half true; `kinds` weighs
    the statement kinds."""
    present = truth.names
    kind = "object" if objects_only else rng.choices(list(kinds), list(kinds.values()))[0]
    want = rng.random() < 0.5
    if kind == "binding":  # half visible objects, half colour-of-one x shape-of-another (when the frame has one)
        crossed = None if want else binding_negative(rng, present)
        if crossed is not None:
            return Example(yes_no_parts(truth.frame, object_statement(rng, crossed)), "no", "yes_no",
                           extra={"kind": "binding"})
        kind = "object"
    if kind == "object" or (kind in ("colour", "shape") and not present and want):
        kind = "object"
        name = rng.choice(sorted(present)) if want and present else negative_object(rng, present)
        answer = name in present
        statement = object_statement(rng, name)
    elif kind == "colour":
        colours = {n.split()[0] for n in present}
        colour = rng.choice(sorted(colours)) if want and colours else rng.choice(
            [c for c in COLOURS if c not in colours])
        answer = colour in colours
        statement = f"a {colour} object is visible"
    elif kind == "shape":
        shapes = {n.split()[1] for n in present}
        shape = rng.choice(sorted(shapes)) if want and shapes else rng.choice([s for s in SHAPES if s not in shapes])
        answer = shape in shapes
        statement = f"{article(shape)} {shape} is visible"
    else:
        text = truth.caption if want and truth.caption else random_caption(rng)
        answer = text == truth.caption
        statement = f"the {'number' if text.isdigit() else 'word'} {text} is shown"
    return Example(yes_no_parts(truth.frame, statement), "yes" if answer else "no", "yes_no",
                   extra={"kind": kind})


def describe_example(truth: FrameTruth) -> Example:
    return Example(describe_parts([truth.frame]), description(truth.objects, truth.caption), "describe")


def read_example(truth: FrameTruth) -> Example:
    return Example(timestamped_frames([truth.frame]) + [READ_QUESTION], truth.caption or NO_TEXT, "read")


def sufficiency_parts(frames: list[Frame], question: str) -> list:
    """The reflection prompt exactly as the search scores it (`sufficiency_statement` through `yes_no_parts`)."""
    return yes_no_parts(frames, sufficiency_statement(question))


# ---- clips and multi-frame tasks ---------------------------------------------------------------------------

def random_clip(rng: random.Random, frames: int) -> list[FrameTruth]:
    """`frames` 1-fps-aligned frames of a fresh world at a random stride, from a random start."""
    world = generate_world(rng.randrange(10**9), WorldConfig(minutes=rng.choice([3.0, 4.0, 5.0]), fps=1.0))
    step = rng.choice([1, 2, 2, 3, 4, 5, 8])
    start = rng.randrange(0, max(1, int(world.duration - step * frames)))
    return [world_frame(world, float(start + i * step)) for i in range(frames)]


def runs(clip: list[FrameTruth], name: str) -> list[tuple[int, int]]:
    """Contiguous runs (first, last index) of frames showing `name`."""
    out, start = [], None
    for i, truth in enumerate(clip):
        if name in truth.names and start is None:
            start = i
        if name not in truth.names and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(clip) - 1))
    return out


def right_after(clip: list[FrameTruth], name: str) -> str | None:
    """The one object that newly appears first after `name` first shows up, if exactly one does."""
    seen = runs(clip, name)
    if not seen:
        return None
    for j in range(seen[0][0] + 1, len(clip)):
        new = clip[j].names - clip[j - 1].names - {name}
        if new:
            return new.pop() if len(new) == 1 else None
    return None


def _options(rng: random.Random, correct: str, pool: list[str]) -> tuple[list[str], str]:
    others = list(dict.fromkeys(p for p in pool if p != correct))
    rng.shuffle(others)
    choices = [correct] + others[:3]
    rng.shuffle(choices)
    return choices, "ABCD"[choices.index(correct)]


def clip_question(rng: random.Random, clip: list[FrameTruth], kind: str) -> Example | None:
    """One multi-frame question of `kind` (when, what_at, after, needle, count, choice), or None if the clip has
    none."""
    frames = [c.frame for c in clip]
    shown = sorted({n for c in clip for n in c.names})
    if kind == "when":
        names = [n for n in shown if len(runs(clip, n)) == 1]
        if not names:
            return None
        name = rng.choice(names)
        first = runs(clip, name)[0][0]
        return Example(build_prompt(frames, f"When does the {name} first appear?"), format_timestamp(clip[first].t),
                       "when", extra={"name": name})
    if kind == "what_at":
        i = rng.randrange(len(clip))
        question = f"What is shown at {format_timestamp(clip[i].t)}?"
        return Example(build_prompt(frames, question), description(clip[i].objects, clip[i].caption), "what_at")
    if kind == "after":
        pairs = [(n, right_after(clip, n)) for n in shown]
        pairs = [(n, m) for n, m in pairs if m]
        if not pairs:
            return None
        name, nxt = rng.choice(pairs)
        return Example(build_prompt(frames, f"Which object appears right after the {name}?"), nxt, "after")
    if kind == "needle":
        numbers = {n: {c.caption for c in clip if n in c.names and c.caption and c.caption.isdigit()} for n in shown}
        names = [n for n, found in numbers.items() if len(found) == 1]
        if not names:
            return None
        name = rng.choice(names)
        question = f"What number is shown while the {name} is on screen?"
        return Example(build_prompt(frames, question), numbers[name].pop(), "needle")
    if kind == "count":
        if shown and rng.random() < 0.85:
            name = rng.choice(shown)
        else:
            name = rng.choice([c for c in COMBOS if c not in shown])
        question = f"How many times does {article(name)} {name} appear?"
        return Example(build_prompt(frames, question), str(len(runs(clip, name))), "count")
    if kind == "choice":
        base = None
        for sub in rng.sample(["when", "after", "count", "needle"], 4):
            base = clip_question(rng, clip, sub)
            if base is not None:
                break
        if base is None:
            return None
        question = base.parts[-1]
        if base.task == "when":
            pool = [format_timestamp(c.t) for c in clip]
        elif base.task == "after":
            pool = shown + rng.sample(COMBOS, 6)
        elif base.task == "needle":
            pool = [str(n) for n in rng.sample(range(10, 100), 8)]
        else:
            pool = [str(k) for k in range(0, 6)]
        choices, letter = _options(rng, base.answer, pool)
        if len(choices) < 4:
            return None
        # Exactly as the search's final answer asks (`agentime.search.answer`).
        parts = build_prompt(frames, question, options=choices) + [ANSWER_INSTRUCTION]
        return Example(parts, letter, "choice", options=list("ABCD"), extra={"of": base.task})
    raise ValueError(f"unknown clip question kind {kind!r}")


def sufficiency_example(rng: random.Random, clip: list[FrameTruth]) -> Example:
    """Can a question about an object be answered from these frames? Yes exactly when the evidence is shown."""
    shown = sorted({n for c in clip for n in c.names})
    with_number = sorted({n for c in clip if c.caption and c.caption.isdigit() for n in c.names})
    want = rng.random() < 0.5
    form = rng.choice(["when", "number", "count"])
    if form == "number":
        pool = with_number if want else [c for c in COMBOS if c not in with_number]
        if not pool:
            pool, want = [c for c in COMBOS if c not in with_number], False
        name = rng.choice(pool)
        question = f"What number is shown while the {name} is on screen?"
        answer = name in with_number
    else:
        pool = shown if want and shown else [c for c in COMBOS if c not in shown]
        name = rng.choice(pool)
        question = (f"When does the {name} first appear?" if form == "when"
                    else f"How many times does {article(name)} {name} appear?")
        answer = name in shown
    return Example(sufficiency_parts([c.frame for c in clip], question), "yes" if answer else "no", "sufficiency")


CLIP_KINDS = ("when", "what_at", "after", "needle", "count", "choice")


def clip_example(rng: random.Random, frames: int, kinds=CLIP_KINDS) -> Example:
    """A multi-frame question over a fresh clip; retries until the clip supports one."""
    while True:
        clip = random_clip(rng, frames)
        example = clip_question(rng, clip, rng.choice(kinds))
        if example is not None:
            return example


# ---- tokenizer corpus ---------------------------------------------------------------------------------------

def corpus_lines(seed: int = 0, count: int = 4000) -> list[str]:
    """Text of prompts and answers (no images) for training the tokenizer."""
    rng = random.Random(seed)
    lines = ["<|im_start|>user\n", "<|im_start|>assistant\n", YES_NO_INSTRUCTION, READ_QUESTION,
             SUFFICIENCY_INSTRUCTION, LETTER_INSTRUCTION, describe_parts([])[0], "yes", "no", NOTHING, NO_TEXT]
    lines += COMBOS + list(WORDS) + BACKGROUND_NAMES
    for _ in range(count):
        name = rng.choice(COMBOS)
        lines += [t.format(o=name) for t in STATEMENT_TEMPLATES]
        lines += [f"When does the {name} first appear?", f"Which object appears right after the {name}?",
                  f"How many times does {article(name)} {name} appear?",
                  f"What number is shown while the {name} is on screen?", f"the {name} is on screen",
                  f"What is shown at {format_timestamp(rng.uniform(0, 7200))}?",
                  description(rng.sample(COMBOS, rng.randint(0, 3)), random_caption(rng)),
                  f"Statement: a {name.split()[0]} object is visible", f"the number {rng.randint(10, 99)} is shown",
                  f"the word {rng.choice(WORDS)} is shown", f"an empty {rng.choice(BACKGROUND_NAMES)} scene",
                  "A. x\nB. y\nC. z\nD. w", f"Question: {name}"]
    return lines
