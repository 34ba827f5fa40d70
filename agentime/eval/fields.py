"""Checks and conversions shared by the task readers: record fields, option letters, answer letters.

Every failure is an `AnnotationError` naming the file, the first bad record and what was expected. No
reader logic here: which fields a benchmark has is each reader's business.
"""

from __future__ import annotations

import re
from pathlib import Path

from agentime.eval.items import AnnotationError
from agentime.vocabulary import OPTION_LETTERS

PAREN_OPTION = re.compile(r"^\s*\(([A-J])\)\s*(.*)$")
DOT_OPTION = re.compile(r"^\s*([A-J])[.)]\s*(.*)$")


def fail(path: Path, task: str, where: str, problem: str, expected: str) -> AnnotationError:
    return AnnotationError(f"{path.name} is not a {task} annotation file: record {where} {problem}; "
                           f"expected {expected}")


def check(record, fields: tuple[str, ...], path: Path, task: str, where: str) -> dict:
    if not isinstance(record, dict):
        raise fail(path, task, where, f"is a {type(record).__name__}, not an object", f"objects with {fields}")
    missing = [f for f in fields if f not in record]
    if missing:
        raise fail(path, task, where, f"has no field {', '.join(map(repr, missing))}", f"fields {fields}")
    return record


def as_list(data, path: Path, task: str) -> list:
    """The records of a file: a list as it is; one object (a JSON-lines file of one line) as one record."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise AnnotationError(f"{path.name} is not a {task} annotation file: expected a list of records, "
                              f"got a {type(data).__name__}")
    if not data:
        raise AnnotationError(f"{path.name} holds no records")
    return data


def lettered(options, path: Path, task: str, where: str) -> tuple[str, ...]:
    """Options as `"A. text"`; accepts texts with or without their letter prefix."""
    if not isinstance(options, (list, tuple)) or not 2 <= len(options) <= len(OPTION_LETTERS):
        raise fail(path, task, where, "has no usable options", "a list of 2-10 option strings")
    out = []
    for i, option in enumerate(options):
        text = str(option).strip()
        match = DOT_OPTION.match(text)
        out.append(f"{OPTION_LETTERS[i]}. {match.group(2) if match and match.group(1) == OPTION_LETTERS[i] else text}")
    return tuple(out)


def letter(answer, count: int, path: Path, task: str, where: str) -> str:
    text = str(answer).strip()
    if len(text) >= 1 and text[0] in OPTION_LETTERS[:count] and (len(text) == 1 or not text[1].isalnum()):
        return text[0]
    raise fail(path, task, where, f"has answer {answer!r}", f"a letter A-{OPTION_LETTERS[count - 1]}")


def split_options(text: str, pattern: re.Pattern) -> tuple[str, tuple[str, ...]]:
    """A question with its options on their own lines -> (stem, ("A. ...", ...))."""
    stem, options = [], []
    for line in text.splitlines():
        match = pattern.match(line)
        if match and match.group(1) == OPTION_LETTERS[len(options)]:
            options.append(f"{match.group(1)}. {match.group(2).strip()}")
        elif options:
            options[-1] += " " + line.strip()
        else:
            stem.append(line)
    return "\n".join(stem).strip(), tuple(options)
