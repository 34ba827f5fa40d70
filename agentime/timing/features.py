"""Turn a `Conversation` into the texts and context cues the timing policy scores.

Two kinds of evidence: the texts the sentence encoder embeds (what the tools and system prompt say, the
user's latest message, the last tool result, its JSON punctuation dropped and cut short: every new token costs
encoder time at each decision) and cheap cues read from the conversation's structure and
wording (time since the last tool result, whether that call failed, whether the user's words are
already in the conversation, whether the item the user asks about appears in the conversation and in the
last tool result, whether the assistant just proposed an action). Scoring lives in
`policy.py`; this module never loads a model.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass

import numpy as np

from agentime.errors import TimingError
from agentime.timing.conversation import TOOL_RESULT_ROLES, Conversation, parse_time

NO_RESULT_LOG_ELAPSED = 8.0  # log10 seconds (about 3 years): "never fetched" reads as very stale
MAX_TEXT_CHARS = 600
# the user's message and the tool result are new at every decision, so they are what a decision's encoder pass
# costs; their first words carry what the features need (the item, the fields and their values)
MAX_USER_CHARS = 240
MAX_RESULT_CHARS = 160
JSON_PUNCTUATION = re.compile(r"[{}\[\]\"',:]+")

STOPWORDS = frozenset(
    """the and for are but not you your yours with this that what which who whom how why when where can could
    would should will shall may might must have has had does did doing done was were been being from into onto
    about above below over under again then than there here they them their our ours its it's i'm i've me my
    mine his her hers she him also just only any all some each more most such very too now still yet let lets
    please tell give show know want need like get got make made see look find check any anything something one
    ones way much many well okay ok thanks thank yes yeah sure right""".split()
)
FAILURE_PATTERN = re.compile(
    r"\b(error|errors|failed|failure|fail|unavailable|timed out|timeout|time-out|not found|could not|couldn't|"
    r"unable|exception|denied|invalid|refused|rejected|unreachable|try again later|503|500|429)\b",
    re.IGNORECASE,
)
APOLOGY_PATTERN = re.compile(r"\b(sorry|unfortunately|couldn't|could not|unable|failed|wasn't able)\b", re.I)
PROPOSAL_PATTERN = re.compile(
    r"\b(would you like|shall i|should i|do you want|want me to|would you want|ready to|like me to|"
    r"confirm|proceed|go ahead)\b",
    re.IGNORECASE,
)
RECHECK_PATTERN = re.compile(
    r"\b(again|refresh|re-?check|re-?fetch|re-?run|re-?try|once more|up[- ]to[- ]date|anything new|any update|"
    r"any luck|has it changed|(?:moved|changed) since|please look|look again|look it up|one more time|make sure|"
    r"double[- ]check|verify|fresh)\b",
    re.IGNORECASE,
)
CONFIRM_PATTERN = re.compile(
    r"^\W*(yes|yep|yeah|sure|ok(ay)?|please do|go ahead|do it|confirm(ed)?|proceed|absolutely|that would be great)\b",
    re.IGNORECASE,
)
TOKEN_PATTERN = re.compile(r"[A-Za-z](?:[A-Za-z'\-]*-\d[A-Za-z\d]*|[A-Za-z'\-]+)|\d+(?:[.,:]\d+)*")  # "EU-1" is one
# words that say how fast information changes. They are read from three places: what the tool called last
# says about itself (name, description, parameter names and descriptions), the tool's own result (its keys and
# words: "current_highest_bid", "as_of", "live") and the user's latest message ("right now", "still"); the
# policy learns how much each moves the timescale per place (training may leave a place unweighted).
# Explicit words carry over to tools and domains never seen in training, where embeddings of a new topic blur.
TIME_WORDS = {
    "live": r"live|real[- ]?time|streams?|streaming|telemetry|in progress|in flight|being counted|ongoing|"
            r"in play|tick(?:s|ing)?",
    "right_now": r"right now|currently|at the moment|at this moment|as of|running|still",
    "current": r"current|now|present|instant|instantaneous",
    "latest": r"latest|recent|new|unread|last|updated?|refresh(?:ed)?",
    "seconds": r"seconds?|secs?|ms|milliseconds?|per second|every second|by the second|minutes?|mins?|per minute",
    "daily": r"today'?s?|tonight|daily|last night|this morning|end-of-day|hourly|hours?",
    "weekly": r"week|weekly",
    "monthly": r"month|monthly|month-to-date|quarterly|quarter",
    "yearly": r"year|annual|yearly|season|semester",
    "rules": r"polic(?:y|ies)|rules?|requirements?|regulations?|guidelines?|allowances?|codes?|schedules?|"
             r"hours|catalog(?:ue)?|standard|recommended|statutes?|terms|eligibility|procedures?",
    "static": r"properties|definitions?|historical|history|constants?|facts|conver(?:t|sion)|recipes?|"
              r"translat(?:e|ion)|elements?|deeds?|biography|founded|born|capital",
    "forecast": r"forecasts?|predicted|predictions?|upcoming|next|expected",
    "price": r"prices?|(?<!heart )rates?|fares?|quotes?|bids?|asks?|yields?|odds|premiums?|spreads?",
    "market": r"markets?|exchanges?|trading|trades?|tickers?|stocks?|shares|crypto(?:currency)?|coins?|"
              r"auctions?|order books?|futures|spot",
    "score": r"scores?|scoreboard|leaderboard|points?|goals?|innings|quarter|half[- ]?time|game clock|laps?|match",
    "reading": r"readings?|reads?|sensors?|monitors?|monitoring|meters?|gauges?|probes?|measure(?:s|d|ments?)?|"
               r"temperature|pressure|humidity|speed|rpm|heart rate|vitals?",
    "level": r"levels?|load|utili[sz]ation|usage|capacity|throughput|traffic|occupancy|fill|charge|battery|"
             r"bandwidth|latency|demand",
    "queue": r"queues?|wait(?:ing)?(?: times?)?|lines?|backlog|crowd(?:ed|s)?|busy",
    "position": r"positions?|locations?|gps|coordinates|tracking|tracker|eta|arrival|heading|altitude|whereabouts",
    "availability": r"available|availability|free|spots|slots|seats|stock|in stock|left|remaining|vacanc(?:y|ies)",
    "status": r"status|stage|progress|state|phase",
    "published": r"published|official|reported|registered|registration|records?|advertised|posted|listed",
}
TIME_WORD_PATTERNS = tuple(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE) for pattern in TIME_WORDS.values())
TIME_WORD_SOURCES = ("tool", "result", "user")  # where words are read, in `ConversationCues.time_words` order
# a result that carries its own timestamps says how old its data already was when fetched ("as_of" seconds
# before the call for a live feed, an "effective_date" months before for a published rate)
RESULT_AGE_FEATURES = ("result_dated", "result_data_age_log10")
# the shape of the values a result reports: a reading in a unit of measurement ("62 F", "80%", "1700 MW",
# "unit": "mph") or an amount of money ("$61,000", "3200 USD", "currency": "gold") is a quantity that moves,
# whatever the topic; the words around it are not read here (see `TIME_WORDS` for those)
RESULT_VALUE_FEATURES = ("result_measured_value", "result_money_value")
MEASURE_UNITS = (
    r"%|°\s?[CF]?|[CF]|mph|km/h|kph|knots|m/s|[kMG]?W|[kMG]Wh|V|Hz|rpm|bpm|psi|bar|hPa|mbar|dB|ppm|mg/dL|"
    r"[kMG]bps|req/s|req/min|units/min|ops/s"
)
MEASURED_VALUE_PATTERN = re.compile(
    rf"\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:{MEASURE_UNITS})(?![A-Za-z])|[\"']unit[\"']\s*:\s*[\"'][^\"']{{1,12}}[\"']"
)
CURRENCY_CODES = r"USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|BTC|ETH|USDT"
MONEY_VALUE_PATTERN = re.compile(
    rf"[$€£¥₹₿]\s?\d|\d(?:\.\d+)?\s?(?:{CURRENCY_CODES})\b|\b(?:{CURRENCY_CODES})\s?\d|[\"']currency[\"']\s*:"
)
FRESHNESS_CUE_COUNT = (
    len(TIME_WORDS) * len(TIME_WORD_SOURCES) + len(RESULT_AGE_FEATURES) + len(RESULT_VALUE_FEATURES)
)
DATE_PATTERN = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?\b"
)
FUTURE_SLACK_SECONDS = 300.0  # a stamp this far after the result still counts (clocks differ); later ones are plans

SCALAR_FEATURES = (
    "log10_elapsed",
    "no_prior_result",
    "result_failed",
    "assistant_apologised",
    "assistant_proposed_action",
    "word_overlap",
    "novel_names",
    "user_turns_since_result",
    "log_user_words",
    "user_asks_question",
    "sim_user_result",
    "overlap_user_answer",
    "sim_user_recheck",
    "sim_user_confirm",
    "sim_user_action",
    "sim_user_small_talk",
    "user_words_recheck",
    "user_words_confirm",  # only when the assistant proposed something
    "unseen_item_words",
    "item_words_in_result",
    "unseen_rare_words",
)
PROTOTYPE_NAMES = ("recheck", "confirm", "action", "small_talk")


@dataclass(frozen=True)
class ConversationTexts:
    """The texts the encoder embeds for one decision, in `as_list` order (`TEXT_COUNT` of them)."""

    tools: str
    user: str
    result: str

    def as_list(self) -> list[str]:
        return [self.tools, self.user, self.result]


TEXT_COUNT = 3


@dataclass(frozen=True)
class ConversationCues:
    """Everything read from the conversation without the encoder."""

    texts: ConversationTexts
    elapsed_seconds: float | None
    result_failed: bool
    assistant_apologised: bool
    assistant_proposed_action: bool
    word_overlap: float
    novel_names: int
    user_turns_since_result: int
    user_words: int
    user_asks_question: bool
    user_words_recheck: bool
    user_words_confirm: bool
    last_tool_name: str | None
    unseen_item_words: int
    item_words_in_result: float
    unseen_rare_words: int  # words never seen before that are not among the request words of training
    overlap_user_answer: float  # share of the user's content words found in the assistant's last answer
    # one per `TIME_WORDS` for each of `TIME_WORD_SOURCES` in that order, then `RESULT_AGE_FEATURES`, then
    # `RESULT_VALUE_FEATURES`
    time_words: tuple[float, ...]


def _clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text[:limit]


def result_text_for_encoder(result: str) -> str:
    """`[{"coin": "BTC", "price_usd": 61000}]` -> `coin BTC price usd 61000`: the same words in fewer tokens."""
    return _clip(JSON_PUNCTUATION.sub(" ", result.replace("_", " ")), MAX_RESULT_CHARS)


def _content_words(text: str) -> list[str]:
    return [w.lower() for w in TOKEN_PATTERN.findall(text) if len(w) >= 3 and w.lower() not in STOPWORDS]


@functools.lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Whole words of the sentence encoder's vocabulary (common English); empty if the package is missing."""
    try:
        from agentime.timing.encoder import bundled_encoder_path

        lines = (bundled_encoder_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    except (TimingError, OSError):
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and w.islower())


