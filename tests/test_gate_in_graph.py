"""The timing gate is the agent graph's first node: the command line, the library and the web UI's chat give the
same decision on the same conversation, and the turns it decides on are kept in the (checkpointed) graph state."""

from __future__ import annotations

import json

import pytest

from agentime.agent.graph import build_graph
from agentime.api import Session
from agentime.config import Config, TimingConfig
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import WorldConfig, generate_world, write_video

RULE = TimingConfig(gate="always", use_policy=False)  # the plain rule: the same decision whatever the clock


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    world = generate_world(77, WorldConfig(minutes=3, needles=1, groundings=2, orders=1, counts=1))
    folder = tmp_path_factory.mktemp("gate")
    path = write_video(world, folder / "chat.mp4")
    questions = [q for q in make_questions(world, "chat", 77) if q["task_type"] == "grounding"]
    first, other = questions[0], questions[1]
    return path, world, [first, first, other]  # a question, the same again, then another one


def models(world):
    return {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}


def decision(trace: list[dict]) -> tuple[bool, str]:
    gate = trace[0]
    assert gate["step"] == "timing_gate"
    return gate["extra"]["refreshed"], gate["note"]


def test_the_graph_starts_at_the_gate():
    mermaid = build_graph().get_graph().draw_mermaid()
    assert "__start__ --> gate;" in mermaid and "gate -.-> reuse;" in mermaid and "gate -.-> prepare;" in mermaid


def test_cli_api_and_ui_decide_alike_on_the_same_conversation(conversation, tmp_path, monkeypatch, capsys):
    from agentime import api
    from agentime.cli import main
    from ui import callbacks
    from ui.settings import UISettings

    path, world, asked = conversation
    session = Session(path, models=models(world), config=Config(cache_dir=tmp_path / "api", timing=RULE))
    from_api = [decision(session.ask(q["question"], options=q["options"], strategy="uniform", budget=8).trace)
                for q in asked]
    assert [refreshed for refreshed, _ in from_api] == [True, False, True]
    assert len(session.turns) == 3 and not session.turns[1].called_tools

    monkeypatch.setattr(api, "load_model_roles", lambda specs, verbose=False: models(world))
    from_cli = []
    capsys.readouterr()
    for q in asked:  # one run per question; the conversation lives in the checkpoint file
        assert main(["ask", str(path), q["question"], "--options", *q["options"], "--strategy", "uniform",
                     "--budget", "8", "--cache", str(tmp_path / "cli"), "--quiet", "--json",
                     "--checkpoint", str(tmp_path / "cli.sqlite"), "--set", "timing.gate=always",
                     "--set", "timing.use_policy=false"]) == 0
        from_cli.append(decision(json.loads(capsys.readouterr().out)["trace"]))

    monkeypatch.setattr(callbacks, "load_models", lambda choice, settings: models(world))
    settings = UISettings(allowed_dirs=(path.parent,), cache_dir=tmp_path / "ui", config=Config(timing=RULE))
    runtime = callbacks.Runtime(settings)
    state = callbacks.choose_path(str(path), False, None, runtime)["state"]
    from_ui = []
    for q in asked:
        options = "\n".join(q["options"])
        last = list(callbacks.ask(q["question"], options, "uniform", 8, "", "", "", "", "", state, runtime))[-1]
        assert last["status"] in ("Done.", "Answered from what was already found, without searching the video "
                                  "again."), last["status"]
        turn = state.session.turns[-1]
        from_ui.append((turn.called_tools, turn.reason))
    assert from_cli == from_api == from_ui
