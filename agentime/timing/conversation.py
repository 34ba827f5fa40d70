"""A validated, timed view of an OpenAI-style conversation and its tool schemas.

Turns raw message dicts (each optionally carrying an ISO-8601 `time`) and tool schemas into frozen
records the policy can read, applying the documented fallbacks for imperfect input. It knows nothing
about TicToc files (see `format.py`) or about the policy (see `policy.py`).

Fallbacks (each one is recorded in `Conversation.notes`):

- a message without `time` inherits the time of the message before it; when no message has a time and
  no `now` is given, the conversation is taken to happen in one sitting (elapsed time 0);
- a naive timestamp (no offset) is read as UTC; timestamps with other offsets are converted to UTC; besides
  ISO-8601, RFC 2822 strings and Unix times (seconds or milliseconds) are read (`parse_time`);
- a time earlier than the message before it is raised to that earlier message's time (the message
  order is trusted over the clock; one note counts them all); `strict=True` raises `TimingError` instead;
- a last tool result without any time (none before it either) while `now` is given counts as elapsed time 0;
- tool-call arguments that are not valid JSON are kept as raw text;
- `now` earlier than the last tool result counts as elapsed time 0.

Errors (`TimingError`): messages that are not a list of dicts, an unknown role, an unparseable time,
a tool schema without a name, or a conversation without any user message.
"""

from __future__ import annotations

import email.utils
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from agentime.errors import TimingError

KNOWN_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
TOOL_RESULT_ROLES = ("tool", "function")


@dataclass(frozen=True)
class ToolCall:
    """One function call the assistant made; `arguments` is None when `raw_arguments` is not JSON."""

    name: str
    raw_arguments: str
    arguments: dict | None
    call_id: str | None = None


@dataclass(frozen=True)
class TimedMessage:
    role: str
    content: str
    time: datetime | None
    tool_calls: tuple[ToolCall, ...] = ()
    name: str | None = None
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ToolSchema:
    name: str
    description: str
    parameters: dict


@dataclass(frozen=True)
class Conversation:
    """Messages in order, the tools on offer, and the moment the decision is made (`now`, UTC)."""

    messages: tuple[TimedMessage, ...]
    tools: tuple[ToolSchema, ...]
    now: datetime | None
    notes: tuple[str, ...] = field(default=())

    def last_user_index(self) -> int:
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].role == "user":
                return index
        raise TimingError("the conversation has no user message; the policy decides in reply to a user turn")

    def last_tool_result_index(self) -> int | None:
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].role in TOOL_RESULT_ROLES:
                return index
        return None

    def elapsed_seconds_since_tool_result(self) -> float | None:
        """Seconds from the last tool result to `now`; None when no tool was called yet."""
        index = self.last_tool_result_index()
        if index is None:
            return None
        result_time = self.messages[index].time
        if result_time is None or self.now is None:
            return 0.0
        return max(0.0, (self.now - result_time).total_seconds())


EPOCH_MILLISECONDS_FROM = 1e11  # a Unix time above this (year 5138 in seconds) is read as milliseconds


def _epoch(value: float, where: str) -> datetime:
    seconds = value / 1000.0 if abs(value) >= EPOCH_MILLISECONDS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as error:
        raise TimingError(f"{where}: {value!r} is not a usable Unix time") from error


def parse_time(value: Any, where: str = "time") -> datetime:
    """An aware UTC datetime from a datetime, an ISO-8601 string (`T` or a space between date and time,
    `/` or `-` between date parts), an RFC 2822 string as in HTTP and e-mail headers, or a Unix time in
    seconds or milliseconds (number or digits). Values without a zone are read as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(float(value), where)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return _epoch(float(text), where)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = re.sub(r"^(\d{4})/(\d{2})/(\d{2})", r"\1-\2-\3", text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value.strip())
            except (TypeError, ValueError, IndexError):
                raise TimingError(
                    f"{where}: cannot read {value!r} as a time; use ISO-8601 such as '2025-06-08T10:00:00Z'"
                ) from None
    else:
        raise TimingError(f"{where}: expected an ISO-8601 string or datetime, got {type(value).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a trailing Z, as TicToc files write it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_text(content: Any) -> str:
    """Message content as plain text: strings as is, OpenAI content parts joined, None as ''."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text", "")))
            else:
                parts.append(str(part))
        return " ".join(p for p in parts if p)
    return json.dumps(content) if isinstance(content, dict) else str(content)