def words_of(text: str) -> set[str]:
    """Lower-case content words (three letters or more, no stopwords, no bare numbers)."""
    return {w for w in _tokens(text) if len(w) >= 3 and w not in STOPWORDS and not re.fullmatch(r"[\d.,:]+", w)}


def _item_words(text: str, numbered: set[str]) -> list[str]:
    """Words that can name the item the user asks about: identifiers with digits, capitalised names and
    words rare enough to be missing from the encoder's vocabulary. Common words ("remind", "double")
    mostly describe the request, and bare numbers are values ("in 45 minutes", "up by 10%") unless they
    follow a word that numbers items earlier in the conversation (`numbered`: "bed" in "bed 12")."""
    names = _names(text)
    common = common_words()
    tokens = [w.lower().split("'")[0] for w in TOKEN_PATTERN.findall(text.replace("_", " "))]
    words = []
    for index, word in enumerate(tokens):
        if word in STOPWORDS:
            continue
        if re.fullmatch(r"[\d.,:]+", word):
            if index > 0 and tokens[index - 1] in numbered:
                words.append(word)
        elif len(word) >= 3 and (word in names or any(c.isdigit() for c in word) or
                                 any(part and part not in common for part in word.split("-"))):
            words.append(word)
    return list(dict.fromkeys(words))


