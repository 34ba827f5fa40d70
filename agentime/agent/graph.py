"""The LangGraph agent behind `agentime.ask`: gate -> (reuse | prepare -> plan -> search_step (loop) -> answer).

`gate` asks the timing gate (`timing_gate.TimingGate.decide`) whether this question needs the video searched
again or is answered by an earlier turn's evidence (on live recordings, or on every question with
`timing.gate = "always"`; never with "off"); `reuse` repeats that turn's answer without looking at a frame.
`prepare` ingests the video (cached), loads or builds its frame index and reads its transcript (subtitles or
speech recognition, see `agentime.speech`); `plan` resolves the strategy and starts a search state;
`search_step` advances the strategy one step and loops while it is not done (routing in `route_search`), or
stops at once when the transcript alone answers; `answer` answers from speech when the question is about what
was said, else has the target answer over the kept evidence. Each decided question is kept in `turns` (the
state, so checkpointed). Nodes are small functions over the typed state and the runtime context; all
algorithms live in `agentime.search`, `agentime.speech`, `agentime.video` and `agentime.timing`.
"""

from __future__ import annotations

from datetime import datetime

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentime.agent.context import AgentContext
from agentime.agent.refresh import Turn
from agentime.agent.state import AgentState
from agentime.agent.timing_gate import TimingGate
from agentime.index.frame_index import FrameIndex
from agentime.index.ingest_index import ingest_and_index
from agentime.search import STRATEGIES, check_budget, choose_strategy
from agentime.search.answer import final_answer
from agentime.search.base import new_state
from agentime.search.runtime import SearchRuntime
from agentime.speech.answer import answer_from_speech, settled_by_speech
from agentime.speech.prepare import speech_for_video
from agentime.speech.search import speech_evidence
from agentime.video.ingest import ingest
from agentime.video.live_ingest import ingest_live
from agentime.video.source import open_video
from agentime.video.view import VideoView

UNSPENT = {"target_frames": 0, "draft_frames": 0, "target_calls": 0, "draft_calls": 0, "embedder_calls": 0,
           "seconds": 0.0, "target_seconds": 0.0, "draft_seconds": 0.0, "embedder_seconds": 0.0, "wall_seconds": 0.0}


def view_and_index(video: dict, ctx: AgentContext) -> tuple[VideoView, FrameIndex | None]:
    """The frames of an ingested video (`state["video"]`) by time, and its frame index; cached per process."""
    key = (video["directory"], video["frames"])  # a live overview grows: new key
    if key not in ctx.cache:
        from agentime.video.cache import OverviewStore
        from agentime.video.source import VideoInfo

        view = VideoView(video["path"], VideoInfo(**video["info"]), OverviewStore(video["directory"]),
                         ctx.config.video.max_side)
        index = None
        if ctx.embedder is not None:
            index = FrameIndex.load(view.store.directory, ctx.embedder.name)
            if index is None or len(index) != len(view.overview_times):
                ctx.report("indexing frames", 0.1)
                index = FrameIndex.build(ctx.embedder, view.store.iter_frames())
                index.save(view.store.directory)
        ctx.cache[key] = (view, index)
    return ctx.cache[key]


def _runtime(state: AgentState, ctx: AgentContext) -> SearchRuntime:
    """The search's runtime, built once per search (the question's phrases, embedding and similarity with it)
    and reused by every step; a new question, video, option list or setting builds a new one."""
    view, index = view_and_index(state["video"], ctx)
    key = (id(view), id(index), state["question"], tuple(state.get("options") or ()), ctx.search)
    if ctx.runtime is None or ctx.runtime[0] != key:
        speech, _ = speech_for_video(state["video"], ctx.config.speech, ctx.cache)
        ctx.runtime = (key, SearchRuntime(state["question"], view, ctx.target, draft=ctx.draft, embedder=ctx.embedder,
                                          index=index, config=ctx.search, options=state.get("options"),
                                          speech=speech))
    return ctx.runtime[1]


