"""`ToolTimingPolicy`: decide whether an agent should call a tool again or answer from what it knows.

The model is small and readable. From the embedded tool descriptions, system prompt and last tool result
it estimates how quickly the tool's information goes stale (a timescale, log10 seconds: a similarity-
weighted average over anchor domains with known timescales, plus a linear map of the embeddings of the tool's
text and its last result and of explicit time words, read separately from the called tool's name,
description and parameters, from its result and from the user's message, such as "live", "current_bid",
"readings", "today's", "schedule", and of the shape of the result's values: a reading in a unit of measurement or
an amount of money; weights trained without anchors leave their timescales at zero); the logit of
"call" grows with the log of the time elapsed since the last tool result minus that timescale, plus a
linear weighing of context cues (the call failed, the user asks to check again, confirms a proposed
action, ...) and of the user's embedded message. The cues of a question asked again (its words already in the
conversation, in the last result or in the last answer: `TIME_MODULATED_FEATURES`) act through the same
elapsed / timescale ratio: their weight towards calling is scaled by how stale the last result is
(`staleness`), and on their own they may only lean towards answering, so a repeat 5 s after a result that
stays fresh for a minute reads as "already answered", and the same repeat an hour later as "check again". A small gate
on the same cues scales the elapsed-time term down when time does not matter (the user asks about an
item the conversation never covered: however fresh the last result, it does not hold the answer). Weights are
trained by `pipelines/train_timing.py` and ship as safetensors under `weights/`; scoring is numpy only
(the sentence encoder is the one torch user, loaded lazily by `encoder.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agentime.errors import TimingError
from agentime.timing.conversation import Conversation, read_conversation
from agentime.timing.encoder import EMBEDDING_DIM, EncoderVariant, SentenceEncoder, shared_encoder
from agentime.timing.features import (
    PROTOTYPE_NAMES,
    SCALAR_FEATURES,
    TEXT_COUNT,
    FRESHNESS_CUE_COUNT,
    RESULT_AGE_FEATURES,
    RESULT_VALUE_FEATURES,
    TIME_WORD_SOURCES,
    TIME_WORDS,
    ConversationCues,
    read_cues,
    scalar_features,
)

TIME_GAP_CLIP = 2.0  # decades: beyond 100x fresher or staler, elapsed time adds no further evidence,
# so explicit context (a request to check again, a confirmation) can still outweigh it
# a repeated question is a request for an update only once the last result may be stale: these cues' weight
# towards calling is scaled by `staleness`, and their plain weight is kept at or below zero in training
TIME_MODULATED_FEATURES = ("word_overlap", "sim_user_result", "overlap_user_answer")
STALENESS_SHARPNESS = 3.0  # per decade of elapsed / timescale: a decade fresher reads 0.05 stale, a decade staler 0.95
# notes of `conversation.read_conversation` that make the elapsed time a fallback rather than a measurement
CLOCK_NOTES = ("now is earlier", "no timestamps at all", "the last tool result has no time")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "tictoc_policy.safetensors"
CUE_PHRASES = {
    "result_failed": "the last tool call failed",
    "assistant_apologised": "the assistant could not answer",
    "assistant_proposed_action": "the assistant proposed an action",
    "word_overlap": "the question's words are already in the conversation",
    "novel_names": "the user names something not looked up yet",
    "sim_user_result": "the question matches the last tool result",
    "overlap_user_answer": "the question repeats the last answer's words",
    "sim_user_recheck": "the user asks to check again",
    "sim_user_confirm": "the user confirms",
    "sim_user_action": "the user asks for an action",
    "sim_user_small_talk": "the user is making small talk",
    "no_prior_result": "no tool result yet",
    "user_words_recheck": "the user asks for current information",
    "user_words_confirm": "the user says yes",
}


@dataclass(frozen=True)
class Decision:
    """`call`: call a tool now; `probability` of that being what people prefer; `timescale_seconds`: the
    estimated time for the tool's information to go stale; `reason`: a short account of the decision."""

    call: bool
    probability: float
    timescale_seconds: float
    reason: str
    elapsed_seconds: float | None = None
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PolicyWeights:
    anchor_embeddings: np.ndarray  # (D, 384) unit vectors: what each anchor domain's tools say
    anchor_log_timescale: np.ndarray  # (D,) log10 seconds
    anchor_temperature: float
    timescale_weight: np.ndarray  # (2 * 384,) linear correction over [tools text, last tool result]
    timescale_bias: float
    elapsed_slope: float
    scalar_weight: np.ndarray  # (len(SCALAR_FEATURES),)
    user_weight: np.ndarray  # (384,)
    bias: float
    prototypes: np.ndarray  # (len(PROTOTYPE_NAMES), 384) unit vectors
    metadata: dict
    # how much the cues make elapsed time irrelevant (a new item is not in the conversation however fresh
    # it is): the time term is scaled by 1 - sigmoid(time_gate_weight . scalars + time_gate_bias)
    time_gate_weight: np.ndarray = field(default_factory=lambda: np.zeros(len(SCALAR_FEATURES), np.float32))
    time_gate_bias: float = -20.0
    time_word_weight: np.ndarray = field(
        default_factory=lambda: np.zeros(FRESHNESS_CUE_COUNT, np.float32)
    )
    # weight of each `TIME_MODULATED_FEATURES` cue times `staleness` (zero for the other cues)
    staleness_weight: np.ndarray = field(default_factory=lambda: np.zeros(len(SCALAR_FEATURES), np.float32))
    # how much of the anchors' estimate the timescale takes: sigmoid(anchor_share[0] + anchor_share[1] * the
    # cosine of the closest anchor), learned on samples whose near-topic anchors are left out, so it says how
    # far a resemblance to other topics predicts a new tool's pace (the default: all of it)
    anchor_share: np.ndarray = field(default_factory=lambda: np.array([20.0, 0.0], np.float32))

    @property
    def encoder_variant(self) -> EncoderVariant:
        """The sentence encoder variant the weights were trained on (weights from before variants: fp32, 128)."""
        return EncoderVariant.from_dict(self.metadata.get("encoder_variant", {"int8": False, "max_tokens": 128}))

    @property
    def request_words(self) -> frozenset[str]:
        """Words users ask with in many training domains (not item names); see `features.read_cues`."""
        return frozenset(self.metadata.get("request_words", ()))

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        tensors = {
            "anchor_embeddings": self.anchor_embeddings.astype(np.float32),
            "anchor_log_timescale": self.anchor_log_timescale.astype(np.float32),
            "anchor_temperature": np.array([self.anchor_temperature], dtype=np.float32),
            "timescale_weight": self.timescale_weight.astype(np.float32),
            "timescale_bias": np.array([self.timescale_bias], dtype=np.float32),
            "elapsed_slope": np.array([self.elapsed_slope], dtype=np.float32),
            "scalar_weight": self.scalar_weight.astype(np.float32),
            "user_weight": self.user_weight.astype(np.float32),
            "bias": np.array([self.bias], dtype=np.float32),
            "prototypes": self.prototypes.astype(np.float32),
            "time_gate_weight": self.time_gate_weight.astype(np.float32),
            "time_gate_bias": np.array([self.time_gate_bias], dtype=np.float32),
            "time_word_weight": self.time_word_weight.astype(np.float32),
            "staleness_weight": self.staleness_weight.astype(np.float32),
            "anchor_share": self.anchor_share.astype(np.float32),
        }
        meta = dict(
            self.metadata,
            scalar_features=list(SCALAR_FEATURES),
            prototypes=list(PROTOTYPE_NAMES),
            time_words=list(TIME_WORDS),
            time_word_sources=list(TIME_WORD_SOURCES),
            result_age_features=list(RESULT_AGE_FEATURES),
            result_value_features=list(RESULT_VALUE_FEATURES),
            time_modulated_features=list(TIME_MODULATED_FEATURES),
            staleness_sharpness=STALENESS_SHARPNESS,
        )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"agentime": json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> "PolicyWeights":
        from safetensors import safe_open

        path = Path(path)
        if not path.exists():
            raise TimingError(f"{path}: policy weights not found; train them with python -m pipelines.train_timing")
        with safe_open(str(path), framework="numpy") as handle:
            meta = json.loads((handle.metadata() or {}).get("agentime", "{}"))
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        if (
            meta.get("scalar_features") != list(SCALAR_FEATURES)
            or meta.get("time_words") != list(TIME_WORDS)
            or meta.get("time_word_sources") != list(TIME_WORD_SOURCES)
            or meta.get("result_age_features") != list(RESULT_AGE_FEATURES)
            or meta.get("result_value_features") != list(RESULT_VALUE_FEATURES)
            or meta.get("time_modulated_features") != list(TIME_MODULATED_FEATURES)
            or meta.get("staleness_sharpness") != STALENESS_SHARPNESS
            or "staleness_weight" not in tensors
            or "anchor_share" not in tensors
        ):
            raise TimingError(f"{path}: weights were trained for other features; retrain with pipelines.train_timing")
        return cls(
            anchor_embeddings=tensors["anchor_embeddings"],
            anchor_log_timescale=tensors["anchor_log_timescale"],
            anchor_temperature=float(tensors["anchor_temperature"][0]),
            timescale_weight=tensors["timescale_weight"],
            timescale_bias=float(tensors["timescale_bias"][0]),
            elapsed_slope=float(tensors["elapsed_slope"][0]),
            scalar_weight=tensors["scalar_weight"],
            user_weight=tensors["user_weight"],
            bias=float(tensors["bias"][0]),
            prototypes=tensors["prototypes"],
            metadata=meta,
            time_gate_weight=tensors["time_gate_weight"],
            time_gate_bias=float(tensors["time_gate_bias"][0]),
            time_word_weight=tensors["time_word_weight"],
            staleness_weight=tensors["staleness_weight"],
            anchor_share=tensors["anchor_share"],
        )


