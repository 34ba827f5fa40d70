"""The search timeline: one SVG drawing of what a search looked at, over the video's time axis.

Lanes, top to bottom: frames the target scored (colour = relevance), spotlighted segments, reflection
confidences, draft scans and proposals, target verifications (green accepted, red overruled), and the final
spans with the evidence frames. Pure function of an `Answer`'s trace; no Gradio here.
"""

from __future__ import annotations

from html import escape

WIDTH, LEFT, RIGHT, LANE, TOP = 920, 120, 16, 30, 10
LANES = ("target looked", "spotlight", "reflection", "draft", "verification", "answer")
LOOK_STEPS = ("overview", "spotlight", "zoom", "first_look", "uniform")


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _colour(score: float) -> str:
    s = min(1.0, max(0.0, float(score)))
    r, g, b = int(200 + 55 * s), int(200 - 90 * s), int(200 - 180 * s)
    return f"rgb({r},{g},{b})"


class _Canvas:
    def __init__(self, duration: float):
        self.duration = max(duration, 1e-6)
        self.items: list[str] = []

    def x(self, t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(t, 0.0), self.duration) / self.duration

    def y(self, lane: int) -> float:
        return TOP + lane * LANE

    def rect(self, lane, start, end, fill, title, opacity=0.8, inset=6):
        x0, x1 = self.x(start), self.x(end)
        self.items.append(f'<rect x="{x0:.1f}" y="{self.y(lane) + inset:.1f}" width="{max(2.0, x1 - x0):.1f}" '
                          f'height="{LANE - 2 * inset}" fill="{fill}" fill-opacity="{opacity}">'
                          f'<title>{escape(title)}</title></rect>')

    def tick(self, lane, t, colour, title, width=2):
        x = self.x(t)
        self.items.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.y(lane) + 4}" y2="{self.y(lane) + LANE - 4}" '
                          f'stroke="{colour}" stroke-width="{width}"><title>{escape(title)}</title></line>')

    def dot(self, lane, t, colour, title, label=None):
        x, y = self.x(t), self.y(lane) + LANE / 2
        self.items.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"><title>{escape(title)}</title>'
                          "</circle>")
        if label:
            self.items.append(f'<text x="{x + 7:.1f}" y="{y + 4:.1f}" font-size="11">{escape(label)}</text>')


def timeline_svg(trace: list[dict], duration: float, spans=(), evidence_times=()) -> str:
    """An SVG (as text) of the search described by `trace` over a video of `duration` seconds."""
    c = _Canvas(duration)
    for step in trace:
        kind, times, scores = step.get("step"), step.get("times") or [], step.get("scores") or []
        if kind in LOOK_STEPS:
            for t, s in zip(times, scores, strict=False):
                c.tick(0, t, _colour(s), f"{kind} at {clock(t)}: relevance {s:.2f}")
        if kind == "score_all" and len(times) >= 2:
            c.rect(0, times[0], times[-1], _colour(scores[0] if scores else 0), f"scored every frame "
                   f"{clock(times[0])}-{clock(times[-1])}", opacity=0.5)
        if kind == "spotlight" and step.get("extra", {}).get("segment"):
            a, b = step["extra"]["segment"]
            c.rect(1, a, b, "#6c8ebf", f"spotlight {clock(a)}-{clock(b)}: {step.get('note', '')}", opacity=0.35)
        if kind == "reflect" and times:
            confidence = scores[0] if scores else 0.0
            mid = sum(times) / len(times)
            c.dot(2, mid, "#9673a6", f"reflection: confidence {confidence:.2f} ({step.get('note', '')})",
                  f"{confidence:.2f}")
        if kind == "draft_scan" and len(times) >= 2:
            c.rect(3, times[0], times[-1], "#d6b656", f"draft scan: {step.get('note', '')}", opacity=0.4, inset=10)
        if kind == "verify":
            rejected = set(step.get("extra", {}).get("rejected") or [])
            for t, s in zip(times, scores, strict=False):
                c.tick(3, t, "#b58900", f"draft proposed {clock(t)}", width=3)
                ok = t not in rejected
                c.tick(4, t, "#2e7d32" if ok else "#c62828",
                       f"target {'accepted' if ok else 'overruled'} {clock(t)} (score {s:.2f})", width=3)
    for a, b in spans:
        c.rect(5, a, b, "#2e7d32", f"answer span {clock(a)}-{clock(b)}", opacity=0.45)
    for t in evidence_times:
        c.dot(5, t, "#1b5e20", f"evidence frame at {clock(t)}")
    height = TOP + LANE * len(LANES) + 24
    axis_y = TOP + LANE * len(LANES)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
             f'role="img" aria-label="search timeline" font-family="sans-serif">']
    for i, name in enumerate(LANES):
        y = c.y(i)
        parts.append(f'<rect x="{LEFT}" y="{y + 2}" width="{WIDTH - LEFT - RIGHT}" height="{LANE - 4}" '
                     f'fill="{"#f4f4f4" if i % 2 else "#fafafa"}"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + LANE / 2 + 4}" font-size="12" text-anchor="end">{name}</text>')
    for k in range(6):
        t = duration * k / 5
        x = c.x(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{axis_y}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}" font-size="11" text-anchor="middle">{clock(t)}</text>')
    parts += c.items
    parts.append("</svg>")
    return "".join(parts)
