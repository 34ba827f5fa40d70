"""The synthetic long-video world: a seeded timeline of scenes, moving shapes and on-screen text.

`generate_world(seed, minutes)` builds the timeline (what is visible when), `World.render(t)` draws the frame
shown at time `t`, and `write_video` encodes it as H.264 with a chosen keyframe spacing. Questions about a
world are made by `synthetic_questions.py`; this module knows nothing about questions or models.

Events that questions are asked about use shape x colour combinations reserved for them, so the ground truth
is exact: a needle combination is on screen once for a few seconds, a counted one exactly k times, and so on.
Every other combination may appear anywhere as a distractor.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 185, 60),
    "blue": (45, 95, 235),
    "yellow": (245, 225, 35),
    "purple": (155, 60, 205),
    "orange": (250, 140, 25),
    "white": (245, 245, 245),
    "pink": (250, 130, 195),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "gray": (95, 95, 95),
    "navy": (25, 30, 75),
    "brown": (95, 62, 40),
    "teal": (20, 95, 95),
    "black": (12, 12, 12),
    "olive": (90, 90, 30),
}
WORDS = ("CAT", "SUN", "MAP", "BOX", "KEY", "FOX", "JAM", "OWL", "HAT", "CUP")

MAX_APPEARANCE_SECONDS = 40.0


@dataclass(frozen=True)
class Appearance:
    """One continuous stretch during which an object is on screen, moving from (x0, y0) to (x1, y1)."""

    shape: str
    colour: str
    start: float
    end: float
    size: int
    x0: float
    y0: float
    x1: float
    y1: float
    role: str = "common"

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    def position(self, t: float) -> tuple[int, int]:
        u = 0.0 if self.end <= self.start else min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))
        return int(round(self.x0 + u * (self.x1 - self.x0))), int(round(self.y0 + u * (self.y1 - self.y0)))


@dataclass(frozen=True)
class Caption:
    """Text (a number or a word) shown large at the top of the frame between `start` and `end`."""

    text: str
    start: float
    end: float
    role: str = "common"


@dataclass(frozen=True)
class Scene:
    start: float
    end: float
    background: str


@dataclass
class World:
    """A whole video's content: scenes, object appearances and captions, all times in seconds."""

    seed: int
    duration: float
    fps: float
    width: int
    height: int
    scenes: list[Scene]
    appearances: list[Appearance]
    captions: list[Caption]
    events: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.appearances.sort(key=lambda a: (a.start, a.end))
        self.captions.sort(key=lambda c: c.start)
        self.scenes.sort(key=lambda s: s.start)
        self._starts = [a.start for a in self.appearances]

    @property
    def frame_count(self) -> int:
        return int(math.floor(self.duration * self.fps + 1e-9))

    def frame_time(self, index: int) -> float:
        return index / self.fps

    def scene_at(self, t: float) -> Scene:
        for scene in self.scenes:
            if scene.start <= t < scene.end:
                return scene
        return self.scenes[-1]

    def visible_at(self, t: float) -> list[Appearance]:
        import bisect

        hi = bisect.bisect_right(self._starts, t)
        lo = bisect.bisect_left(self._starts, t - MAX_APPEARANCE_SECONDS)
        return [a for a in self.appearances[lo:hi] if a.start <= t < a.end]

    def captions_at(self, t: float) -> list[Caption]:
        return [c for c in self.captions if c.start <= t < c.end]

    def render(self, t: float) -> np.ndarray:
        """The RGB frame shown at time `t` (uint8, height x width x 3)."""
        import cv2

        image = np.empty((self.height, self.width, 3), np.uint8)
        image[:] = BACKGROUNDS[self.scene_at(t).background]
        for appearance in self.visible_at(t):
            draw_shape(image, appearance.shape, COLOURS[appearance.colour], appearance.position(t), appearance.size)
        for caption in self.captions_at(t):
            scale = self.height / 80  # digits about 28% of the frame height: readable at 64 px
            thickness = max(2, int(round(scale * 2.5)))
            (w, h), base = cv2.getTextSize(caption.text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            x = (self.width - w) // 2
            cv2.rectangle(image, (x - 6, 4), (x + w + 6, h + base + 12), (0, 0, 0), thickness=-1)
            cv2.putText(image, caption.text, (x, h + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        thickness, cv2.LINE_AA)
        return image

    def to_json(self) -> dict:
        return {
            "seed": self.seed, "duration": self.duration, "fps": self.fps, "width": self.width,
            "height": self.height, "scenes": [asdict(s) for s in self.scenes],
            "appearances": [asdict(a) for a in self.appearances], "captions": [asdict(c) for c in self.captions],
            "events": self.events,
        }

    @classmethod
    def from_json(cls, data: dict) -> World:
        return cls(
            seed=data["seed"], duration=data["duration"], fps=data["fps"], width=data["width"],
            height=data["height"], scenes=[Scene(**s) for s in data["scenes"]],
            appearances=[Appearance(**a) for a in data["appearances"]],
            captions=[Caption(**c) for c in data["captions"]], events=data.get("events", {}),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | Path) -> World:
        return cls.from_json(json.loads(Path(path).read_text()))


def draw_shape(image: np.ndarray, shape: str, colour: tuple[int, int, int], centre: tuple[int, int], size: int) -> None:
    """Draw a filled, anti-aliased shape of about `size` pixels across centred at `centre`."""
    import cv2

    cx, cy = centre
    r = size / 2
    if shape == "circle":
        cv2.circle(image, (cx, cy), int(r), colour, thickness=-1, lineType=cv2.LINE_AA)
        return
    if shape == "square":
        points = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    elif shape == "diamond":
        points = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    elif shape == "triangle":
        points = [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    elif shape == "hexagon":
        points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    elif shape == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    polygon = np.array([[int(round(x)), int(round(y))] for x, y in points], np.int32)
    cv2.fillPoly(image, [polygon], colour, lineType=cv2.LINE_AA)


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the generator; the defaults make the benchmark videos."""

    minutes: float = 10.0
    fps: float = 4.0
    width: int = 320
    height: int = 240
    scene_seconds: tuple[float, float] = (20.0, 75.0)
    needles: int = 2
    groundings: int = 2
    orders: int = 2
    counts: int = 2
    # A library hands each video objects of its own for the events, and one shared pool for the rest, so
    # that a question about an event names exactly one video of the library (empty: drawn from all).
    reserved: tuple[tuple[str, str], ...] = ()
    common: tuple[tuple[str, str], ...] = ()


def _moving_path(rng: random.Random, cfg: WorldConfig, size: int) -> tuple[float, float, float, float]:
    margin = size / 2 + 2
    top = cfg.height * 0.36 + margin  # keep objects below the caption band
    xs = [rng.uniform(margin, cfg.width - margin) for _ in range(2)]
    ys = [rng.uniform(top, cfg.height - margin) for _ in range(2)]
    return xs[0], ys[0], xs[1], ys[1]


def _appearance(rng: random.Random, cfg: WorldConfig, shape: str, colour: str, start: float, end: float,
                role: str = "common") -> Appearance:
    size = rng.randint(int(cfg.height * 0.24), int(cfg.height * 0.36))
    return Appearance(shape, colour, round(start, 3), round(end, 3), size, *_moving_path(rng, cfg, size), role=role)


def generate_world(seed: int, config: WorldConfig | None = None) -> World:
    """A deterministic world for `seed`: same seed and config, same timeline, same pixels."""
    cfg = config or WorldConfig()
    rng = random.Random(seed)
    duration = round(cfg.minutes * 60.0, 3)
    if duration < 60:
        raise ValueError("a synthetic video must last at least one minute")

    event_count = cfg.needles + cfg.groundings + cfg.orders
    low, high = cfg.scene_seconds
    needed_scenes = event_count + cfg.counts + 3
    if duration / ((low + high) / 2) < needed_scenes:  # short videos: shorter scenes, same events
        high = max(12.0, duration / needed_scenes)
        low = high * 0.7
    scenes: list[Scene] = []
    t = 0.0
    previous = None
    while t < duration:
        length = rng.uniform(low, high)
        end = min(duration, t + length)
        if duration - end < low / 2:
            end = duration
        background = rng.choice([b for b in BACKGROUNDS if b != previous])
        scenes.append(Scene(round(t, 3), round(end, 3), background))
        previous, t = background, end

    combos = [(s, c) for s in SHAPES for c in COLOURS]
    rng.shuffle(combos)
    wanted = cfg.needles + cfg.groundings + cfg.orders * 2 + cfg.counts
    reserved, common = combos[:wanted], combos[wanted:]
    if cfg.reserved:
        if len(cfg.reserved) < wanted or not cfg.common:
            raise ValueError(f"the world needs {wanted} reserved objects and a common pool")
        reserved, common = list(cfg.reserved), list(cfg.common)

    # Event scenes hold the reserved events; they never also hold common objects, so "right after" and
    # "first appears" have exactly one answer. Keep the first and last scene for common content.
    candidates = list(range(1, len(scenes) - 1)) if len(scenes) > 2 else list(range(len(scenes)))
    if len(candidates) < event_count + cfg.counts:
        raise ValueError(f"{cfg.minutes} minutes is too short for {event_count} events; use a longer video")
    event_scenes = sorted(rng.sample(candidates, event_count))
    rng.shuffle(event_scenes)

    appearances: list[Appearance] = []
    captions: list[Caption] = []
    events: dict[str, list[dict]] = {"needle": [], "grounding": [], "order": [], "count": []}
    pick = iter(reserved)

    for _ in range(cfg.needles):
        scene = scenes[event_scenes.pop()]
        shape, colour = next(pick)
        length = rng.uniform(3.0, 5.0)
        start = rng.uniform(scene.start + 2, max(scene.start + 2, scene.end - length - 2))
        number = str(rng.randint(10, 99))
        appearances.append(_appearance(rng, cfg, shape, colour, start, start + length, role="needle"))
        captions.append(Caption(number, round(start, 3), round(start + length, 3), role="needle"))
        events["needle"].append({"object": f"{colour} {shape}", "text": number, "span": [round(start, 3), round(start + length, 3)]})

    for _ in range(cfg.groundings):
        scene = scenes[event_scenes.pop()]
        shape, colour = next(pick)
        length = rng.uniform(6.0, 15.0)
        start = rng.uniform(scene.start + 2, max(scene.start + 2, scene.end - length - 2))
        appearances.append(_appearance(rng, cfg, shape, colour, start, start + length, role="grounding"))
        events["grounding"].append({"object": f"{colour} {shape}", "span": [round(start, 3), round(start + length, 3)]})

    for _ in range(cfg.orders):
        scene = scenes[event_scenes.pop()]
        (shape_a, colour_a), (shape_b, colour_b) = next(pick), next(pick)
        room = scene.end - scene.start - 4
        first = min(10.0, room * 0.4)
        gap = min(3.0, room * 0.1)
        second = min(10.0, room * 0.4)
        start = scene.start + 2
        appearances.append(_appearance(rng, cfg, shape_a, colour_a, start, start + first, role="order_first"))
        appearances.append(_appearance(rng, cfg, shape_b, colour_b, start + first + gap,
                                       start + first + gap + second, role="order_next"))
        events["order"].append({"object": f"{colour_a} {shape_a}", "next": f"{colour_b} {shape_b}",
                                "span": [round(start, 3), round(start + first + gap + second, 3)]})

    common_scenes = [s for s in scenes if not any(s.start <= a.start < s.end for a in appearances)]

    for shape, colour in [next(pick) for _ in range(cfg.counts)]:
        times = rng.randint(1, 5)
        chosen = rng.sample(common_scenes, min(times, len(common_scenes)))
        spans = []
        for scene in sorted(chosen, key=lambda s: s.start):
            length = min(rng.uniform(5.0, 12.0), scene.end - scene.start - 2)
            start = rng.uniform(scene.start + 1, scene.end - length - 1)
            appearances.append(_appearance(rng, cfg, shape, colour, start, start + length, role="count"))
            spans.append([round(start, 3), round(start + length, 3)])
        events["count"].append({"object": f"{colour} {shape}", "count": len(spans), "spans": spans})

    for scene in common_scenes:
        for _ in range(rng.randint(1, 3)):
            shape, colour = rng.choice(common)
            length = min(rng.uniform(5.0, MAX_APPEARANCE_SECONDS), scene.end - scene.start - 1)
            start = rng.uniform(scene.start, scene.end - length)
            appearances.append(_appearance(rng, cfg, shape, colour, start, start + length))
        if rng.random() < 0.35:
            length = rng.uniform(3.0, 8.0)
            start = rng.uniform(scene.start, max(scene.start, scene.end - length))
            text = rng.choice(WORDS) if rng.random() < 0.5 else str(rng.randint(10, 99))
            captions.append(Caption(text, round(start, 3), round(start + length, 3)))

    return World(seed, duration, cfg.fps, cfg.width, cfg.height, scenes, appearances, captions, events)


def write_video(world: World, path: str | Path, *, gop_seconds: float = 5.0, crf: int = 23,
                fragmented: bool = False, progress: bool = False, until: float | None = None) -> Path:
    """Encode the world as H.264 (yuv420p) with a keyframe every `gop_seconds`.

    `fragmented=True` writes a fragmented MP4, which stays readable while it grows (a live recording).
    `until` stops early (seconds), for partial recordings.
    """
    import av
    from tqdm import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(world.fps).limit_denominator(1000)
    gop = max(1, int(round(gop_seconds * world.fps)))
    options = {"crf": str(crf), "preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
               "bf": "3", "x264-params": "b-adapt=0:b-pyramid=none"}
    container_options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {"movflags": "+faststart"}
    frames = world.frame_count if until is None else min(world.frame_count, int(until * world.fps))
    with av.open(str(path), "w", options=container_options) as container:
        stream = container.add_stream("libx264", rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = world.width, world.height, "yuv420p"
        for index in tqdm(range(frames), desc=f"encoding {path.name}", unit="frame", disable=not progress):
            frame = av.VideoFrame.from_ndarray(world.render(world.frame_time(index)), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
