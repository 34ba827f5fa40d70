"""What the search asks the models: relevance statements, the sufficiency (reflection) statement, the answer
instruction and answer statements. One place, so strategies, the answer step, training and evaluation use the
same words (the timestamped frame prompt itself is built by `agentime.video.tafr`).

`look_for(question)` pulls the things a question is about ("the red triangle" -> "red triangle"); each
becomes a statement scored per frame. Questions with no such phrase are scored as a whole.
"""

from __future__ import annotations

import re

_PHRASE_RE = re.compile(r"\b(?:the|a|an)\s+((?:[a-z]+\s+)?[a-z]+?)(?=\s+(?:is|are|was|were|first|appear|appears|"
                        r"on|in|at|shown|show|visible|enter|enters|leave|leaves|do|does)\b|[?.,]|$)",
                        re.IGNORECASE)
_STOP = {"number", "time", "times", "video", "frame", "frames", "object", "moment", "answer", "question", "screen",
         "narrator", "speaker", "voice"}  # who speaks is heard, not seen: no frame statement for them

ANSWER_INSTRUCTION = "Answer with the option's letter."
READ_INSTRUCTION = "What text is shown on screen?"  # after one frame: the model reads the on-screen text


def look_for(question: str) -> list[str]:
    """Noun phrases a question asks about, most specific first; empty when none is found."""
    phrases = []
    for match in _PHRASE_RE.finditer(question or ""):
        phrase = match.group(1).strip().lower()
        if phrase.split()[-1] not in _STOP and phrase not in phrases:
            phrases.append(phrase)
    return phrases


def answer_statement(question: str, option: str) -> str:
    """The statement whose likelihood ranks an option when the target names none: "the answer is <option>"."""
    return f"The answer to the question '{question}' is: {option}."


def relevance_statement(phrase: str) -> str:
    """The yes/no statement scored per frame for one looked-for phrase."""
    article = "an" if phrase[:1].lower() in "aeiou" else "a"
    return f"There is {article} {phrase}."


def number_statement(number: str) -> str:
    """The yes/no statement that a number is shown on screen."""
    return f"the number {number} is shown"


def question_relevance_statement(question: str) -> str:
    """Fallback statement when no phrase can be extracted: the frame helps answer the question."""
    return f"This frame helps answer the question: {question.strip()}"


def sufficiency_statement(question: str) -> str:
    """The reflection: can the question be answered from the frames shown?"""
    return f"The question can be answered from these frames: {question.strip()}"