def _numbered_words(text: str) -> set[str]:
    """Words directly followed by a number ("bed 3", "lot 118"): they name numbered items."""
    return {w.lower() for w in re.findall(r"([A-Za-z]+)[ #\-]?\d", text)}


def _mentioned(word: str, seen: set[str]) -> bool:
    """`word` or its singular/plural form is in `seen`."""
    return word in seen or word.rstrip("s") in seen or word + "s" in seen or word.removesuffix("es") in seen


def _background_words(conversation: Conversation) -> set[str]:
    """What the tools and the system prompt say: words that describe the task, not the item asked about."""
    parts = []
    for tool in conversation.tools:
        parts += [tool.name.replace("_", " "), tool.description, json.dumps(tool.parameters)]
    parts += [m.content for m in conversation.messages if m.role in ("system", "developer")]
    return {w.lower() for w in TOKEN_PATTERN.findall(" ".join(parts).replace("_", " "))}


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in TOKEN_PATTERN.findall(text.replace("_", " "))}


def _names(text: str) -> set[str]:
    """Proper names and identifiers: capitalised words not starting a sentence, and tokens with digits."""
    names = set()
    for match in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z]+|[A-Za-z]*\d[\w\-]*)", text.strip()):
        names.add(match.group(1).lower())
    return names


