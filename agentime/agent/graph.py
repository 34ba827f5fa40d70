"""The LangGraph agent behind `agentime.ask`: prepare -> plan -> search_step (loop) -> answer.

`prepare` ingests the video (cached), loads or builds its frame index and reads its transcript (subtitles or
speech recognition, see `agentime.speech`); `plan` resolves the strategy and starts a search state;
`search_step` advances the strategy one step and loops while it is not done (routing in `route_search`), or
stops at once when the transcript alone answers; `answer` answers from speech when the question is about what
was said, else has the target answer over the kept evidence. Nodes are small functions over the typed state
and the runtime context; all algorithms live in `agentime.search`, `agentime.speech` and `agentime.video`.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentime.agent.context import AgentContext
from agentime.agent.state import AgentState
from agentime.index.frame_index import FrameIndex
from agentime.search import STRATEGIES, choose_strategy
from agentime.search.answer import final_answer
from agentime.search.base import new_state
from agentime.search.runtime import SearchRuntime, VideoView
from agentime.speech.answer import answer_from_speech, settled_by_speech
from agentime.speech.prepare import speech_for_video
from agentime.speech.search import speech_evidence
from agentime.video.ingest import ingest
from agentime.video.live_ingest import ingest_live


def _view_and_index(state: AgentState, ctx: AgentContext) -> tuple[VideoView, FrameIndex | None]:
    key = (state["video"]["directory"], state["video"]["frames"])  # a live overview grows: new key
    if key not in ctx.cache:
        from agentime.video.cache import OverviewStore
        from agentime.video.source import VideoInfo

        video = state["video"]
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
    view, index = _view_and_index(state, ctx)
    speech, _ = speech_for_video(state["video"], ctx.config.speech, ctx.cache)
    return SearchRuntime(state["question"], view, ctx.target, draft=ctx.draft, embedder=ctx.embedder, index=index,
                         config=ctx.search, options=state.get("options"), speech=speech)


def prepare(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    ctx.report("ingesting video", 0.0)
    live = bool(state["video"].get("live"))
    result = ingest_live(state["video"]["path"], ctx.config) if live else ingest(state["video"]["path"], ctx.config)
    video = {"path": result.info.path, "key": result.key, "directory": str(result.directory),
             "info": result.info.to_dict(), "frames": result.frames, "live": live}
    _view_and_index({**state, "video": video}, ctx)
    if ctx.config.speech.enabled:
        ctx.report("reading speech", 0.1)
    video["speech"] = speech_for_video(video, ctx.config.speech, ctx.cache)[1]
    return {"video": video}


def plan(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    name = choose_strategy(state.get("strategy", "auto"), duration=state["video"]["info"]["duration"],
                           has_draft=ctx.draft is not None)
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
    ctx.report("done", 1.0)
    entry = {"question": state["question"], "options": state.get("options"), "answer": result,
             "confidence": search["confidence"], "strategy": search["strategy"]}
    return {"search": search, "answer": result, "history": [entry]}


def build_graph(checkpointer=None):
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("prepare", prepare)
    builder.add_node("plan", plan)
    builder.add_node("search_step", search_step)
    builder.add_node("answer", answer)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "plan")
    builder.add_edge("plan", "search_step")
    builder.add_conditional_edges("search_step", route_search, ["search_step", "answer"])
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


graph = build_graph()  # for LangGraph Studio / Server (langgraph.json)