def anchor_timescale_log10(weights: PolicyWeights, tools_embeddings: np.ndarray) -> np.ndarray:
    """(N,) similarity-weighted average of the anchor domains' log10 timescales, times its share
    (`PolicyWeights.anchor_share`: less of it when no anchor is close)."""
    cosine = tools_embeddings @ weights.anchor_embeddings.T
    similarity = cosine / weights.anchor_temperature
    similarity -= similarity.max(axis=1, keepdims=True)
    attention = np.exp(similarity)
    attention /= attention.sum(axis=1, keepdims=True)
    share = 1.0 / (1.0 + np.exp(-(weights.anchor_share[0] + weights.anchor_share[1] * cosine.max(axis=1))))
    return share * (attention @ weights.anchor_log_timescale)


def timescale_log10(weights: PolicyWeights, embeddings: np.ndarray, time_words: np.ndarray) -> np.ndarray:
    """(N,) log10 seconds for embeddings (N, TEXT_COUNT, 384) ordered as `ConversationTexts.as_list()` and the
    freshness cues (N, FRESHNESS_CUE_COUNT): time words of the last tool, its result and the user, then the
    age of the data the result states and the shape of its values (see `features.ConversationCues.time_words`)."""
    correction = np.concatenate([embeddings[:, 0], embeddings[:, 2]], axis=1) @ weights.timescale_weight
    correction += time_words @ weights.time_word_weight
    return anchor_timescale_log10(weights, embeddings[:, 0]) + correction + weights.timescale_bias