def gate(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    """Decide whether the question needs a new search; `gate` is None where no decision is asked for."""
    ctx = runtime.context
    video, mode = state["video"], ctx.config.timing.gate
    if mode == "off" or (mode == "live" and not video.get("live")):
        return {"gate": None}
    now = ctx.clock()
    seconds = float(open_video(video["path"], allow_truncated=True).info.duration)
    turns = [Turn.from_state(t) for t in state.get("turns") or []]
    if ctx.timing_gate is None:
        ctx.timing_gate = TimingGate(use_policy=ctx.config.timing.use_policy)
    decision = ctx.timing_gate.decide(turns, state["question"], now, seconds, state.get("options"))
    reuse = None if decision.call or decision.reuse is None else turns.index(decision.reuse)
    return {"gate": {"call": decision.call, "reason": decision.reason, "by_policy": decision.by_policy,
                     "reuse": reuse, "asked_at": now.isoformat(), "video_seconds": seconds}}


def route_gate(state: AgentState) -> str:
    """Reuse an earlier turn's answer when the gate said so, else search."""
    decided = state.get("gate")
    return "reuse" if decided and decided["reuse"] is not None else "prepare"


def _gate_step(decided: dict, reused_question: str | None) -> dict:
    return {"step": "timing_gate", "lane": "", "model": "timing policy" if decided["by_policy"] else "rule",
            "times": [], "scores": [], "note": decided["reason"], "seconds": 0.0,
            "extra": {"refreshed": decided["call"], "reused_question": reused_question}}


def _turn(state: AgentState, search: dict, result: dict, video: dict, evidence_times: list[float]) -> dict:
    """The state's turn of this question: what the gate and the answer were, and the answer to repeat later."""
    decided = state["gate"]
    label = f"{result['choice']}. {result['text']}" if result.get("choice") else result["text"]
    turn = Turn(state["question"], datetime.fromisoformat(decided["asked_at"]), decided["call"], decided["reason"],
                label, float(search["confidence"]), decided["video_seconds"], list(evidence_times),
                [list(s) for s in result["spans"]], state.get("options"))
    return {**turn.to_state(), "result": {"search": search, "answer": result, "video": video}}


def reuse(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    """Answer from an earlier turn: its answer and evidence again, no frame looked at."""
    decided = state["gate"]
    earlier = state["turns"][decided["reuse"]]
    search = {**earlier["result"]["search"], "stats": {**earlier["result"]["search"]["stats"], **UNSPENT}}
    search["trace"] = [_gate_step(decided, earlier["question"]), *search["trace"]]
    result, video = earlier["result"]["answer"], earlier["result"]["video"]
    runtime.context.report("answered from what was already found", 1.0)
    turn = _turn(state, search, result, video, earlier["evidence_times"])
    return {"search": search, "answer": result, "video": video, "turns": [*state.get("turns", []), turn]}


def prepared_video(path: str, live: bool, ctx: AgentContext) -> dict:
    """The video ingested (cached), its frame index loaded or built and its transcript read: the state's
    `video` record."""
    ctx.report("ingesting video", 0.0)
    if live:
        result = ingest_live(path, ctx.config)
    elif ctx.embedder is not None:  # overview and index in one resumable pass (decoding beside embedding)
        result, _ = ingest_and_index(path, ctx.config, ctx.embedder, load_index=False)
    else:
        result = ingest(path, ctx.config)
    video = {"path": result.info.path, "key": result.key, "directory": str(result.directory),
             "info": result.info.to_dict(), "frames": result.frames, "live": live}
    view_and_index(video, ctx)
    speech = ctx.config.speech
    if speech.enabled and (speech.subtitles or speech.asr):  # slow paths get a message before, not after
        ctx.report("reading the subtitles" if speech.subtitles else "transcribing the speech", 0.1)
    summary = speech_for_video(video, speech, ctx.cache)[1]
    if summary.get("source"):
        ctx.report(f"read {summary['segments']} transcript lines", 0.12)
    video["speech"] = summary
    return video


def prepare(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    return {"video": prepared_video(state["video"]["path"], bool(state["video"].get("live")), runtime.context)}


def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    ctx.runtime = None  # a new search: its runtime is built at its first step
    name = choose_strategy(state.get("strategy", "auto"), duration=state["video"]["info"]["duration"],
                           has_draft=ctx.draft is not None)
    check_budget(name, ctx.search, state["video"]["frames"], state["video"]["info"]["duration"])
    ctx.report(f"searching with {name}", 0.15)
    return {"search": new_state(name), "steps": 0}


def search_step(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    search = dict(state["search"])
    rt = _runtime(state, ctx)
    if not state.get("steps") and settled_by_speech(rt):
        search["done"] = True  # the transcript answers it: no frame needs looking at
    else:
        STRATEGIES[search["strategy"]].step(rt, search)
    rt.record_prompt_cuts(search)
    rt.record_seconds(search)
    steps = state.get("steps", 0) + 1
    if steps >= ctx.max_steps:
        search["done"] = True
    used = search["stats"]["target_frames"] / max(1, ctx.search.budget)
    ctx.report(f"{search['strategy']}: step {steps}, confidence {search['confidence']:.2f}", 0.15 + 0.75 * min(1.0, used))
    return {"search": search, "steps": steps}


def route_search(state: AgentState) -> str:
    """Loop while the strategy is not done, then answer."""
    return "answer" if state["search"]["done"] else "search_step"


def answer(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    search = dict(state["search"])
    ctx.report("answering", 0.95)
    rt = _runtime(state, ctx)
    result = answer_from_speech(rt, search) or final_answer(rt, search)
    result.setdefault("speech", speech_evidence(rt.speech, rt.question))
    rt.record_prompt_cuts(search)
    rt.record_seconds(search)
    ctx.report("done", 1.0)
    entry = {"question": state["question"], "options": state.get("options"), "answer": result,
             "confidence": search["confidence"], "strategy": search["strategy"]}
    update = {"search": search, "answer": result, "history": [entry]}
    if state.get("gate"):
        search["trace"].insert(0, _gate_step(state["gate"], None))
        turn = _turn(state, search, result, state["video"], result["evidence_times"])
        update["turns"] = [*state.get("turns", []), turn]
    return update


def build_graph(checkpointer=None):
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("gate", gate)
    builder.add_node("reuse", reuse)
    builder.add_node("prepare", prepare)
    builder.add_node("plan", plan)
    builder.add_node("search_step", search_step)
    builder.add_node("answer", answer)
    builder.add_edge(START, "gate")
    builder.add_conditional_edges("gate", route_gate, ["reuse", "prepare"])
    builder.add_edge("reuse", END)
    builder.add_edge("prepare", "plan")
    builder.add_edge("plan", "search_step")
    builder.add_conditional_edges("search_step", route_search, ["search_step", "answer"])
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


graph = build_graph()  # for LangGraph Studio / Server (langgraph.json)
