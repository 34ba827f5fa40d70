"""A narration track for a synthetic world, and the questions that need it.

`make_narration(world, seed)` writes what a narrator says and when: facts only said, never shown (a ticket
price, a city, a guest's name: `speech` questions), catchphrases said while exactly one object is on screen
(`cross_modal` questions: "What is on screen when the narrator says 'there it is'?"), and distractor lines
about things never shown. The world itself is not changed, so its visual questions stay the same.
`write_srt` saves the cues as SubRip (pysubs2); `mux_subtitles` copies a video into an MKV with the SRT as a
subtitle stream (Debian's ffmpeg). This module knows nothing about models.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.synthetic.questions import LETTERS
from pipelines.synthetic.world import World

CUE_SECONDS = 3.0
CITIES = ("Lisbon", "Oslo", "Cairo", "Lima", "Dublin", "Kyoto", "Quebec", "Nairobi", "Prague", "Havana")
GUESTS = ("Maria Lopez", "Tom Becker", "Aiko Tanaka", "Omar Haddad", "Lena Novak", "Ravi Menon",
          "Grace Obi", "Pablo Ortiz")
CATCHPHRASES = ("there it is", "look at this one", "here it comes", "watch closely now", "what a sight",
                "keep your eyes on this", "right on cue", "do not blink")
FILLERS = ("A silver kite drifts over the quiet hills.", "The bakery on the corner closes early on Sundays.",
           "Some people prefer tea in the afternoon.", "The old bridge was repainted last spring.",
           "Rain is expected later in the week.", "The library has a new reading room.",
           "Trains to the coast leave every hour.", "A copper bell rings at the harbour at noon.",
           "The garden hedges were trimmed this morning.", "Our team thanks everyone for watching.",
           "The museum shop sells postcards and maps.", "Wind turbines turn slowly on the ridge.")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _free(busy: list[tuple[float, float]], start: float, end: float, gap: float = 1.0) -> bool:
    return all(end + gap <= a or start >= b + gap for a, b in busy)


def _place(rng: random.Random, busy: list[tuple[float, float]], low: float, high: float) -> float | None:
    for _ in range(200):
        start = rng.uniform(low, max(low, high - CUE_SECONDS))
        if _free(busy, start, start + CUE_SECONDS):
            return round(start, 3)
    return None


def _alone_windows(world: World, rng: random.Random) -> list[tuple[float, str]]:
    """Starts of CUE_SECONDS windows during which exactly one object (a common one) is on screen, shuffled."""
    found = []
    for appearance in world.appearances:
        if appearance.role != "common" or appearance.end - appearance.start < CUE_SECONDS + 1:
            continue
        start = round(appearance.start + 0.5, 3)
        checks = [start + i * 0.25 for i in range(int(CUE_SECONDS * 4) + 1)]
        if all([a.name for a in world.visible_at(t)] == [appearance.name] for t in checks):
            found.append((start, appearance.name))
    rng.shuffle(found)
    return found


def make_narration(world: World, video_id: str, seed: int, *, facts: int = 2, cross: int = 2,
                   fillers_per_minute: float = 3.0) -> tuple[list[Cue], list[dict]]:
    """Cues (in time order) and the `speech` and `cross_modal` questions they answer."""
    rng = random.Random(seed * 7919 + 17)
    names = sorted({a.name for a in world.appearances})
    cues: list[Cue] = []
    busy: list[tuple[float, float]] = []
    questions: list[dict] = []

    def add_question(kind: str, question: str, correct: str, others: list[str], span: list[float]) -> None:
        pool = [o for o in dict.fromkeys(others) if o != correct]
        rng.shuffle(pool)
        choices = [correct, *pool[:3]]
        rng.shuffle(choices)
        questions.append({"video_id": video_id, "question_id": f"{video_id}-s{len(questions):02d}",
                          "task_type": kind, "question": question,
                          "options": [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)],
                          "answer": LETTERS[choices.index(correct)], "answer_text": correct,
                          "answer_spans": [span], "duration": world.duration})

    def say(start: float, text: str) -> list[float]:
        cues.append(Cue(start, round(start + CUE_SECONDS, 3), text))
        busy.append((start, start + CUE_SECONDS))
        return [start, round(start + CUE_SECONDS, 3)]

    for start, name in _alone_windows(world, rng)[:cross]:
        phrase = CATCHPHRASES[len([q for q in questions if q["task_type"] == "cross_modal"]) % len(CATCHPHRASES)]
        span = say(start, f"And {phrase}!")
        add_question("cross_modal", f"What is on screen when the narrator says '{phrase}'?", name,
                     [n for n in names if n != name], span)

    templates = [
        lambda: (lambda n: (f"Today's ticket price is {n} dollars.", "Which ticket price did the narrator announce?",
                            f"{n} dollars", [f"{m} dollars" for m in rng.sample(range(12, 99), 8) if m != n]))(
            rng.randint(12, 98)),
        lambda: (lambda c: (f"Our next trip goes to {c}.", "Which city did the narrator say the next trip goes to?",
                            c, list(CITIES)))(rng.choice(CITIES)),
        lambda: (lambda g: (f"Please welcome our guest, {g}.", "Which guest did the narrator welcome?", g,
                            list(GUESTS)))(rng.choice(GUESTS)),
    ]
    for template in rng.sample(templates, min(facts, len(templates))):
        text, question, correct, others = template()
        start = _place(rng, busy, 5.0, world.duration - 5.0)
        if start is not None:
            add_question("speech", question, correct, others, say(start, text))

    for _ in range(int(fillers_per_minute * world.duration / 60)):
        start = _place(rng, busy, 0.0, world.duration)
        if start is not None:
            say(start, rng.choice(FILLERS))
    return sorted(cues, key=lambda c: c.start), questions


def write_srt(cues: list[Cue], path: str | Path) -> Path:
    """The cues as a UTF-8 SubRip file, written atomically (left alone when it already holds them, so a
    rerun keeps its time stamp and the MKV made from it)."""
    import pysubs2

    from agentime.video.cache import atomic_write_bytes

    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.append(pysubs2.SSAEvent(start=int(round(cue.start * 1000)), end=int(round(cue.end * 1000)), text=cue.text))
    path = Path(path)
    data = subs.to_string("srt").encode("utf-8")
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write_bytes(path, data)
    return path


def mux_subtitles(video: str | Path, subtitles: str | Path, out: str | Path, language: str = "eng") -> Path:
    """`video` copied (no re-encoding) into an MKV with `subtitles` as a subtitle stream; needs ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to write the MKV copy (apt-get install ffmpeg)")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial.mkv")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-i", str(subtitles), "-map", "0", "-map", "1",
                    "-c", "copy", "-c:s", "srt", "-metadata:s:s:0", f"language={language}", str(tmp)], check=True)
    tmp.replace(out)
    return out
