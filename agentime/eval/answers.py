"""How each benchmark's official script reads the answer from a model's reply: letter rules and yes/no.

Pure functions over text (and the item's options), as each script does it; `rules.py` names them in words and
each task's record (`tasks.TASKS`) says which one it uses. No scoring or figures here (`metrics.py`).
"""

from __future__ import annotations

import re

from agentime.eval.tempcompass import caption_matching_index

_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
             "The correct option is", "Best answer:", "Best option:")


def extract_letter(response: str, letters: str = "ABCD") -> str:
    """The answer letter in a reply, by Video-MME's rule; "" when none can be read."""
    text = (response or "").strip()
    for prefix in _PREFIXES:
        text = text.replace(prefix, "")
    pattern = f"[{letters}]"
    if len(text.split()) > 10 and not re.search(pattern, text):
        return ""
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def tempcompass_letter(prediction: str) -> str:
    """TempCompass multi-choice matching: a bare letter, or a reply starting with `X.` or `X)`."""
    text = (prediction or "").strip()
    if text in ("A", "B", "C", "D"):
        return text
    for sep in (".", ")"):
        if len(text) >= 2 and text[0] in "ABCD" and text[1] == sep:
            return text[0]
    return ""


def yes_no(prediction: str) -> str:
    """"yes" or "no" when the reply starts with one of them, else ""."""
    words = re.findall(r"[a-z]+", (prediction or "").lower())
    return words[0] if words and words[0] in ("yes", "no") else ""


def lvbench_letter(prediction: str, letters: str = "ABCD") -> str:
    """LVBench's polish_answer: the text before ")", after "(", its first word's first character."""
    text = (prediction or "").strip().split(")")[0].strip()
    if "(" in text:
        text = text.split("(", 1)[1].strip()
    text = text.split(" ")[0]
    return text[0] if text and text[0] in letters else ""


def videomme_answer(item, prediction: str, letters: str) -> str:
    """Video-MME's letter rule over the item's letters (also LongVideoBench's, EgoSchema's, ours)."""
    return extract_letter(prediction, letters)


def lvbench_answer(item, prediction: str, letters: str) -> str:
    return lvbench_letter(prediction, letters)


def tempcompass_answer(item, prediction: str, letters: str) -> str:
    """Caption matching names an option line ("Sentence A: ..."); multi-choice takes TempCompass's letter rule."""
    if item.meta.get("labels"):
        labels = item.meta["labels"]
        index = caption_matching_index(prediction, labels, [o.split(". ", 1)[1] for o in item.options])
        return letters[index] if index is not None else ""
    return tempcompass_letter(prediction)