def time_relevance(weights: PolicyWeights, scalars: np.ndarray) -> np.ndarray:
    """(N,) in (0, 1): how much elapsed time counts given the cues (`scalars` rows: `SCALAR_FEATURES`)."""
    gate = scalars[:, 1:] @ weights.time_gate_weight[1:] + weights.time_gate_bias
    return 1.0 / (1.0 + np.exp(np.clip(gate, -60.0, 60.0)))


MODULATED_MASK = np.array([name in TIME_MODULATED_FEATURES for name in SCALAR_FEATURES])


def staleness(log_gap: np.ndarray) -> np.ndarray:
    """(N,) in (0, 1): how stale the last result likely is, from log10(elapsed / timescale) (0.5 when equal)."""
    return 1.0 / (1.0 + np.exp(-STALENESS_SHARPNESS * np.clip(log_gap, -TIME_GAP_CLIP, TIME_GAP_CLIP)))


def logit_contributions(
    weights: PolicyWeights, scalars: np.ndarray, timescale: np.ndarray, user_embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cue contributions (N, len(SCALAR_FEATURES)), the elapsed-time term in column 0, and the total logit
    (N,) for `scalars` rows, log10 `timescale` (N,) and the user's embedded messages (N, 384)."""
    log_gap = scalars[:, 0] - timescale
    time_term = weights.elapsed_slope * np.clip(log_gap, -TIME_GAP_CLIP, TIME_GAP_CLIP)
    time_term = time_term * time_relevance(weights, scalars)
    cue_weights = weights.scalar_weight[None, :] + weights.staleness_weight[None, :] * staleness(log_gap)[:, None]
    contributions = cue_weights * scalars
    contributions[:, 0] = time_term
    total = contributions.sum(axis=1) + user_embeddings @ weights.user_weight + weights.bias
    return contributions, total


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


class ToolTimingPolicy:
    """Decide, at a user's turn, whether the agent should call a tool again (see module docstring).

    `threshold` is the probability above which `call` is True. `strict=True` makes imperfect timestamps
    errors instead of documented fallbacks (see `conversation.py`).
    """

    def __init__(
        self,
        weights: PolicyWeights | str | Path | None = None,
        encoder: SentenceEncoder | None = None,
        threshold: float = 0.5,
        strict: bool = False,
    ):
        if weights is None or isinstance(weights, (str, Path)):
            weights = PolicyWeights.load(weights or DEFAULT_WEIGHTS)
        self.weights = weights
        self.encoder = encoder
        self.threshold = threshold
        self.strict = strict

    def _encoder(self) -> SentenceEncoder:
        if self.encoder is None:
            self.encoder = shared_encoder(self.weights.encoder_variant)
        elif self.encoder.variant != self.weights.encoder_variant:
            raise TimingError(
                f"the policy's weights were trained on the {self.weights.encoder_variant.name} sentence encoder, "
                f"not {self.encoder.variant.name}: pass SentenceEncoder(variant=policy.weights.encoder_variant)"
            )
        return self.encoder

    def decide(self, messages: Sequence[dict], tools: Sequence[dict] | None, now: Any = None) -> Decision:
        return self.decide_many([(messages, tools, now)])[0]

    def decide_many(self, cases: Sequence[tuple[Sequence[dict], Sequence[dict] | None, Any]]) -> list[Decision]:
        """Decisions for many `(messages, tools, now)` cases, embedding their texts in shared batches."""
        conversations = [read_conversation(m, t, n, strict=self.strict) for m, t, n in cases]
        request_words = self.weights.request_words
        cues = [read_cues(c, request_words) for c in conversations]
        texts = [text for cue in cues for text in cue.texts.as_list()]
        embeddings = self._encoder().encode(texts).reshape(len(cues), TEXT_COUNT, EMBEDDING_DIM) if texts else None
        return [self._score(c, cue, embeddings[i]) for i, (c, cue) in enumerate(zip(conversations, cues))]

    def timescale_log10(self, embeddings: np.ndarray, time_words: Sequence[float]) -> float:
        return float(timescale_log10(self.weights, embeddings[None], np.asarray([time_words], np.float32))[0])

    def logit_parts(
        self, cues: ConversationCues, embeddings: np.ndarray
    ) -> tuple[float, np.ndarray, float, float, np.ndarray]:
        """(timescale log10 s, per-cue contributions, user-message term, total logit, the cue values)."""
        w = self.weights
        scalars = scalar_features(cues, embeddings, w.prototypes)
        timescale = self.timescale_log10(embeddings, cues.time_words)
        contributions, total = logit_contributions(w, scalars[None], np.array([timescale]), embeddings[1][None])
        user_term = float(w.user_weight @ embeddings[1])
        return timescale, contributions[0], user_term, float(total[0]), scalars

    def _score(self, conversation: Conversation, cues: ConversationCues, embeddings: np.ndarray) -> Decision:
        timescale_log10, contributions, user_term, logit, scalars = self.logit_parts(cues, embeddings)
        timescale = float(10.0**timescale_log10)
        if not conversation.tools:
            return Decision(
                call=False,
                probability=0.0,
                timescale_seconds=timescale,
                reason="no tools were given, so there is nothing to call; answer directly",
                elapsed_seconds=cues.elapsed_seconds,
                notes=conversation.notes + ("no tools given",),
            )
        probability = float(1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit)))))
        call = probability >= self.threshold
        return Decision(
            call=call,
            probability=probability,
            timescale_seconds=timescale,
            reason=self._explain(call, cues, timescale, contributions, scalars, conversation),
            elapsed_seconds=cues.elapsed_seconds,
            notes=conversation.notes,
        )

    def _explain(
        self,
        call: bool,
        cues: ConversationCues,
        timescale: float,
        contributions: np.ndarray,
        scalars: np.ndarray,
        conversation: Conversation,
    ) -> str:
        """Which tool, how long its information stays fresh, the time elapsed, and the strongest other cues, e.g.
        "call the tool: last result of get_price 4.0 min ago; get_price's information stays fresh for about
        30 s, so it is likely stale; also: the user asks to check again (towards calling)"."""
        tool = cues.last_tool_name or (conversation.tools[0].name if len(conversation.tools) == 1 else None)
        subject = f"{tool}'s information" if tool else "the tools' information"
        if cues.elapsed_seconds is None:
            freshness = format_duration(timescale)
            timing = f"no tool result in the conversation yet ({subject} stays fresh for about {freshness})"
        elif cues.result_failed:
            timing = (
                f"the last call{f' of {tool}' if tool else ''} failed {format_duration(cues.elapsed_seconds)} ago, so "
                f"there is no usable result ({subject} stays fresh for about {format_duration(timescale)})"
            )
        else:
            state = "stale" if cues.elapsed_seconds > timescale else "fresh"
            timing = (
                f"last result{f' of {tool}' if tool else ''} {format_duration(cues.elapsed_seconds)} ago; {subject} "
                f"stays fresh for about {format_duration(timescale)}, so it is likely {state}"
            )
            unsure = [n for n in conversation.notes if n.startswith(CLOCK_NOTES)]
            if unsure:
                timing += f" (the clock is unsure: {unsure[0]})"
        # name only cues that are present (similarities count from 0.5 up), not constant offsets
        present = [
            i for i in range(1, len(SCALAR_FEATURES))
            if SCALAR_FEATURES[i] in CUE_PHRASES and scalars[i] > 0.5 and abs(contributions[i]) > 0.5
        ]
        ranked = sorted(present, key=lambda i: -abs(contributions[i]))
        cues_text = [self._cue_text(SCALAR_FEATURES[i], contributions[i]) for i in ranked[:2]]
        verdict = "call the tool" if call else "answer from the conversation"
        return f"{verdict}: {timing}" + (f"; also: {', '.join(cues_text)}" if cues_text else "")

    @staticmethod
    def _cue_text(name: str, contribution: float) -> str:
        """A cue and its direction; a repeat leans towards calling only as far as time has passed (`staleness`)."""
        phrase = CUE_PHRASES[name]
        if name in TIME_MODULATED_FEATURES and contribution > 0:
            phrase += ", asked again as the last result ages"
        return f"{phrase} ({'towards calling' if contribution > 0 else 'towards answering'})"