def _read_tool_calls(raw_calls: Any, where: str) -> tuple[ToolCall, ...]:
    if raw_calls is None:
        return ()
    if not isinstance(raw_calls, list):
        raise TimingError(f"{where}: 'tool_calls' must be a list of calls, got {type(raw_calls).__name__}")
    calls = []
    for position, raw in enumerate(raw_calls):
        if not isinstance(raw, dict):
            raise TimingError(f"{where}: tool call {position} must be a dict, got {type(raw).__name__}")
        function = raw.get("function", raw)
        if not isinstance(function, dict):
            function = {}
        name = str(function.get("name") or "unknown_tool")
        raw_arguments = function.get("arguments", "")
        if isinstance(raw_arguments, dict):
            arguments, raw_text = raw_arguments, json.dumps(raw_arguments)
        else:
            raw_text = "" if raw_arguments is None else str(raw_arguments)
            try:
                parsed = json.loads(raw_text) if raw_text else {}
                arguments = parsed if isinstance(parsed, dict) else None
            except json.JSONDecodeError:
                arguments = None
        calls.append(ToolCall(name=name, raw_arguments=raw_text, arguments=arguments, call_id=raw.get("id")))
    return tuple(calls)


def read_tool_schemas(tools: Iterable[Any] | None) -> tuple[ToolSchema, ...]:
    """OpenAI tool schemas (`{"type": "function", "function": {...}}`) or bare `{"name", "description"}`."""
    if tools is None:
        return ()
    if isinstance(tools, dict):
        tools = [tools]
    schemas = []
    for position, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise TimingError(f"tool {position}: expected an OpenAI tool schema dict, got {type(tool).__name__}")
        function = tool.get("function", tool)
        name = function.get("name") if isinstance(function, dict) else None
        if not name:
            raise TimingError(f"tool {position}: the schema has no function name; give {{'function': {{'name': ...}}}}")
        parameters = function.get("parameters") or {}
        schemas.append(
            ToolSchema(
                name=str(name),
                description=str(function.get("description") or ""),
                parameters=parameters if isinstance(parameters, dict) else {},
            )
        )
    return tuple(schemas)


def read_conversation(
    messages: Sequence[dict],
    tools: Iterable[Any] | None = None,
    now: Any = None,
    strict: bool = False,
) -> Conversation:
    """Validate `messages` and `tools` and apply the module's documented fallbacks."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TimingError("messages must be a non-empty list of OpenAI-style message dicts")
    notes: list[str] = []
    timed: list[TimedMessage] = []
    previous_time: datetime | None = None
    untimed = 0
    backwards: list[int] = []
    for position, raw in enumerate(messages):
        where = f"message {position}"
        if not isinstance(raw, dict):
            raise TimingError(f"{where}: expected a dict with 'role' and 'content', got {type(raw).__name__}")
        role = raw.get("role")
        if role not in KNOWN_ROLES:
            raise TimingError(f"{where}: unknown role {role!r}; expected one of {', '.join(KNOWN_ROLES)}")
        raw_time = raw.get("time")
        if isinstance(raw_time, (list, tuple)):
            raise TimingError(
                f"{where}: 'time' is a list of elapsed-time variants; pick one with "
                "agentime.timing.format.conversation_at(sample, level)"
            )
        moment = parse_time(raw_time, where) if raw_time is not None else None
        if moment is None:
            untimed += 1
            moment = previous_time
        elif previous_time is not None and moment < previous_time:
            if strict:
                raise TimingError(f"{where}: time {format_time(moment)} is earlier than the message before it")
            backwards.append(position)
            moment = previous_time
        previous_time = moment if moment is not None else previous_time
        timed.append(
            TimedMessage(
                role=role,
                content=content_text(raw.get("content")),
                time=moment,
                tool_calls=_read_tool_calls(raw.get("tool_calls"), where),
                name=raw.get("name"),
                tool_call_id=raw.get("tool_call_id"),
            )
        )
    if backwards:
        shown = ", ".join(str(p) for p in backwards[:3]) + (", ..." if len(backwards) > 3 else "")
        notes.append(f"time went backwards at {len(backwards)} message(s) ({shown}); used the previous message's time")
    if untimed:
        notes.append(f"{untimed} message(s) without time inherited the previous message's time")
    for message in timed:
        for call in message.tool_calls:
            if call.arguments is None:
                notes.append(f"tool call {call.name!r} has arguments that are not JSON; kept as text")
    if now is not None:
        now_time = parse_time(now, "now")
        if previous_time is not None and now_time < previous_time:
            if strict:
                raise TimingError("now is earlier than the last message")
            notes.append("now is earlier than the last message; elapsed time clamped at 0")
    else:
        now_time = previous_time
        if now_time is None:
            notes.append("no timestamps at all: the conversation is taken to happen in one sitting")
    conversation = Conversation(tuple(timed), read_tool_schemas(tools), now_time, tuple(notes))
    conversation.last_user_index()
    result_index = conversation.last_tool_result_index()
    if result_index is not None and timed[result_index].time is None and now_time is not None:
        notes.append("the last tool result has no time: elapsed time taken as 0")
        conversation = Conversation(conversation.messages, conversation.tools, now_time, tuple(notes))
    return conversation