def _result_failed(content: str) -> bool:
    try:
        parsed = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict):
        status = str(parsed.get("status", "")).lower()
        if status in {"error", "failed", "failure", "fail", "unavailable", "timeout"} or "error" in parsed:
            return True
        if status in {"ok", "success", "succeeded", "confirmed"}:
            return False
    return bool(FAILURE_PATTERN.search(content[:400]))


def time_word_features(text: str) -> tuple[float, ...]:
    text = _spaced_identifiers(text[:MAX_TEXT_CHARS * 2])
    return tuple(float(bool(pattern.search(text))) for pattern in TIME_WORD_PATTERNS)


def result_data_age(result_text: str, result_time) -> float | None:
    """Seconds between the newest timestamp written in a tool result and the result itself (None when the
    result states no time or no time is known). Stamps well after the result (departures, deadlines) are
    plans, not the data's age, and are skipped; stamps without an offset are read as UTC."""
    if result_time is None:
        return None
    ages = []
    for match in DATE_PATTERN.finditer(result_text[:4000]):
        date, clock, zone = match.groups()
        text = date + (f"T{clock}" if clock else "T00:00") + ((zone if zone != "Z" else "+00:00") if zone else "")
        try:
            moment = parse_time(text)
        except TimingError:
            continue
        age = (result_time - moment).total_seconds()
        if age >= -FUTURE_SLACK_SECONDS:
            ages.append(max(0.0, age))
    return min(ages) if ages else None


def result_age_features(age: float | None) -> tuple[float, ...]:
    return (0.0, 0.0) if age is None else (1.0, math.log10(1.0 + age))


