"""Each benchmark's official scoring rule, as data: how an answer is read, what an unreadable answer counts
as, which breakdowns its script reports, under which names, in which unit.

Each task's record (`tasks.TASKS`) names its rule; `metrics.summarise` applies it; `metrics.json` states it (`rule`), so a reader of the figures
knows which convention they follow. Sources: Video-MME's `eval_your_results.py` (breakdowns and Overall over
the questions whose answer could be read, percent); LVBench's `compute_accuracy.py` + `test_acc.py` (every
answered question counts, unreadable = wrong; fractions under KIR, EU, Sum, ER, Rea, TG, Overall);
TempCompass's `eval_*.py` with `--disable_llm` (unmatched = 0; percent with one decimal per dimension and
`avg`); EgoSchema's answer server and LongVideoBench (accuracy over all questions). No scoring code here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Breakdown:
    """One breakdown the official script reports: its name, the row category it groups by, and the official
    short names of the groups where the script renames them."""

    name: str
    category: str
    renames: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScoringRule:
    task: str
    reads: str  # how an answer is read from a reply, in words
    unreadable: str  # "wrong": counted, as wrong; "excluded": left out of the official figures
    unit: str  # "percent" or "fraction"
    digits: int | None  # rounding of the official figures (None: none)
    overall: str  # the official name of the overall figure
    breakdowns: tuple[Breakdown, ...] = ()
    source: str = ""

    def describe(self) -> str:
        counted = ("unreadable answers count as wrong" if self.unreadable == "wrong"
                   else "only questions whose answer could be read are counted")
        unit = "percent" if self.unit == "percent" else "fractions"
        return (f"{self.source}: answers read by {self.reads}; in the official figures {counted}; "
                f"{unit}{'' if self.digits is None else f' rounded to {self.digits} decimals'}. "
                "`accuracy` is always the fraction of all scored questions answered correctly, failures included.")


LVBENCH_NAMES = {"key information retrieval": "KIR", "event understanding": "EU", "summarization": "Sum",
                 "entity recognition": "ER", "reasoning": "Rea", "temporal grounding": "TG"}

SYNTHETIC = ScoringRule("synthetic", "Video-MME's letter rule", "wrong", "fraction", None, "overall",
    (Breakdown("task_type", "task_type"),), "agentime's synthetic benchmark")
VIDEOMME = ScoringRule("videomme", "Video-MME's letter rule (answer prefixes removed, first of A-D)", "excluded",
    "percent", 1, "Overall",
    (Breakdown("Video Types", "duration"), Breakdown("Video Categories", "domain"),
     Breakdown("Video Sub Categories", "sub_category"), Breakdown("Task Categories", "task_type")),
    "Video-MME eval_your_results.py")
LVBENCH = ScoringRule("lvbench", "LVBench's polish_answer rule (the letter inside '(X)' or the first character)",
    "wrong", "fraction", None, "Overall",
    (Breakdown("question_type", "question_type", LVBENCH_NAMES),),
    "LVBench compute_accuracy.py and test_acc.py (leaderboard result.json)")
LONGVIDEOBENCH = ScoringRule("longvideobench", "Video-MME's letter rule over A-E", "wrong", "fraction", None, "overall",
    (Breakdown("duration_group", "duration_group"), Breakdown("question_category", "question_category")),
    "LongVideoBench (no official script; lmms-eval's convention)")
EGOSCHEMA = ScoringRule("egoschema", "Video-MME's letter rule over A-E, submitted as the option index", "wrong",
    "fraction", None, "overall", (), "EgoSchema answer server (Kaggle egoschema-public)")
CHARADES_STA = ScoringRule("charades_sta", "the answer's first span, else the first two times in the text", "wrong",
    "fraction", None, "miou", (), "Charades-STA R@1 at IoU 0.3/0.5/0.7 and mIoU")
TEMPCOMPASS = ScoringRule("tempcompass", "TempCompass's rule-based matching, LLM fallback disabled", "wrong", "percent", 1,
    "avg", (Breakdown("dim", "dim"),), "TempCompass eval_<task>.py --disable_llm")
