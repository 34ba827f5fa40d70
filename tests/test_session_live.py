"""A Session on a growing recording: the time-aware gate decides per question between refreshing (new
footage ingested, video searched again) and answering from the evidence already gathered."""

from datetime import datetime, timedelta, timezone

import pytest

from agentime.api import Session
from agentime.config import Config
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.world import WorldConfig, generate_world, write_video


class FakeClock:
    def __init__(self):
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    world = generate_world(61, WorldConfig(minutes=4, needles=1, groundings=2, orders=1, counts=1))
    folder = tmp_path_factory.mktemp("live_session")
    early, late = sorted(world.events["grounding"], key=lambda e: e["span"][0])
    cut = (early["span"][1] + late["span"][0]) / 2
    partial = write_video(world, folder / "partial.mp4", fragmented=True, until=cut)
    finished = write_video(world, folder / "finished.mp4", fragmented=True)
    return partial.read_bytes(), finished.read_bytes(), world


def test_gate_refreshes_on_new_footage_and_reuses_known_answers(recording, tmp_path):
    partial, finished, world = recording
    early, late = sorted(world.events["grounding"], key=lambda e: e["span"][0])
    live = tmp_path / "recording.mp4"
    live.write_bytes(partial)
    clock = FakeClock()
    models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}
    session = Session(live, models=models, config=Config(cache_dir=tmp_path / "cache"), live=True, clock=clock)
    assert early["span"][1] < session_duration(live) < late["span"][0], "fixture: the late event is not recorded yet"

    first = session.ask(f"When does the {early['object']} first appear?", strategy="timesearch", budget=24)
    gate = first.trace[0]
    assert gate["step"] == "timing_gate" and gate["extra"]["refreshed"]
    assert first.spans and first.spans[0][0] <= early["span"][1] and first.spans[0][1] >= early["span"][0]

    clock.advance(seconds=5)
    again = session.ask(f"When does the {early['object']} first appear?", strategy="timesearch", budget=24)
    assert not again.trace[0]["extra"]["refreshed"], again.trace[0]["note"]
    assert again.spans == first.spans and again.stats["target_frames"] == 0

    live.write_bytes(finished)  # the recorder went on
    clock.advance(hours=2)
    later = session.ask(f"When does the {late['object']} first appear?", strategy="timesearch", budget=24)
    assert later.trace[0]["extra"]["refreshed"], later.trace[0]["note"]
    assert later.trace[0]["note"]
    assert later.spans and later.spans[0][0] <= late["span"][1] and later.spans[0][1] >= late["span"][0]


def session_duration(path) -> float:
    import warnings

    from agentime.video.source import open_video

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_video(path, allow_truncated=True).info.duration