def result_value_features(result_text: str) -> tuple[float, ...]:
    """`RESULT_VALUE_FEATURES`: whether the result reports a measured reading and an amount of money."""
    text = result_text[:MAX_TEXT_CHARS * 2]
    return (float(bool(MEASURED_VALUE_PATTERN.search(text))), float(bool(MONEY_VALUE_PATTERN.search(text))))


def _spaced_identifiers(text: str) -> str:
    """`current_highest_bid`, `getLiveScore` -> words, so that time words inside identifiers are found."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text).replace("_", " ")


def _parameter_text(parameters: dict) -> str:
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return ""
    parts = []
    for name, spec in list(properties.items())[:12]:
        description = spec.get("description", "") if isinstance(spec, dict) else ""
        parts.append(f"{name} {description}")
    return " ".join(parts)


def last_tool_text(conversation: Conversation, last_tool_name: str | None) -> str:
    """Name, description and parameters of the tool called last (all tools when none was called yet; the
    called name alone when the schemas do not list it)."""
    tools = [t for t in conversation.tools if t.name == last_tool_name] or list(conversation.tools)
    text = " ".join(f"{t.name} {t.description} {_parameter_text(t.parameters)}" for t in tools)
    return text or (last_tool_name or "")


def tools_text(conversation: Conversation, last_tool_name: str | None) -> str:
    """What the tool called last is for (all tools when none was called yet), then the system prompt. Other
    tools (set an alert, send a report) say nothing about how fast the called tool's information changes."""
    tools = [t for t in conversation.tools if t.name == last_tool_name] or list(conversation.tools)
    parts = [f"{t.name.replace('_', ' ')}: {t.description}" for t in tools]
    if not parts:
        called = [c.name for m in conversation.messages for c in m.tool_calls]
        parts = [name.replace("_", " ") for name in dict.fromkeys(reversed(called))]
    system = [m.content for m in conversation.messages if m.role in ("system", "developer") and m.content]
    return _clip(" ".join(parts + system[:1]))


