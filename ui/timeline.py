"""The search timeline: what a search looked at, drawn over the video's time axis as plain HTML.

One row per lane of the trace that has marks (each trace entry names its lane: `agentime.search.base.LANES`) (frames the main model looked at, coloured by how relevant
it found them; parts it zoomed into; its self-checks; the draft model's scans and proposals; the main model's
verdicts on them; the answer's moments and evidence frames), with a title, a legend in plain words and a time
axis. Text is HTML text, so it stays readable at any width. Every row is clickable: a click plays the video
from that moment (the page's script reads `data-t` or the click's position and `data-duration`); evidence
frames and answer moments are buttons, reachable by keyboard. Pure function of an answer's trace; no Gradio.
"""

from __future__ import annotations

from html import escape

MAX_MARKS_PER_ROW = 400  # beyond this, marks are merged (a long exhaustive scan would be thousands)

ROWS = {  # key: (row title, legend text, swatch colour)
    "looked": ("Frames the main model looked at", "a frame the main model looked at; darker orange = more "
               "relevant to the question", "rgb(214,96,20)"),
    "zoom": ("Parts it looked at closely", "a part of the video it zoomed into", "#6c8ebf"),
    "check": ("Self-checks", "the model checked how sure it was", "#9673a6"),
    "draft": ("Quick scans by the small model", "scanned by the small draft model; a darker mark is a frame it "
              "proposed", "#b58900"),
    "verdict": ("Main model's verdicts", "green: the main model agreed with a proposed frame, red: it did not",
                "#2e7d32"),
    "answer": ("Answer", "the moments of the answer, and its evidence frames (buttons)", "#1b5e20"),
    "speech": ("What was said", "a transcript line matching the question (a button plays the video there)",
               "#00838f"),
}


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _relevance_colour(score: float) -> str:
    s = min(1.0, max(0.0, float(score)))
    return f"rgb({int(250 - 36 * s)},{int(220 - 124 * s)},{int(180 - 160 * s)})"


class _Rows:
    def __init__(self, duration: float):
        self.duration = max(float(duration), 1e-6)
        self.marks: dict[str, list[str]] = {key: [] for key in ROWS}

    def pct(self, t: float) -> float:
        return 100.0 * min(max(float(t), 0.0), self.duration) / self.duration

    def span(self, row: str, start: float, end: float, colour: str, title: str, opacity: float = 0.45) -> None:
        left, right = self.pct(start), self.pct(end)
        self.marks[row].append(f'<span class="tl-span" style="left:{left:.2f}%;width:{max(right - left, 0.4):.2f}%;'
                               f'background:{colour};opacity:{opacity}" data-t="{start:.3f}" '
                               f'title="{escape(title)}"></span>')

    def tick(self, row: str, t: float, colour: str, title: str) -> None:
        self.marks[row].append(f'<span class="tl-tick" style="left:{self.pct(t):.2f}%;background:{colour}" '
                               f'data-t="{t:.3f}" title="{escape(title)}"></span>')

    def button(self, row: str, t: float, label: str) -> None:
        self.marks[row].append(f'<button type="button" class="tl-dot" style="left:{self.pct(t):.2f}%" '
                               f'data-t="{t:.3f}" aria-label="{escape(label)}" title="{escape(label)}"></button>')


def _looked(rows: _Rows, times, scores) -> None:
    pairs = list(zip(times, scores, strict=False))
    if len(pairs) > MAX_MARKS_PER_ROW:  # keep the most relevant ones
        pairs = sorted(pairs, key=lambda p: -float(p[1]))[:MAX_MARKS_PER_ROW]
    for t, s in pairs:
        rows.tick("looked", t, _relevance_colour(s), f"{clock(t)}: relevance {float(s):.2f}")


