"""Time-aware tool calling (TicToc): decide whether an agent should call a tool again or answer.

`ToolTimingPolicy().decide(messages, tools, now)` returns a `Decision`; `format` reads and writes TicToc
data; `metrics` holds the normalized alignment rate. Importing this package does not import torch: the
sentence encoder loads on the first decision.
"""

from agentime.timing.conversation import Conversation, read_conversation
from agentime.timing.policy import Decision, ToolTimingPolicy

__all__ = ["Conversation", "Decision", "ToolTimingPolicy", "read_conversation"]