def read_cues(conversation: Conversation, request_words: frozenset[str] = frozenset()) -> ConversationCues:
    """`request_words`: words users employ across many domains to ask things ("remind", "explain",
    "double"), learned in training; any other word the conversation never had is a candidate new item."""
    messages = conversation.messages
    user_index = conversation.last_user_index()
    user = messages[user_index].content
    result_index = None
    for index in range(user_index - 1, -1, -1):
        if messages[index].role in TOOL_RESULT_ROLES:
            result_index = index
            break
    if result_index is None:
        result_text, answer_text, failed, apologised, last_tool = "(no tool result yet)", "", False, False, None
        elapsed = None
        turns_since = sum(1 for m in messages[:user_index] if m.role == "user")
    else:
        result_text = messages[result_index].content
        last_tool = messages[result_index].name
        for index in range(result_index - 1, -1, -1):
            if messages[index].tool_calls:
                last_tool = last_tool or messages[index].tool_calls[-1].name
                break
        answers = [m.content for m in messages[result_index + 1 : user_index] if m.role == "assistant" and m.content]
        answer_text = answers[0] if answers else ""
        failed = _result_failed(result_text)
        apologised = bool(APOLOGY_PATTERN.search(answer_text[:300]))
        result_time = messages[result_index].time
        if result_time is None or conversation.now is None:
            elapsed = 0.0
        else:
            elapsed = max(0.0, (conversation.now - result_time).total_seconds())
        turns_since = sum(1 for m in messages[result_index + 1 : user_index] if m.role == "user")
    previous_assistant = next(
        (m.content for m in reversed(messages[:user_index]) if m.role == "assistant" and m.content), ""
    )
    earlier_text = " ".join(m.content for m in messages[:user_index] if m.role != "system")
    earlier_words = set(_content_words(earlier_text))
    user_words = _content_words(user)
    overlap = sum(w in earlier_words for w in user_words) / len(user_words) if user_words else 1.0
    novel = len(_names(user) - {w.lower() for w in TOKEN_PATTERN.findall(earlier_text)})
    # the item asked about: the user's words that the tools and system prompt do not explain; a new item is
    # one the conversation never mentioned, while the answer already given covers the words of the last result
    called = " ".join(c.raw_arguments for m in messages[:user_index] for c in m.tool_calls)
    earlier_with_calls = earlier_text + " " + called
    background = _background_words(conversation)
    item_words = [w for w in _item_words(user, _numbered_words(earlier_with_calls)) if w not in background]
    seen = _tokens(earlier_with_calls)
    unseen_items = sum(not _mentioned(w, seen) for w in item_words)
    rare_words = [
        w for w in words_of(user) if w not in background and w not in request_words and not _mentioned(w, seen)
    ] if request_words else []
    if result_index is None or not item_words:
        in_result = 0.0
    else:
        covered = _tokens(result_text + " " + answer_text)
        in_result = sum(_mentioned(w, covered) for w in item_words) / len(item_words)
    proposed = bool(PROPOSAL_PATTERN.search(previous_assistant[-300:])) and "?" in previous_assistant[-300:]
    texts = ConversationTexts(
        tools=tools_text(conversation, last_tool),
        user=_clip(user, MAX_USER_CHARS) or "(empty)",
        result=result_text_for_encoder(result_text) or "(empty)",
    )
    answer_words = set(_content_words(answer_text))
    answer_overlap = sum(w in answer_words for w in user_words) / len(user_words) if user_words else 0.0
    fetched = result_index is not None and not failed  # a result whose words and stamps can be read
    return ConversationCues(
        texts=texts,
        elapsed_seconds=elapsed,
        result_failed=failed,
        assistant_apologised=apologised,
        assistant_proposed_action=proposed,
        word_overlap=overlap,
        novel_names=novel,
        user_turns_since_result=turns_since,
        user_words=len(user.split()),
        user_asks_question="?" in user,
        user_words_recheck=bool(RECHECK_PATTERN.search(user)),
        user_words_confirm=bool(CONFIRM_PATTERN.search(user)) and proposed,
        last_tool_name=last_tool,
        unseen_item_words=unseen_items,
        item_words_in_result=in_result,
        unseen_rare_words=len(rare_words),
        overlap_user_answer=answer_overlap,
        time_words=(
            time_word_features(last_tool_text(conversation, last_tool))
            + (time_word_features(result_text) if fetched else (0.0,) * len(TIME_WORDS))
            + time_word_features(user)
            + result_age_features(result_data_age(result_text, messages[result_index].time) if fetched else None)
            + (result_value_features(result_text) if fetched else (0.0,) * len(RESULT_VALUE_FEATURES))
        ),
    )


def scalar_features(cues: ConversationCues, embeddings: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """The `SCALAR_FEATURES` vector; `embeddings` rows follow `ConversationTexts.as_list()`."""
    _, user, result = embeddings
    prototype_sims = prototypes @ user
    log_elapsed = NO_RESULT_LOG_ELAPSED if cues.elapsed_seconds is None else math.log10(1.0 + cues.elapsed_seconds)
    has_result = cues.elapsed_seconds is not None
    return np.array(
        [
            log_elapsed,
            float(not has_result),
            float(cues.result_failed),
            float(cues.assistant_apologised),
            float(cues.assistant_proposed_action),
            cues.word_overlap,
            min(cues.novel_names, 3) / 3.0,
            min(cues.user_turns_since_result, 4) / 4.0,
            math.log1p(cues.user_words) / 3.0,
            float(cues.user_asks_question),
            float(user @ result) if has_result else 0.0,
            cues.overlap_user_answer if has_result else 0.0,
            *[float(s) for s in prototype_sims],
            float(cues.user_words_recheck),
            float(cues.user_words_confirm),
            float(cues.unseen_item_words > 0),
            cues.item_words_in_result,
            float(cues.unseen_rare_words > 0),
        ],
        dtype=np.float32,
    )