def _draw_step(rows: _Rows, step: dict) -> None:
    lane, times, scores = step.get("lane"), step.get("times") or [], step.get("scores") or []
    extra = step.get("extra") or {}
    one_score_each = bool(scores) and len(scores) == len(times)
    if lane == "looked" and one_score_each:
        _looked(rows, times, scores)
    elif lane == "looked" and len(times) >= 2:
        rows.span("looked", times[0], times[-1], _relevance_colour(0.3),
                  f"looked at every frame {clock(times[0])}–{clock(times[-1])}")
    if extra.get("segment"):
        a, b = extra["segment"]
        rows.span("zoom", a, b, ROWS["zoom"][2], f"looked closely at {clock(a)}–{clock(b)}")
    if lane == "check" and times:
        confidence = float(scores[0]) if scores else 0.0
        rows.tick("check", sum(times) / len(times), ROWS["check"][2],
                  f"self-check around {clock(sum(times) / len(times))}: {confidence:.0%} sure")
    if lane == "draft" and one_score_each:
        for t in times:
            rows.tick("draft", t, "#7a5c00", f"small model proposed {clock(t)}")
    elif lane == "draft" and len(times) >= 2:
        rows.span("draft", times[0], times[-1], ROWS["draft"][2], f"small model scanned {clock(times[0])}–"
                  f"{clock(times[-1])}", opacity=0.3)
    if lane == "verdict":
        rejected = set(extra.get("rejected") or [])
        for t in times:
            rows.tick("draft", t, "#7a5c00", f"small model proposed {clock(t)}")
            agreed = t not in rejected
            rows.tick("verdict", t, "#2e7d32" if agreed else "#c62828",
                      f"main model {'agreed with' if agreed else 'rejected'} the frame at {clock(t)}")


def timeline_html(trace: list[dict], duration: float, spans=(), evidence_times=(), speech=()) -> str:
    """The timeline of the search described by `trace` over a video of `duration` seconds, as HTML; `speech`
    holds (start, end, text) of the transcript lines behind the answer (a speech lane)."""
    rows = _Rows(duration)
    for step in trace or []:
        _draw_step(rows, step)
    for a, b in spans:
        rows.span("answer", a, b, ROWS["answer"][2], f"answer moment {clock(a)}–{clock(b)}")
    for t in evidence_times:
        rows.button("answer", t, f"play from {clock(t)} (evidence frame)")
    for start, end, text in speech:
        rows.span("speech", start, end, ROWS["speech"][2], f"said {clock(start)}–{clock(end)}: {text}")
        rows.button("speech", start, f"play from {clock(start)} (said: {text[:80]})")
    used = [key for key in ROWS if rows.marks[key]]
    parts = ['<figure class="tl"><figcaption class="tl-title">Where the search looked '
             '<span class="tl-hint">(select a row to play the video from that moment)</span></figcaption>',
             '<ul class="tl-legend">']
    for key in used:
        parts.append(f'<li><span class="tl-swatch" style="background:{ROWS[key][2]}"></span>{escape(ROWS[key][1])}</li>')
    parts.append("</ul>")
    for key in used:
        parts.append(f'<div class="tl-row"><div class="tl-name">{escape(ROWS[key][0])}</div>'
                     f'<div class="tl-track" data-duration="{rows.duration:.3f}">{"".join(rows.marks[key])}</div></div>')
    parts.append('<div class="tl-axis" aria-hidden="true">')
    for k in range(5):
        left = 25.0 * k
        align = "left" if k == 0 else "right" if k == 4 else "center"
        parts.append(f'<span class="tl-time tl-{align}" style="left:{left:.0f}%">{clock(duration * k / 4)}</span>')
    parts.append("</div></figure>")
    return "".join(parts)


TIMELINE_CSS = """
.tl {margin: 0; font-size: 14px}
.tl-title {font-weight: 600; margin-bottom: 4px}
.tl-hint {font-weight: 400}
.tl-legend {list-style: none; padding: 0; margin: 4px 0 8px; display: flex; flex-wrap: wrap; gap: 4px 16px}
.tl-legend li {display: flex; align-items: center; gap: 6px}
.tl-swatch {display: inline-block; width: 14px; height: 14px; border-radius: 3px; flex: none}
.tl-row {margin: 2px 0}
.tl-name {font-size: 13px}
.tl-track {position: relative; height: 22px; background: #f1f1f1; border-radius: 3px; cursor: pointer}
.tl-tick {position: absolute; top: 3px; bottom: 3px; width: 3px; margin-left: -1px}
.tl-span {position: absolute; top: 3px; bottom: 3px; border-radius: 2px}
.tl-dot {position: absolute; top: 3px; width: 16px; height: 16px; margin-left: -8px; border-radius: 50%;
         background: #1b5e20; border: 2px solid #fff; padding: 0; cursor: pointer}
.tl-dot:focus-visible {outline: 3px solid #1d4ed8}
.tl-axis {position: relative; height: 20px; font-size: 13px}
.tl-time {position: absolute; top: 2px; white-space: nowrap}
.tl-center {transform: translateX(-50%)}
.tl-right {transform: translateX(-100%)}
"""
