"""Session checkpoints that were cut off, emptied or damaged are refused by name, never read as empty."""

import shutil

import pytest

from agentime.api import Session, list_sessions
from agentime.config import Config
from agentime.errors import AgentimeError, CheckpointError
from oracle_models import OracleEmbedder, OracleVLM

QUESTION = "When does the red circle appear?"


@pytest.fixture(scope="module")
def saved(synthetic_video, tmp_path_factory):
    """A checkpoint file holding one answered question of session s1, and how to open a session on it."""
    path, world = synthetic_video
    folder = tmp_path_factory.mktemp("checkpoint")
    models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}

    def open_session(checkpoint, session_id="s1"):
        return Session(path, models=models, config=Config(cache_dir=folder / "cache"), session_id=session_id,
                       checkpoint=checkpoint)

    session = open_session(folder / "good.sqlite")
    session.ask(QUESTION, strategy="uniform", budget=8)
    session.close()
    return folder / "good.sqlite", open_session


def damaged_copy(saved, tmp_path, change):
    good, _ = saved
    target = tmp_path / "sessions.sqlite"
    shutil.copyfile(good, target)
    data = bytearray(target.read_bytes())
    target.write_bytes(change(data))
    return target


def assert_refused(open_session, checkpoint):
    with pytest.raises(CheckpointError) as caught:
        open_session(checkpoint)
    message = str(caught.value)
    assert str(checkpoint) in message and "fresh session" in message
    return message


def test_intact_checkpoint_restores_and_lists(saved):
    good, open_session = saved
    session = open_session(good)
    assert [h["question"] for h in session.history] == [QUESTION]
    session.close()
    assert list_sessions(good) == [{"session_id": "s1", "questions": 1}]


def test_empty_checkpoint_is_refused_not_read_as_a_new_session(saved, tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    assert "empty" in assert_refused(saved[1], empty)
    with pytest.raises(CheckpointError):
        list_sessions(empty)


@pytest.mark.parametrize("keep", [0.5, 0.9, 100 / 4096])
def test_truncated_checkpoint_is_refused(saved, tmp_path, keep):
    cut = damaged_copy(saved, tmp_path, lambda data: data[:max(100, int(len(data) * keep))])
    assert_refused(saved[1], cut)
    with pytest.raises(CheckpointError):
        list_sessions(cut)


def flip_inside(marker: bytes, offset: int = 2):
    def change(data):
        at = bytes(data).index(marker)
        data[at + offset] ^= 0x20
        return bytes(data)
    return change


@pytest.mark.parametrize("marker,offset", [(QUESTION.encode(), 2), (b'"source"', 0), (b"SQLite format 3", 2)])
def test_flipped_bytes_are_found_and_listing_raises_the_specific_error(saved, tmp_path, marker, offset):
    """A flipped byte inside a stored answer (digest), inside the step metadata (JSON) or in the header."""
    damaged = damaged_copy(saved, tmp_path, flip_inside(marker, offset))
    assert_refused(saved[1], damaged)
    with pytest.raises(CheckpointError) as caught:
        list_sessions(damaged)
    assert not isinstance(caught.value, ValueError) and isinstance(caught.value, AgentimeError)


def test_foreign_files_and_folders_are_refused(saved, tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("these are my notes, not a database\n" * 10)
    assert "not a session checkpoint" in assert_refused(saved[1], text)
    with pytest.raises(CheckpointError, match="folder"):
        saved[1](tmp_path)


def test_missing_checkpoint_starts_a_fresh_session(saved, tmp_path):
    session = saved[1](tmp_path / "new" / "sessions.sqlite")
    assert session.history == []
    session.close()
