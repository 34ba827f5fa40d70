"""Questions with exact ground truth about a synthetic world (see `synthetic_world.py`).

Four task types, each asked open-ended (`answer_text`) and as 4-option multiple choice (`options`,
`answer` letter): grounding ("When does the yellow star first appear?"), needle ("What number is shown while
the red triangle is on screen?"), order ("Which object appears right after the purple circle?") and counting
("How many times does a green square appear?"). Records follow Video-MME/LVBench field names; the schema is
documented in `datasets/README.md`. This module reads a World; it never renders or encodes video.
"""

from __future__ import annotations

import random

from pipelines.synthetic.world import World

LETTERS = "ABCD"
FAR_ROOM_SECONDS = 30.0  # room far from the answer below which a grounding question's wrong spans come nearer


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _multiple_choice(rng: random.Random, correct: str, distractors: list[str]) -> tuple[list[str], str]:
    pool = list(dict.fromkeys(d for d in distractors if d != correct))
    rng.shuffle(pool)
    choices = [correct, *pool[:3]]
    if len(choices) < 4:
        raise ValueError(f"not enough distinct distractors for {correct!r}")
    rng.shuffle(choices)
    return [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)], LETTERS[choices.index(correct)]


def _article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def _span_text(span: list[float]) -> str:
    return f"from {_clock(span[0])} to {_clock(span[1])}"


def _other_spans(rng: random.Random, span: list[float], duration: float, count: int = 6) -> list[str]:
    """`count` wrong answers to "when does X first appear": spans as long as `span`, well away from it.

    A long video has room far from the answer (more than twice its length plus 30 s): they are drawn there
    as they always were, so the benchmarks generated before stay the same. A short one (a minute or two)
    may have no such room, and drawing until one lands there never ends: its wrong answers are the
    whole-second starts that do not overlap the answer, or, failing those, any other start.
    """
    length = span[1] - span[0]
    latest = max(0.0, duration - length)
    gap = 2 * length + 30
    room = max(0.0, min(latest, span[0] - gap)) + max(0.0, latest - max(0.0, span[0] + gap))
    if room >= FAR_ROOM_SECONDS:
        others = []
        while len(others) < count:
            start = rng.uniform(0, latest)
            if abs(start - span[0]) > gap:
                others.append(_span_text([start, start + length]))
        return others
    answer = _span_text(span)
    starts = range(int(latest) + 1)
    texts = [_span_text([s, s + length]) for s in starts if abs(s - span[0]) > length]
    texts = list(dict.fromkeys(texts or [_span_text([s, s + length]) for s in starts]))
    texts = [t for t in texts if t != answer]
    rng.shuffle(texts)
    return texts[:count]


def make_questions(world: World, video_id: str, seed: int) -> list[dict]:
    """All questions about `world`, deterministic for (world, seed)."""
    rng = random.Random(seed)
    names = sorted({a.name for a in world.appearances})
    numbers_elsewhere = sorted({c.text for c in world.captions if c.text.isdigit()})
    questions: list[dict] = []

    def add(task_type: str, question: str, answer_text: str, spans: list[list[float]], distractors: list[str]):
        options, letter = _multiple_choice(rng, answer_text, distractors)
        questions.append({
            "video_id": video_id, "question_id": f"{video_id}-{len(questions):03d}", "task_type": task_type,
            "question": question, "options": options, "answer": letter, "answer_text": answer_text,
            "answer_spans": spans, "duration": world.duration,
        })

    for event in world.events["grounding"]:
        span = event["span"]
        others = _other_spans(rng, span, world.duration)
        add("grounding", f"When does the {event['object']} first appear?", _span_text(span), [span], others)

    for event in world.events["needle"]:
        fillers = [str(n) for n in rng.sample(range(10, 100), 8)]
        add("needle", f"What number is shown while the {event['object']} is on screen?", event["text"],
            [event["span"]], [n for n in numbers_elsewhere if n != event["text"]] + fillers)

    for event in world.events["order"]:
        first, second = event["object"], event["next"]
        first_shape, first_colour = first.split()[1], first.split()[0]
        similar = [n for n in names if n not in (first, second) and (n.split()[0] == first_colour or n.split()[1] == first_shape)]
        add("order", f"Which object appears right after the {first}?", second, [event["span"]],
            similar + [n for n in names if n not in (first, second)])

    for event in world.events["count"]:
        count = event["count"]
        add("counting", f"How many times does {_article(event['object'])} {event['object']} appear?", str(count), event["spans"],
            [str(n) for n in range(max(1, count - 3), count + 5) if n != count])

    return questions
