"""Calibrate when a transcript line found for an open question about speech reads as the answer.

    python -m pipelines.bench.speech_confidence --bench DIR [--bench DIR ...] [--json]

On benchmarks made with `make_benchmark --speech`, every `speech` question of a benchmark is asked, without
options, of every video's transcript (the subtitles beside it): where that video's narration says the fact the
question asks for, the best matching line should be that fact's line (a right answer); where it does not (each
video says only some of the facts), no line answers and the answer should say it is unsure. For each asking:
the best line's similarity and its margin over the best line with other words. Prints, for the rule
`agentime.speech.answer` uses (similarity >= CLEAR_MATCH and margin >= CLEAR_MARGIN), how many right lines
read as answers and how many wrong ones would have, and the same for a few other thresholds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agentime.speech.answer import CLEAR_MARGIN, CLEAR_MATCH, match_margin
from agentime.speech.index import SpeechIndex
from agentime.speech.search import speech_queries
from agentime.speech.segments import SpeechSegment, Transcript
from agentime.speech.sources import read_subtitle_file


def transcript_of(srt: Path) -> Transcript:
    cues = read_subtitle_file(srt).cues
    return Transcript([SpeechSegment(c.start, c.end, c.text) for c in cues], source="sidecar")


def askings(benches: list[Path]) -> list[dict]:
    rows = []
    for bench in benches:
        questions = [q for q in json.loads((bench / "questions.json").read_text()) if q["task_type"] == "speech"]
        facts = {(q["video_id"], q["question"]): q["answer_text"] for q in questions}
        for srt in sorted((bench / "videos").glob("*.srt")):
            index = SpeechIndex.build(transcript_of(srt))
            for question in sorted({q["question"] for q in questions}):
                matches = index.matches(speech_queries(question), k=8)
                best, margin = matches[0], match_margin(matches)
                said = facts.get((srt.stem, question))
                rows.append({"video": srt.stem, "question": question, "line": best.segment.text,
                             "score": round(best.score, 4), "margin": round(margin, 4),
                             "answerable": said is not None, "right": said is not None and said in best.segment.text})
    return rows


def rule_figures(rows: list[dict], match: float, margin: float) -> dict:
    clear = [r for r in rows if r["score"] >= match and r["margin"] >= margin]
    right = [r for r in rows if r["right"]]
    return {"clear_match": match, "clear_margin": margin, "clear": len(clear),
            "right_read_as_answers": sum(r["right"] for r in clear), "right_lines": len(right),
            "wrong_read_as_answers": sum(not r["right"] for r in clear),
            "wrong_lines": len(rows) - len(right)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, action="append", required=True, help="a make_benchmark --speech folder")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument("--rows", action="store_true", help="include every asking in the summary")
    args = parser.parse_args(argv)
    rows = askings(args.bench)
    summary = {"askings": len(rows), "rule": rule_figures(rows, CLEAR_MATCH, CLEAR_MARGIN),
               "others": [rule_figures(rows, m, g) for m in (0.3, 0.35, 0.4, 0.5) for g in (0.0, 0.05, 0.1, 0.15)]}
    if args.rows:
        summary["rows"] = rows
    if not args.json:
        for r in sorted(rows, key=lambda r: -r["score"]):
            print(f"{r['score']:.3f} {r['margin']:+.3f} {'RIGHT' if r['right'] else 'wrong'} "
                  f"{r['question'][:45]:<45} {r['line'][:50]}")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
