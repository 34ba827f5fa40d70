"""How an answer reads on the page: the answer panel, the chat turn, the demo-model notice, "How it searched"
and the evidence gallery's captions, in plain words. The panel and the chat turn are built from the same
text, so they always show the same answer. Pure functions of an `Answer`; no Gradio.
"""

from __future__ import annotations

from agentime.search.grounding import is_unsure as says_unsure

from .timeline import clock

# Answers whose search confidence is below this are shown as unsure. Chosen with
# `python -m pipelines.calibrate_unsure` (the README gives the command and what it measured).
UNSURE_BELOW = 0.9

STRATEGY_WORDS = {
    "uniform": "looked at evenly spaced frames",
    "timesearch": "looked over the whole video, then zoomed into the likeliest parts (TimeSearch)",
    "spectemp": "a small draft model scanned parts of the video and the main model checked its picks (SpecTemp)",
    "exhaustive": "looked at every sampled frame",
    "auto": "chose a search method for the video's length",
}
STRATEGY_CHOICES = [
    ("Automatic (recommended)", "auto"),
    ("Coarse to fine: skim, then zoom in", "timesearch"),
    ("Draft and check: a small model scans, the main model verifies", "spectemp"),
    ("Evenly spaced frames (fastest)", "uniform"),
    ("Every frame (slowest)", "exhaustive"),
]

DEMO_NOTICE = ("**These are the built-in demo models.** They only understand the generated demo world (coloured "
               "shapes and numbers on a plain background); on other videos their answers mean nothing. To use a "
               "real model, start the server with `--target hf:/path/to/model` (a local vision-language model) "
               "or `--target openai:http://host:8000/v1#model` (vLLM, Ollama, ...){extra}; the README shows how.")


def demo_notice(can_choose: bool) -> str:
    return DEMO_NOTICE.format(extra=", or choose one under *Models*" if can_choose else "")


def is_unsure(answer) -> bool:
    return float(answer.confidence) < UNSURE_BELOW


def answer_label(answer) -> str:
    """The answer itself: "B. 96", or the free text."""
    if answer.choice:
        return f"{answer.choice}. {answer.text}" if answer.text else answer.choice
    return answer.text or "(no answer)"


def headline(answer) -> str:
    """One line shared by the answer panel and the chat; an answer that already says it is unsure is shown as
    it is, not wrapped again."""
    label = answer_label(answer)
    if says_unsure(label):
        return label
    if is_unsure(answer):
        return f"Unsure — best guess: {label}"
    return f"Answer: {label}"


def frames_sentence(answer) -> str:
    stats = answer.stats
    target, draft = int(stats.get("target_frames", 0)), int(stats.get("draft_frames", 0))
    if not target and not draft:
        if answer.trace and answer.trace[-1].get("model") == "transcript":
            return "answered from the transcript, without looking at a frame"
        return "answered from what earlier searches found, without looking at the video again"
    closely = f"looked at {target} frame{'s' if target != 1 else ''} closely"
    return closely + (f" and skimmed {draft} with the small model" if draft else "")


def moments(answer) -> str:
    return ", ".join(f"{clock(a)}–{clock(b)}" for a, b in answer.spans) or "none found"


def answer_markdown(answer, video_name: str, *, reused_from: str | None = None) -> str:
    lines = [f"About **{video_name}**: “{answer.question}”", "", f"## {headline(answer)}", ""]
    if is_unsure(answer) or says_unsure(answer_label(answer)):
        lines += [f"The search is not sure of this answer ({answer.confidence:.0%} confident); check the "
                  "evidence frames below.", ""]
    else:
        lines += [f"**How sure:** {answer.confidence:.0%}  "]
    lines += [f"**Moments:** {moments(answer)}  ",
              f"**Work:** {frames_sentence(answer)}"
              + (f" ({answer.stats.get('seconds', 0.0):.1f} s)" if answer.stats.get("target_frames") else "")]
    if reused_from:
        lines += ["", f"*Answered from what was found for “{reused_from}”.*"]
    return "\n".join(lines)


def chat_reply(answer, *, reused_from: str | None = None) -> str:
    tail = f"(from what was found for “{reused_from}”)" if reused_from else f"({frames_sentence(answer)})"
    return f"{headline(answer)} {tail}"


def search_details(answer, reason: str, models: dict) -> str:
    stats = answer.stats
    words = STRATEGY_WORDS.get(answer.strategy, answer.strategy)
    rows = [f"- **Method:** {words}.",
            f"- **Whether to search again:** {reason}",
            f"- **Main model** ({models.get('target') or 'none'}): {int(stats.get('target_frames', 0))} frames in "
            f"{int(stats.get('target_calls', 0))} calls",
            f"- **Small draft model** ({models.get('draft') or 'none'}): {int(stats.get('draft_frames', 0))} frames "
            f"in {int(stats.get('draft_calls', 0))} calls",
            f"- **Model time:** {float(stats.get('seconds', 0.0)):.1f} s; search confidence "
            f"{answer.confidence:.2f} (shown as unsure below {UNSURE_BELOW:.2f})",
            f"- **Search steps:** {len(answer.trace)}"]
    return "\n".join(rows)


def _gallery_evidence(answer) -> list:
    """The evidence the gallery shows, in its order: the frames the search scored, best first, then context."""
    scored = sorted((e for e in answer.evidence if e.frame is not None and e.score is not None),
                    key=lambda e: -float(e.score))
    return scored + [e for e in answer.evidence if e.frame is not None and e.score is None]


def gallery_items(answer) -> list:
    """(image, caption) pairs: the frames the search scored, best first, then the frames shown for context."""
    return [(e.frame.image, f"{clock(e.t)} · relevance {float(e.score):.0%} · {e.reason}" if e.score is not None
             else f"{clock(e.t)} · context: {e.reason}") for e in _gallery_evidence(answer)]


def gallery_times(answer) -> list[float]:
    """The times of `gallery_items(answer)`, in the same order (selecting a frame seeks there)."""
    return [e.t for e in _gallery_evidence(answer)]


def transcript_lines(answer) -> list[str]:
    """The transcript lines that support the answer, each with when it is said, in time order (empty when
    there are none); the page lists them as choices, and choosing one plays the video there."""
    return [f"{clock(e.t)}–{clock(e.end)} “{e.text}”" for e in answer.evidence if e.source == "speech"]
